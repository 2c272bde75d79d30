import { ulid } from 'ulid'
import type { Sql } from '../db/database.js'
import { streams, type PreflightResult, type RunScope } from '../events/index.js'
import type { RunbookCatalog } from '../runbooks/catalog.js'
import type { Runbook, RunbookParameters } from '../runbooks/runbook.js'
import { isInUniverse, universeTenantIds } from '../runbooks/tenant-universe.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, requireCapabilities, type Actor } from './actor.js'
import { ValidationError } from './errors.js'
import { requireRunbook, validateParameters } from './runbook-parameters.js'
import { capabilities } from '../auth/capabilities.js'

const PREFLIGHT_CONCURRENCY = 4

export interface RunTarget {
  scope: RunScope
  tenantId: number | null
}

/** The tenants a target means right now; a single tenant outside the universe is a validation failure. */
export async function resolveTargetTenants(sql: Sql, target: RunTarget): Promise<number[]> {
  if (target.scope === 'all_tenants') {
    if (target.tenantId !== null) throw new ValidationError([{ field: 'tenantId', message: 'must be omitted for an all-tenants run' }])
    return universeTenantIds(sql)
  }
  if (target.tenantId === null) throw new ValidationError([{ field: 'tenantId', message: 'is required for a single-tenant run' }])
  if (!(await isInUniverse(sql, target.tenantId))) {
    throw new ValidationError([
      { field: 'tenantId', message: `tenant ${target.tenantId} is not in the allowed universe (unknown, platform or archived)` },
    ])
  }
  return [target.tenantId]
}

/** Sums the runbook's per-tenant preflight; `estimatedTenants` is the universe size for all-tenants runs. */
export async function computePreflight(
  sql: Sql,
  runbook: Runbook,
  parameters: RunbookParameters,
  scope: RunScope,
  tenantIds: number[],
): Promise<PreflightResult> {
  let affectedCount = 0
  let totalCount = 0
  let next = 0
  // A few tenants at a time: the pool's connections scan in parallel (the embedded database queues them).
  await Promise.all(
    Array.from({ length: Math.min(PREFLIGHT_CONCURRENCY, tenantIds.length) }, async () => {
      while (next < tenantIds.length) {
        const { affected, total } = await runbook.preflightTenant(sql, tenantIds[next++]!, parameters)
        affectedCount += affected
        totalCount += total
      }
    }),
  )
  return { affectedCount, totalCount, estimatedTenants: scope === 'all_tenants' ? tenantIds.length : 1 }
}

/** Preview a runbook; recorded as an event so the audit log shows who looked at what. */
export async function preflightRunbook(
  deps: { sql: Sql; log: EventLog; catalog: RunbookCatalog },
  actor: Actor,
  input: { runbookKey: string; parameters?: unknown } & RunTarget,
): Promise<PreflightResult> {
  const runbook = requireRunbook(deps.catalog, input.runbookKey)
  requireCapabilities(actor, [capabilities.runbooksView, runbook.requiredCapability])
  const parameters = validateParameters(runbook, input.parameters)
  const tenantIds = await resolveTargetTenants(deps.sql, input)
  const result = await computePreflight(deps.sql, runbook, parameters, input.scope, tenantIds)
  const preflightId = ulid()
  await deps.log.append(
    streams.preflight(preflightId),
    [
      {
        type: 'PreflightRecorded',
        data: {
          preflightId,
          runbookKey: runbook.key,
          scope: input.scope,
          targetTenantId: input.tenantId,
          parameters,
          result,
          recordedAt: new Date().toISOString(),
        },
      },
    ],
    'no_stream',
    { correlationId: preflightId, causationId: null, initiator: initiatorOf(actor) },
  )
  return result
}
