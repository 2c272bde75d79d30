import { ulid } from 'ulid'
import type { Sql } from '../db/database.js'
import { streams, type PreflightResult, type RunScope } from '../events/index.js'
import { findRunbook } from '../runbooks/catalog.js'
import type { Runbook } from '../runbooks/runbook.js'
import { isInUniverse, universeTenantIds } from '../runbooks/tenant-universe.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, requireCapabilities, type Actor } from './actor.js'
import { NotFoundError, ValidationError } from './errors.js'
import { capabilities } from '../auth/capabilities.js'

const PREFLIGHT_CONCURRENCY = 4

export interface RunTarget {
  scope: RunScope
  tenantId: number | null
}

export function requireRunbook(key: string): Runbook {
  const runbook = findRunbook(key)
  if (!runbook) throw new NotFoundError('runbook', key)
  return runbook
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
        const { affected, total } = await runbook.preflightTenant(sql, tenantIds[next++]!)
        affectedCount += affected
        totalCount += total
      }
    }),
  )
  return { affectedCount, totalCount, estimatedTenants: scope === 'all_tenants' ? tenantIds.length : 1 }
}

/** Preview a runbook; recorded as an event so the audit log shows who looked at what. */
export async function preflightRunbook(
  deps: { sql: Sql; log: EventLog },
  actor: Actor,
  input: { runbookKey: string } & RunTarget,
): Promise<PreflightResult> {
  const runbook = requireRunbook(input.runbookKey)
  requireCapabilities(actor, [capabilities.runbooksView, runbook.requiredCapability])
  const tenantIds = await resolveTargetTenants(deps.sql, input)
  const result = await computePreflight(deps.sql, runbook, input.scope, tenantIds)
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
