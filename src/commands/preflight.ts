import { ulid } from 'ulid'
import type { Sql } from '../db/database.js'
import { insertPreflightPlan, type TenantPlan } from '../db/preflight-plans.js'
import { streams, type DomainEvent, type PreflightResult, type RunScope } from '../events/index.js'
import type { RunbookCatalog } from '../runbooks/catalog.js'
import type { Runbook, RunbookParameters } from '../runbooks/runbook.js'
import { isInUniverse, universeTenantIds } from '../runbooks/tenant-universe.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, requireCapabilities, type Actor } from './actor.js'
import { ValidationError } from './errors.js'
import { requireRunbook, validateParameters } from './runbook-parameters.js'
import { capabilities } from '../auth/capabilities.js'
import { planTotals } from './plan/plan-totals.js'

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

export interface ComputedPreflight {
  result: PreflightResult
  /** Per tenant, in tenant order (SPEC §11's plan). */
  tenants: TenantPlan[]
  /** The tenants whose repair would fail, in tenant order. */
  wouldFailTenants: number[]
}

/**
 * The runbook's per-tenant preflight over the targets, and its sums; `estimatedTenants` is the universe
 * size for all-tenants runs.
 */
export async function computePreflight(
  sql: Sql,
  runbook: Runbook,
  parameters: RunbookParameters,
  scope: RunScope,
  tenantIds: number[],
): Promise<ComputedPreflight> {
  const tenants: TenantPlan[] = new Array(tenantIds.length)
  let next = 0
  // A few tenants at a time: the pool's connections scan in parallel (the embedded database queues them).
  await Promise.all(
    Array.from({ length: Math.min(PREFLIGHT_CONCURRENCY, tenantIds.length) }, async () => {
      while (next < tenantIds.length) {
        const index = next++
        const tenantId = tenantIds[index]!
        const { affected, total, wouldFail } = await runbook.preflightTenant(sql, tenantId, parameters)
        tenants[index] = { tenantId, affected, total, wouldFail: wouldFail ?? null }
      }
    }),
  )
  tenants.sort((a, b) => a.tenantId - b.tenantId)
  return { result: planTotals(tenants, scope), tenants, wouldFailTenants: tenants.filter((t) => t.wouldFail).map((t) => t.tenantId) }
}

export type PreflightAnswer = PreflightResult & { preflightId: string; wouldFailTenants: number[] }

/** Preview a runbook; recorded as an event so the audit log shows who looked at what. */
export async function preflightRunbook(
  deps: { sql: Sql; log: EventLog; catalog: RunbookCatalog },
  actor: Actor,
  input: { runbookKey: string; parameters?: unknown } & RunTarget,
): Promise<PreflightAnswer> {
  const runbook = requireRunbook(deps.catalog, input.runbookKey)
  requireCapabilities(actor, [capabilities.runbooksView, runbook.requiredCapability])
  const parameters = validateParameters(runbook, input.parameters)
  const tenantIds = await resolveTargetTenants(deps.sql, input)
  const { result, tenants, wouldFailTenants } = await computePreflight(deps.sql, runbook, parameters, input.scope, tenantIds)
  const preflightId = ulid()
  const recordedAt = new Date().toISOString()
  const header = { preflightId, runbookKey: runbook.key, scope: input.scope, targetTenantId: input.tenantId, parameters, recordedAt }
  const recorded: DomainEvent = { type: 'PreflightRecorded', data: { ...header, result, wouldFailTenants } }
  const streamId = streams.preflight(preflightId)
  const context = { correlationId: preflightId, causationId: null, initiator: initiatorOf(actor) }
  // The plan and its event together where the events live in this database; elsewhere the plan first (a
  // plan without its event is an unreferenced row that expires; an event without its plan would be a lie).
  if (deps.log.appendsInTransactions) {
    await deps.sql.begin(async (tx) => {
      await insertPreflightPlan(tx, header, tenants)
      await deps.log.appendInTransaction(tx, streamId, [recorded], 'no_stream', context)
    })
    ;(deps.log.store as { notifyAppended?: () => void }).notifyAppended?.()
  } else {
    await deps.sql.begin((tx) => insertPreflightPlan(tx, header, tenants))
    await deps.log.append(streamId, [recorded], 'no_stream', context)
  }
  return { ...result, preflightId, wouldFailTenants }
}
