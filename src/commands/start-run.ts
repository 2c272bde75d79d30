import { randomUUID } from 'node:crypto'
import { ulid } from 'ulid'
import type { Sql } from '../db/database.js'
import { InvalidEventError, streams, type DomainEvent, type PreflightResult, type RunLimits, type RunOutcome, type RunReason, type RunScope, type RunSource } from '../events/index.js'
import type { RunbookCatalog } from '../runbooks/catalog.js'
import type { RunbookParameters } from '../runbooks/runbook.js'
import { isInUniverse, platformWorkspaceId, tenantWorkspaceId } from '../runbooks/tenant-universe.js'
import type { EventLog } from '../store/event-log.js'
import { WrongExpectedRevisionError } from '../store/event-store.js'
import { initiatorOf, type Actor } from './actor.js'
import { ActiveRunExistsError, NotFoundError, PlanDriftedError, ValidationError } from './errors.js'
import { checkCanaryRequest, resolveCanary, type CanaryRequest } from './plan/canary.js'
import { comparePlans, DEFAULT_MAX_DRIFT_PERCENT, planDrifted, type PlannedTenant } from './plan/plan-drift.js'
import { findPreflightPlan, planTenantsOf, type TenantPlan } from '../db/preflight-plans.js'
import { beforeImageCounts } from '../db/before-images.js'
import { approvalSettings, needsApproval } from './approvals.js'
import { requireNotHalted } from './halt.js'
import { computePreflight, resolveTargetTenants } from './preflight.js'
import { planTotals } from './plan/plan-totals.js'
import { requireRunbook, validateParameters } from './runbook-parameters.js'
import { loadRun } from './run-execution.js'
import { canonicalJson, claimIsActive, decideRunIdentity, evolveRunIdentity, runIdentityHash, type RunIdentityState } from './run-identity/run-identity.js'
import { decideRun, type RunCommand } from './run/run-decider.js'
import { resolveLimits } from './run/run-limits.js'
import { evolveRun, failedTenantIds, initialRunState } from './run/run-state.js'
import { checkStartRunPolicy } from './run/start-run-policy.js'

export interface StartRunInput {
  runbookKey: string
  scope: RunScope
  tenantId: number | null
  confirmation: string
  reason: { code: string; text: string } | null
  source: RunSource
  limits?: { maxConcurrency?: number | undefined; maxFailures?: number | null | undefined } | null | undefined
  /** The runbook's parameters as sent; validated against its schema (SPEC §13). Absent: the defaults. */
  parameters?: unknown
  /** SPEC §11: the preview this start is pinned to, and how far the data may have moved since (default 10 %). */
  preflightId?: string | null | undefined
  maxDriftPercent?: number | null | undefined
  /** SPEC §11: tenants repaired first and alone, by id or by count, and whether the rest follow by themselves. */
  canary?: CanaryRequest | null | undefined
}

export interface RetryRunInput {
  confirmation: string
  reason: { code: string; text: string } | null
  source: RunSource
  limits?: StartRunInput['limits']
}

export interface RunCommandDeps {
  sql: Sql
  log: EventLog
  catalog: RunbookCatalog
  /** A run's `maxConcurrency` when its start names none: the deployment's worker capacity (SPEC §9). */
  defaultMaxConcurrency?: number
  /** Starts targeting more tenants than this are planned in the background (default PLAN_IN_BACKGROUND_ABOVE). */
  planInBackgroundAbove?: number
}

/**
 * A start over more tenants than this answers before its plan: the runbook's scan of every target (seconds
 * over a million findings) runs in the background (src/workers/planner.ts) and its counts arrive in
 * RunPlanned before any tenant is dispatched. Smaller starts answer with the plan in the run's request, as
 * a start pinned to a preview (the drift check needs the scan before answering), a canary chosen by count
 * (the smallest tenants need their counts) and a revert (planned from before-images) always do.
 */
export const PLAN_IN_BACKGROUND_ABOVE = 100

/** WORKER_CONCURRENCY's default, for callers that do not pass the deployment's capacity. */
const FALLBACK_MAX_CONCURRENCY = 4

export interface StartedRun {
  runId: string
  status: 'awaiting_approval' | 'queued' | 'completed'
}

async function loadIdentity(log: EventLog, identityStream: string) {
  const { events, revision } = await log.read(identityStream)
  const state = events.reduce(evolveRunIdentity, { lastClaim: null } as RunIdentityState)
  const claimedRunStatus = state.lastClaim ? (await loadRun(log, state.lastClaim.runId)).status : ('none' as const)
  return { state, revision, claimedRunStatus }
}

function trimmedReason(reason: { code: string; text: string } | null) {
  // The reason is stored as checked: trimmed once, here, so the policy and the event see the same text.
  return reason ? { code: reason.code, text: reason.text.trim() } : null
}

/**
 * Start a run: check the policy, resolve the target, then claim the run identity and request the run in
 * one append to both streams (at most one active run per identity, whatever the concurrency). Throws
 * ActiveRunExistsError with the active run's id instead of starting a second one.
 */
export async function startRun(deps: RunCommandDeps, actor: Actor, input: StartRunInput): Promise<StartedRun> {
  const runbook = requireRunbook(deps.catalog, input.runbookKey)
  const reason = trimmedReason(input.reason)
  checkStartRunPolicy({
    runbookKey: runbook.key,
    runbookCapability: runbook.requiredCapability,
    scope: input.scope,
    tenantId: input.tenantId,
    confirmation: input.confirmation,
    reason,
    operatorCapabilities: actor.capabilities,
    operatorIsBreakGlass: actor.isBreakGlass,
  })
  const parameters = validateParameters(runbook, input.parameters)
  checkCanaryRequest(input.canary)
  const limits = resolveLimits(input.limits, deps.defaultMaxConcurrency ?? FALLBACK_MAX_CONCURRENCY)
  await requireNotHalted(deps.log, 'start a run')
  const pin = await pinnedPlan(deps.sql, { ...input, runbookKey: runbook.key, parameters })
  const tenantIds = await resolveTargetTenants(deps.sql, input)
  return requestRun(deps, actor, {
    ...input,
    runbookKey: runbook.key,
    parameters,
    reason,
    tenantIds,
    limits,
    retryOf: null,
    pin,
    canary: input.canary ?? null,
    revert: null,
  })
}

/**
 * SPEC §9 "Retry the failed tenants": a new run of the same runbook and scope over exactly the run's
 * failed tenants still in the universe, linked both ways (`retryOf` on the new run, RunRetried on the old).
 */
export async function retryRun(deps: RunCommandDeps, actor: Actor, retriedRunId: string, input: RetryRunInput): Promise<StartedRun> {
  const original = await loadRun(deps.log, retriedRunId)
  if (original.status === 'none') throw new NotFoundError('run', retriedRunId)
  // The run's state first (409 unless completed; 422 without failed tenants), then the start's own rules.
  decideRun({ type: 'RecordRetry', retryRunId: 'check', tenantIds: failedTenantIds(original), reason: null, at: new Date().toISOString() }, original)
  const runbook = requireRunbook(deps.catalog, original.request.runbookKey)
  const reason = trimmedReason(input.reason)
  const { scope, targetTenantId } = original.request
  checkStartRunPolicy({
    runbookKey: runbook.key,
    runbookCapability: runbook.requiredCapability,
    scope,
    tenantId: targetTenantId,
    confirmation: input.confirmation,
    reason,
    operatorCapabilities: actor.capabilities,
    operatorIsBreakGlass: actor.isBreakGlass,
  })
  // A limit the retry does not name is the retried run's (a retry asking only a lower concurrency keeps its failure limit).
  const limits = resolveLimits({ ...original.limits, ...definedLimits(input.limits) }, deps.defaultMaxConcurrency ?? FALLBACK_MAX_CONCURRENCY)
  await requireNotHalted(deps.log, 'start a run')
  const failed = failedTenantIds(original)
  const stillAllowed: number[] = []
  for (const tenantId of failed) if (await isInUniverse(deps.sql, tenantId)) stillAllowed.push(tenantId)
  // Checked here with the tenants it will target; the decider re-checks the run's state on append.
  decideRun({ type: 'RecordRetry', retryRunId: 'check', tenantIds: stillAllowed, reason: null, at: new Date().toISOString() }, original)
  // A retry of a revert run puts back, as it did, the before-images of the run it reverts.
  const revertOf = original.request.revertOf
  return requestRun(deps, actor, {
    runbookKey: runbook.key,
    // The retry repairs as the original did: with its parameters, checked again against today's schema.
    parameters: revertOf ? original.request.parameters : validateParameters(runbook, original.request.parameters),
    scope,
    tenantId: targetTenantId,
    reason,
    source: input.source,
    tenantIds: stillAllowed,
    limits,
    retryOf: retriedRunId,
    pin: null,
    canary: null,
    revert: revertOf ? { of: revertOf, preflight: (await revertPlan(deps.sql, revertOf, stillAllowed)).preflight, link: null } : null,
  })
}

/**
 * A revert's plan over these tenants (in their order): those with before-images of the reverted run, and
 * its preview counting the before-images it would put back.
 */
export async function revertPlan(sql: Sql, revertedRunId: string, within: readonly number[]): Promise<{ tenantIds: number[]; preflight: PreflightResult }> {
  const images = new Map((await beforeImageCounts(sql, revertedRunId)).map((t) => [t.tenantId, t.images]))
  const tenantIds = within.filter((tenantId) => images.has(tenantId))
  const count = tenantIds.reduce((sum, tenantId) => sum + images.get(tenantId)!, 0)
  return { tenantIds, preflight: { affectedCount: count, totalCount: count, estimatedTenants: tenantIds.length } }
}

interface PinnedPlan {
  preflightId: string
  maxDriftPercent: number
  result: PreflightResult
  tenants: PlannedTenant[]
}

/**
 * SPEC §11: the preview a start names, checked to be one of this runbook, scope, target and parameters
 * and still kept (422 naming `preflightId` otherwise); null when the start names none.
 */
async function pinnedPlan(
  sql: Sql,
  input: Pick<StartRunInput, 'preflightId' | 'maxDriftPercent' | 'scope' | 'tenantId'> & { runbookKey: string; parameters: RunbookParameters },
): Promise<PinnedPlan | null> {
  const maxDriftPercent = input.maxDriftPercent ?? DEFAULT_MAX_DRIFT_PERCENT
  if (!Number.isFinite(maxDriftPercent) || maxDriftPercent < 0 || maxDriftPercent > 100) {
    throw new ValidationError([{ field: 'maxDriftPercent', message: 'must be a number from 0 to 100' }])
  }
  if (input.preflightId === undefined || input.preflightId === null) {
    if (input.maxDriftPercent !== undefined && input.maxDriftPercent !== null) {
      throw new ValidationError([{ field: 'maxDriftPercent', message: 'applies only to a start pinned to a preview (preflightId)' }])
    }
    return null
  }
  const refuse = (message: string) => new ValidationError([{ field: 'preflightId', message }])
  const preflightId = input.preflightId
  // The header and its rows in one snapshot: a plan purged in between must not read as an empty plan.
  const found = PREVIEW_ID.test(preflightId)
    ? await sql.begin('isolation level repeatable read', async (tx) => {
        const plan = await findPreflightPlan(tx, preflightId)
        return plan ? { plan, rows: await planTenantsOf(tx, preflightId) } : null
      })
    : null
  if (!found) throw refuse('names no preview kept now (unknown, or older than 24 hours): preview again')
  const { plan } = found
  // Not naming the other runbook: the operator may not be allowed to see it.
  if (plan.runbookKey !== input.runbookKey) throw refuse(`is not a preview of ${input.runbookKey}`)
  if (plan.scope !== input.scope || plan.targetTenantId !== input.tenantId) throw refuse('is a preview of another scope or tenant')
  if (canonicalJson(plan.parameters) !== canonicalJson(input.parameters)) throw refuse('is a preview with other parameters')
  const tenants = found.rows.map(plannedTenant)
  return { preflightId: plan.preflightId, maxDriftPercent, result: planTotals(tenants, input.scope), tenants }
}

const PREVIEW_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/

function plannedTenant(t: TenantPlan): PlannedTenant {
  return { tenantId: t.tenantId, affected: t.affected, total: t.total, wouldFail: t.wouldFail?.reasonCode ?? null }
}

export interface RunToRequest {
  runbookKey: string
  parameters: RunbookParameters
  scope: RunScope
  tenantId: number | null
  reason: { code: string; text: string } | null
  source: RunSource
  tenantIds: number[]
  limits: RunLimits
  retryOf: string | null
  pin: PinnedPlan | null
  canary: CanaryRequest | null
  /**
   * A revert run (SPEC §11): the run it reverts, and its plan counted from that run's before-images
   * (the runbook's own scan does not apply: a revert puts back, it does not repair).
   */
  revert: {
    of: string
    preflight: PreflightResult
    /** RunReverted on the reverted run (none for a retry of a revert run's failed tenants). */
    link: { keptDays: number; previousRevert: { outcome: RunOutcome } | null } | null
  } | null
}

export async function requestRun(deps: RunCommandDeps, actor: Actor, input: RunToRequest): Promise<StartedRun> {
  const runbook = requireRunbook(deps.catalog, input.runbookKey)
  const workspaceId =
    input.scope === 'all_tenants' ? await platformWorkspaceId(deps.sql) : await tenantWorkspaceId(deps.sql, input.tenantId!)
  if (workspaceId === null) {
    throw new ValidationError([{ field: 'scope', message: 'the platform has no platform tenant, so no platform workspace to run in' }])
  }
  const identity = runIdentityHash({
    workspaceId,
    runbookKey: runbook.key,
    scope: input.scope,
    targetTenantId: input.tenantId,
    parameters: input.parameters,
  })
  const identityStream = streams.runIdentity(identity)

  // Cheap early answer for the common duplicate click, before the preflight scan.
  const early = await loadIdentity(deps.log, identityStream)
  if (early.state.lastClaim && claimIsActive(early.state.lastClaim, early.claimedRunStatus, new Date())) {
    throw new ActiveRunExistsError(early.state.lastClaim.runId)
  }

  const planLater =
    input.revert === null &&
    input.pin === null &&
    (input.canary?.count ?? null) === null &&
    input.tenantIds.length > (deps.planInBackgroundAbove ?? PLAN_IN_BACKGROUND_ABOVE)
  const scanned = input.revert
    ? { result: input.revert.preflight, tenants: [] }
    : planLater
      ? { result: null, tenants: [] }
      : await computePreflight(deps.sql, runbook, input.parameters, input.scope, input.tenantIds)
  const preflight = scanned.result
  const findings = new Map(scanned.tenants.map((t) => [t.tenantId, t.total]))
  const canary = resolveCanary(input.canary, input.tenantIds, (tenantId) => findings.get(tenantId) ?? 0)
  if (input.pin && preflight) {
    const current = scanned.tenants.map(plannedTenant)
    if (planDrifted(input.pin.tenants, current, input.pin.maxDriftPercent)) {
      throw new PlanDriftedError(comparePlans(input.pin, { result: preflight, tenants: current }))
    }
  }
  const approvalRequired = needsApproval((await approvalSettings(deps.log)).required, input.scope)
  if (input.retryOf && preflight) preflight.estimatedTenants = input.tenantIds.length
  const runId = ulid()
  const initiator = initiatorOf(actor)
  const context = { correlationId: runId, causationId: null, initiator }
  const requestedAt = new Date().toISOString()
  const requestedData = {
    runId,
    runbookKey: runbook.key,
    scope: input.scope,
    workspaceId,
    targetTenantId: input.tenantId,
    tenantIds: input.tenantIds,
    source: input.source,
    preflight,
    reason: input.reason ? { reasonCode: input.reason.code as RunReason['reasonCode'], reasonText: input.reason.text } : null,
    initiator: { platformUserId: actor.operatorId, email: actor.email, name: actor.name, isBreakGlass: actor.isBreakGlass },
    runIdentityHash: identity,
    requestedAt,
    limits: input.limits,
    retryOf: input.retryOf,
    approvalRequired,
    parameters: input.parameters,
    pinnedPreflightId: input.pin?.preflightId ?? null,
    canary,
    revertOf: input.revert?.of ?? null,
  }
  const runEvents = decideRun({ type: 'RequestRun', data: requestedData }, initialRunState())

  // The claim and the run's first events go in one append to two streams (three for a retry or a revert): with the
  // PostgreSQL store all or none are written, so a claim never names a run that does not exist. A
  // concurrent start that claimed first makes the claim's expected revision fail: decide again on a fresh read.
  for (let attempt = 1; ; attempt++) {
    const { state, revision, claimedRunStatus } = attempt === 1 ? early : await loadIdentity(deps.log, identityStream)
    const claim = decideRunIdentity(
      { type: 'ClaimRunIdentity', runIdentityHash: identity, runId, at: new Date().toISOString(), claimedRunStatus },
      state,
    )
    const at = new Date().toISOString()
    const linked = input.retryOf
      ? await linkedRunAppend(deps.log, input.retryOf, { type: 'RecordRetry', retryRunId: runId, tenantIds: input.tenantIds, reason: requestedData.reason, at }, context)
      : input.revert?.link
        ? await linkedRunAppend(deps.log, input.revert.of, { type: 'RecordRevert', revertRunId: runId, ...input.revert.link, reason: requestedData.reason, at }, context)
        : []
    try {
      const claimEventId = randomUUID()
      await deps.log.appendMany([
        { streamId: identityStream, events: claim, expectedRevision: revision ?? 'no_stream', context: { ...context, eventIds: [claimEventId] } },
        ...linked,
        { streamId: streams.run(runId), events: runEvents, expectedRevision: 'no_stream', context: { ...context, causationId: claimEventId } },
      ])
      break
    } catch (error) {
      // Events are validated before anything is written: a value the schema refuses changed nothing.
      if (error instanceof InvalidEventError) throw new ValidationError([{ field: '(request)', message: error.issues }])
      if (!(error instanceof WrongExpectedRevisionError) || attempt >= 20) throw error
    }
  }
  const completed = runEvents.some((event: DomainEvent) => event.type === 'RunCompleted')
  return { runId, status: completed ? 'completed' : approvalRequired ? 'awaiting_approval' : 'queued' }
}

/**
 * The event that links a new run to the run it retries or reverts (RunRetried, RunReverted), decided on
 * that run's current state and appended at its current revision together with the new run.
 */
async function linkedRunAppend(
  log: EventLog,
  linkedRunId: string,
  command: RunCommand,
  context: { correlationId: string; causationId: string | null; initiator: ReturnType<typeof initiatorOf> },
) {
  const { events, revision } = await log.read(streams.run(linkedRunId))
  const state = events.reduce(evolveRun, initialRunState())
  const linked = decideRun(command, state)
  return [{ streamId: streams.run(linkedRunId), events: linked, expectedRevision: revision ?? ('no_stream' as const), context: { ...context, correlationId: linkedRunId } }]
}

/** The limits a request names; an absent field (undefined) names none, `maxFailures: null` names "no limit". */
function definedLimits(limits: { maxConcurrency?: number | undefined; maxFailures?: number | null | undefined } | null | undefined) {
  return {
    ...(limits?.maxConcurrency !== undefined ? { maxConcurrency: limits.maxConcurrency } : {}),
    ...(limits?.maxFailures !== undefined ? { maxFailures: limits.maxFailures } : {}),
  }
}
