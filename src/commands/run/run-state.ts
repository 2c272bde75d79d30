import type { EventData, EventOf, FailureEntry, PauseReason, PreflightResult, RunLimits, RunOutcome, RunReason, TenantResult } from '../../events/index.js'
import type { LoggedEvent } from '../../store/event-log.js'
import { ResultLog } from './result-log.js'

/** The events a run's stream holds. Anything else there is a corrupt stream, refused when folded. */
export type RunEvent = EventOf<
  | 'RunRequested'
  | 'RunPlanned'
  | 'RunStarted'
  | 'TenantProcessed'
  | 'TenantJobsRedispatched'
  | 'RunPaused'
  | 'RunResumed'
  | 'RunCancelled'
  | 'RunLimitsChanged'
  | 'RunRetried'
  | 'RunReverted'
  | 'RunApproved'
  | 'RunRejected'
  | 'RunCompleted'
  | 'RunVerified'
>

const runEventTypes: ReadonlySet<string> = new Set<RunEvent['type']>([
  'RunRequested',
  'RunPlanned',
  'RunStarted',
  'TenantProcessed',
  'TenantJobsRedispatched',
  'RunPaused',
  'RunResumed',
  'RunCancelled',
  'RunLimitsChanged',
  'RunRetried',
  'RunReverted',
  'RunApproved',
  'RunRejected',
  'RunCompleted',
  'RunVerified',
])

export function isRunEvent(event: { type: string }): event is RunEvent {
  return runEventTypes.has(event.type)
}

export type RunRequest = EventData<'RunRequested'>

/** What every run that exists knows, whatever its status. */
export interface RunFacts {
  request: RunRequest
  /** The request's `tenantIds` as a set: whether a tenant is targeted is asked per tenant, so in O(1). */
  targets: ReadonlySet<number>
  /** Results recorded so far, by tenant id (persistent: recording one is O(1), see result-log.ts). */
  results: ResultLog
  /**
   * The canary's tenants and how many of them have no result yet and have failed, kept as results are
   * recorded: the gate and the decider ask per tenant whether the canary is done, so in O(1), whatever its size.
   * Null for a run without a canary.
   */
  canary: CanaryProgress | null
  /**
   * Index into `request.tenantIds` before which every tenant has a result: where the next pending tenants
   * are looked for, so that finding them costs the dispatch window, not the run's size, per result.
   */
  frontier: number
  /**
   * The run's plan: the request's preflight, or RunPlanned's for a run planned after its start answered;
   * null until then, and nothing of the run is dispatched while it is.
   */
  preflight: PreflightResult | null
  failedTenants: number
  limits: RunLimits
  /** Dispatch generation: 0 at start, moved on by every resume and re-dispatch (a new dedupe id per job). */
  generation: number
  /** Whether RunStarted was recorded (a run paused while queued was not). */
  started: boolean
  /** Set once a cancel is recorded: the run completes `cancelled` when its in-flight repairs are recorded. */
  cancellation: { reason: RunReason; at: string } | null
  /** Runs requested to retry this one's failed tenants, oldest first. */
  retries: string[]
  /** SPEC §11: the run requested to revert this one's changes (at most one). */
  revertedBy: string | null
  /** SPEC §10: set once a second operator approved the run (the approver is the event's initiator). */
  approvedAt: string | null
  /** Time of the last event: the reconciler's measure of progress. */
  lastEventAt: Date | null
}

export interface CanaryProgress {
  tenants: ReadonlySet<number>
  pending: number
  failed: number
}

export type RunState =
  | { status: 'none'; lastEventAt: Date | null }
  | ({ status: 'awaiting_approval'; outcome: 'pending' } & RunFacts)
  | ({ status: 'queued'; outcome: 'pending' } & RunFacts)
  | ({ status: 'running'; outcome: 'pending' } & RunFacts)
  | ({ status: 'paused'; outcome: 'pending'; pause: PauseReason & { at: string } } & RunFacts)
  | ({ status: 'completed'; outcome: Exclude<RunOutcome, 'pending'>; verification: RunVerification | null } & RunFacts)

/** SPEC §11: what a re-scan of a completed run's succeeded tenants found still to change. */
export type RunVerification = Omit<EventData<'RunVerified'>, 'runId'>

export type ExistingRunState = Exclude<RunState, { status: 'none' }>
export type ActiveRunState = Exclude<ExistingRunState, { status: 'completed' }>

export const initialRunState = (): RunState => ({ status: 'none', lastEventAt: null })

export class CorruptRunStreamError extends Error {
  constructor(event: string, status: string) {
    super(`a run stream holds ${event} where the run is ${status}: the stream is corrupt`)
    this.name = 'CorruptRunStreamError'
  }
}

function requireExisting(state: RunState, event: RunEvent): ExistingRunState {
  if (state.status === 'none') throw new CorruptRunStreamError(event.type, state.status)
  return state
}

/** The facts of a state without its status-specific fields, to build the next status from. */
function factsOf(state: ExistingRunState): RunFacts {
  const { request, targets, results, canary, frontier, preflight, failedTenants, limits, generation, started, cancellation, retries, revertedBy, approvedAt, lastEventAt } = state
  return { request, targets, results, canary, frontier, preflight, failedTenants, limits, generation, started, cancellation, retries, revertedBy, approvedAt, lastEventAt }
}

/**
 * Pure: folds one event into the state. Events were validated on read and their transitions checked by
 * the decider on write; an event no status can hold means a corrupt stream and is refused.
 */
export function evolveRun(state: RunState, logged: Pick<LoggedEvent, 'event'> & { recordedAt?: Date }): RunState {
  const event = logged.event
  if (!isRunEvent(event)) throw new CorruptRunStreamError(event.type, state.status)
  const lastEventAt = logged.recordedAt ?? state.lastEventAt
  if (event.type === 'RunRequested') {
    if (state.status !== 'none') throw new CorruptRunStreamError(event.type, state.status)
    return {
      status: event.data.approvalRequired ? 'awaiting_approval' : 'queued',
      outcome: 'pending',
      ...requestFacts(event.data),
      failedTenants: 0,
      limits: event.data.limits,
      generation: 0,
      started: false,
      cancellation: null,
      retries: [],
      revertedBy: null,
      approvedAt: null,
      lastEventAt,
    }
  }
  const current = requireExisting(state, event)
  const facts: RunFacts = { ...factsOf(current), lastEventAt }
  switch (event.type) {
    case 'RunPlanned':
      return { ...current, ...facts, preflight: event.data.preflight }
    case 'RunStarted':
      return current.status === 'paused'
        ? { ...current, ...facts, started: true }
        : { status: 'running', outcome: 'pending', ...facts, started: true }
    case 'TenantProcessed': {
      const results = current.results.with(event.data.tenantId, event.data.result)
      const failedTenants = facts.failedTenants + (event.data.result.status === 'failed' ? 1 : 0)
      const canary = canaryProgressWith(facts, event.data)
      return { ...current, ...facts, results, canary, frontier: advanceFrontier(facts.request.tenantIds, results, facts.frontier), failedTenants }
    }
    case 'TenantJobsRedispatched':
      return { ...current, ...facts, generation: event.data.generation }
    case 'RunPaused':
      return { status: 'paused', outcome: 'pending', ...facts, pause: { ...event.data.reason, at: event.data.pausedAt } }
    case 'RunResumed':
      // A run the halt paused while it awaited its approval awaits it again: it starts only once approved.
      if (awaitsApproval(facts)) return { status: 'awaiting_approval', outcome: 'pending', ...facts, generation: event.data.generation }
      return { status: 'running', outcome: 'pending', ...facts, generation: event.data.generation, started: true }
    case 'RunCancelled':
      return { ...current, ...facts, cancellation: { reason: event.data.reason, at: event.data.cancelledAt } }
    case 'RunLimitsChanged':
      return { ...current, ...facts, limits: event.data.limits }
    case 'RunRetried':
      return { ...current, ...facts, retries: [...facts.retries, event.data.retryRunId] }
    case 'RunReverted':
      return { ...current, ...facts, revertedBy: event.data.revertRunId }
    case 'RunApproved':
      // Approved while paused (by the halt): it stays paused, approved, until an operator resumes it.
      if (current.status === 'paused') return { ...current, ...facts, approvedAt: event.data.approvedAt }
      return { status: 'queued', outcome: 'pending', ...facts, approvedAt: event.data.approvedAt }
    case 'RunRejected':
      // The completion (`rejected`) follows in the same append.
      return { ...current, ...facts }
    case 'RunCompleted':
      return { status: 'completed', ...facts, outcome: event.data.outcome, verification: null }
    case 'RunVerified': {
      if (current.status !== 'completed') throw new CorruptRunStreamError(event.type, current.status)
      const { runId: _runId, ...verification } = event.data
      return { ...current, ...facts, verification }
    }
  }
}

/** SPEC §10: the run needs an approval it has not had yet (awaiting it, or paused by the halt while it did). */
export function awaitsApproval(facts: { request: Pick<RunRequest, 'approvalRequired'>; approvedAt: string | null }): boolean {
  return facts.request.approvalRequired && facts.approvedAt === null
}

/** The facts a request sets: its targets and its plan if it has one, no result yet. */
export function requestFacts(request: RunRequest): Pick<RunFacts, 'request' | 'targets' | 'results' | 'canary' | 'frontier' | 'preflight'> {
  const tenants = request.canary ? new Set(request.canary.tenantIds) : null
  const canary = tenants ? { tenants, pending: tenants.size, failed: 0 } : null
  return { request, targets: new Set(request.tenantIds), results: ResultLog.empty(), canary, frontier: 0, preflight: request.preflight }
}

/** The canary's progress once `added`'s result is recorded (replacing the tenant's earlier one, if any). */
function canaryProgressWith(facts: Pick<RunFacts, 'canary' | 'results'>, added: { tenantId: number; result: TenantResult }): CanaryProgress | null {
  const { canary } = facts
  if (!canary || !canary.tenants.has(added.tenantId)) return canary
  const earlier = facts.results.get(added.tenantId)
  return {
    tenants: canary.tenants,
    pending: canary.pending - (earlier ? 0 : 1),
    failed: canary.failed + (added.result.status === 'failed' ? 1 : 0) - (earlier?.status === 'failed' ? 1 : 0),
  }
}

/** Amortised O(1) per result: the frontier only moves forward, past tenants that have results. */
function advanceFrontier(tenantIds: readonly number[], results: ResultLog, frontier: number): number {
  let next = frontier
  while (next < tenantIds.length && results.has(tenantIds[next]!)) next++
  return next
}

/** Targeted tenants without a recorded result, in target order. */
export function pendingTenants(state: RunState): number[] {
  if (state.status === 'none') return []
  return state.request.tenantIds.filter((id) => !state.results.has(id))
}

/**
 * SPEC §11 canary: `running` until every canary tenant is processed, then `passed` when they all succeeded;
 * `failed` as soon as one failed. Null for a run without a canary. `added`: a result being decided, not
 * folded yet.
 */
export type CanaryState = 'running' | 'passed' | 'failed'

export function canaryStateOf(state: RunState, added?: { tenantId: number; result: TenantResult }): CanaryState | null {
  if (state.status === 'none') return null
  const canary = added ? canaryProgressWith(state, added) : state.canary
  if (!canary) return null
  if (canary.failed > 0) return 'failed'
  return canary.pending > 0 ? 'running' : 'passed'
}

/**
 * The tenants whose jobs the run wants in the queue now: its pending tenants, in target order, of its first
 * `maxConcurrency` jobs — the canary's first, and the others only once no canary tenant is pending (SPEC
 * §11: the canary is repaired first and alone).
 */
export function dispatchWindow(state: RunState): number[] {
  return dispatchJobs(state).flatMap((job) => job.tenantIds)
}

/**
 * The run's first `maxConcurrency` jobs with a tenant pending, each the pending tenants of one group of
 * `tenantsPerJob` consecutive targets (the group a tenant falls in is fixed by its place in the targets, so
 * every dispatcher, and one restarted, makes the same jobs); `key` names the group. A job whose tenants are
 * partly recorded (a job held up records early) stays in the window until its last tenant is: the window
 * moves by whole jobs.
 */
export function dispatchJobs(state: RunState): Array<{ key: string; tenantIds: number[] }> {
  if (state.status === 'none') return []
  const jobs: Array<{ key: string; tenantIds: number[] }> = []
  const canary = pendingCanary(state)
  if (canary) {
    // The canary's own tenants (in target order), one a job: no scan of the run's other targets.
    for (const tenantId of canary) {
      if (state.results.has(tenantId)) continue
      if (jobs.length === state.limits.maxConcurrency) break
      jobs.push({ key: String(tenantId), tenantIds: [tenantId] })
    }
    return jobs
  }
  const perJob = tenantsPerJob(state)
  const { tenantIds } = state.request
  let group = -1
  for (let index = state.frontier; index < tenantIds.length; index++) {
    const tenantId = tenantIds[index]!
    if (state.results.has(tenantId)) continue
    const tenantGroup = Math.floor(index / perJob)
    if (tenantGroup !== group) {
      if (jobs.length === state.limits.maxConcurrency) break
      group = tenantGroup
      jobs.push({ key: perJob === 1 ? String(tenantId) : `g${group}x${perJob}`, tenantIds: [] })
    }
    jobs.at(-1)!.tenantIds.push(tenantId)
  }
  return jobs
}

/**
 * The canary's tenants, in target order, while one of them is pending; null for a run without a canary or
 * once it is done. Its kept progress tells which, without looking at any tenant.
 */
function pendingCanary(state: ExistingRunState): readonly number[] | null {
  return state.request.canary && state.canary && state.canary.pending > 0 ? state.request.canary.tenantIds : null
}

/**
 * Findings one job is sized for when the run's tenants are small: a job then carries about this many findings
 * over several tenants (each still repaired in its own transaction, one at a time), so the costs paid per job
 * (the queue's message and acks, one append of the results, one pass of the dispatcher) are shared by them.
 */
export const FINDINGS_PER_SHARED_JOB = 400
/** At most this many tenants in one job. */
export const MAX_TENANTS_PER_JOB = 16

/**
 * How many tenants one job of the run carries: one while the canary is pending (SPEC §11: repaired first and
 * alone, each seen as it ends) and for tenants of ordinary size; for a run whose plan says its tenants hold
 * few findings on average, as many as make `FINDINGS_PER_SHARED_JOB` (at most `MAX_TENANTS_PER_JOB`).
 */
export function tenantsPerJob(state: RunState): number {
  if (state.status === 'none' || state.preflight === null || pendingCanary(state)) return 1
  const targeted = state.request.tenantIds.length
  const findingsPerTenant = targeted === 0 ? 0 : state.preflight.totalCount / targeted
  return Math.max(1, Math.min(MAX_TENANTS_PER_JOB, Math.floor(FINDINGS_PER_SHARED_JOB / Math.max(findingsPerTenant, 1))))
}

/**
 * The outcomes a run completes with while some of its tenants were never started (SPEC §9 cancel, SPEC §10
 * reject): those tenants end `cancelled`.
 */
export const outcomesCancellingUnstarted: ReadonlySet<RunOutcome> = new Set(['cancelled', 'rejected'])

/** Tenants of a run that completed before they were processed (empty unless it was cancelled or rejected). */
export function cancelledTenants(state: RunState): number[] {
  return state.status === 'completed' && outcomesCancellingUnstarted.has(state.outcome) ? pendingTenants(state) : []
}

export function failedTenantIds(state: RunState): number[] {
  if (state.status === 'none') return []
  return state.request.tenantIds.filter((id) => state.results.get(id)?.status === 'failed')
}

export function failureSummaryOf(state: RunState): FailureEntry[] {
  if (state.status === 'none') return []
  const entries: FailureEntry[] = []
  for (const tenantId of state.request.tenantIds) {
    const result = state.results.get(tenantId)
    if (result?.status === 'failed') entries.push({ tenantId, reasonCode: result.reasonCode, message: result.message })
  }
  return entries
}

/** SPEC §9: a run awaiting approval, queued, running or paused holds its identity and its tenants. */
export function isActive(state: RunState): state is ActiveRunState {
  return state.status !== 'none' && state.status !== 'completed'
}
