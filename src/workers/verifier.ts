import type { Logger } from 'pino'
import { handleCommand } from '../commands/handle-command.js'
import { computePreflight } from '../commands/preflight.js'
import { loadRun } from '../commands/run-execution.js'
import { completedRecentlyEnoughToVerify, needsVerification, succeededTenantIds } from '../commands/run/run-decider.js'
import { runDecider } from '../commands/run/run-decider-definition.js'
import { runVerifyLockName, whileHolding } from '../db/advisory-locks.js'
import type { Sql } from '../db/database.js'
import { streams } from '../events/index.js'
import type { RunbookCatalog } from '../runbooks/catalog.js'
import type { EventLog, LoggedEvent } from '../store/event-log.js'
import { EventSubscription } from './event-subscription.js'
import { runLogger } from './work-log.js'

export interface VerifierDeps {
  sql: Sql
  log: EventLog
  catalog: Pick<RunbookCatalog, 'find'>
  logger: Logger
  /**
   * Whether verifiers take the run's verify lock: on PostgreSQL every worker process follows the events and
   * verifies, and the lock makes the others wait for the first and find the run verified instead of scanning
   * every tenant again. The embedded database has one process and one connection, which the lock's
   * transaction would hold from the scan.
   */
  verifyLock?: boolean
}

/**
 * SPEC §11 verification: when a run completes `succeeded` or `partially_succeeded`, its succeeded tenants
 * are scanned again with the runbook's own preflight and the result recorded as RunVerified (once per
 * run: the decider ignores a second one, so a replayed RunCompleted changes nothing).
 */
export async function verifyRun(
  deps: VerifierDeps,
  runId: string,
  /** The run's RunCompleted, which the verification answers. */
  causationId: string | null = null,
  now: Date = new Date(),
): Promise<boolean> {
  return whileHolding(deps.sql, runVerifyLockName(runId), deps.verifyLock ?? false, () => verifyUnlocked(deps, runId, causationId, now))
}

async function verifyUnlocked(deps: VerifierDeps, runId: string, causationId: string | null, now: Date): Promise<boolean> {
  const run = await loadRun(deps.log, runId)
  if (!needsVerification(run) || run.status !== 'completed') return false
  const runbook = deps.catalog.find(run.request.runbookKey)
  const parameters = runbook?.parameters.safeParse(run.request.parameters)
  if (!runbook || !parameters?.success) {
    runLogger(deps.logger, runId, run.request.targetTenantId).warn({ runbook: run.request.runbookKey }, 'run not verified: its runbook or parameters are not known to this process')
    return false
  }
  const { tenants } = await computePreflight(deps.sql, runbook, parameters.data, run.request.scope, succeededTenantIds(run))
  const remaining = tenants.map((t) => ({ tenantId: t.tenantId, remaining: t.affected }))
  const context = { correlationId: runId, causationId, initiator: { kind: 'system' as const, component: 'verifier' as const } }
  const handled = await handleCommand(deps.log, streams.run(runId), runDecider, { type: 'RecordVerification', remaining, at: now.toISOString() }, context)
  return handled.events.length > 0
}

export function createVerifier(deps: VerifierDeps, options: { pollIntervalMs?: number } = {}): EventSubscription {
  return new EventSubscription({
    store: deps.log.store,
    sql: deps.sql,
    name: 'verifier',
    handle: async (events: readonly LoggedEvent[]) => {
      for (const { event, metadata } of events) {
        if (event.type !== 'RunCompleted') continue
        if (!completedRecentlyEnoughToVerify(event.data.completedAt, new Date())) continue
        await verifyRun(deps, event.data.runId, metadata.eventId)
      }
    },
    logger: deps.logger,
    // Appends come in bursts (every tenant result) and a verification is read by people: one read per
    // 100 ms of a burst, not one per append.
    coalesceMs: 100,
    ...options,
  })
}
