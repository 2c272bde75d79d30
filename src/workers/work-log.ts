import type { Logger } from 'pino'

/**
 * Every log line of the work path carries `runId` and `tenantId`, so one query finds everything about a
 * run or a tenant. A line about a whole run has the run's own tenant (SPEC §3 `tenant_id`: the target of a
 * single-tenant run, null for an all-tenants run); a line about no one run (a reconciler pass, the purge)
 * has both null.
 */
export function runLogger(logger: Logger, runId: string, runTenantId: number | null): Logger {
  return logger.child({ runId, tenantId: runTenantId })
}

/** The work path's lines that concern no single run. */
export function passLogger(logger: Logger): Logger {
  return logger.child({ runId: null, tenantId: null })
}

/** At most this many tenant ids go on one line (a re-dispatch of a whole run names the first ones). */
export const LOGGED_TENANT_IDS = 50
