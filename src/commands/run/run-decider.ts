import type { DomainEvent, PauseReason, PreflightResult, RunLimits, RunOutcome, RunReason, TenantResult } from '../../events/index.js'
import { ForbiddenError, HaltedError, InvalidTransitionError, ValidationError } from '../errors.js'
import { sanitizeFailureMessage } from './failure-message.js'
import { outcomeOf, summaryCountsOf } from './run-outcome.js'
import { ResultLog } from './result-log.js'
import { awaitsApproval, canaryStateOf, evolveRun, requestFacts, failedTenantIds, failureSummaryOf, pendingTenants, type ActiveRunState, type ExistingRunState, type RunRequest, type RunState } from './run-state.js'
import { validateLimits } from './run-limits.js'

/** A tenant's result as the worker stored it beside its repair (see src/workers/tenant-results.ts). */
export interface TenantOutcome {
  tenantId: number
  attempt: number
  result: TenantResult
  /** When the repair transaction began and committed; null when no repair ran (a failure before it). */
  startedAt: string | null
  completedAt: string | null
  /** The event that dispatched the tenant's job: the cause its TenantProcessed names (metadata, never its data). */
  causationId?: string | null
}

export type RunCommand =
  | { type: 'RequestRun'; data: RunRequest }
  /** The plan of a run requested without one, counted by the handler (the runbook's preflight over its targets). */
  | { type: 'RecordPlan'; preflight: PreflightResult; at: string }
  | { type: 'StartRun'; at: string }
  /**
   * Results of several tenants in the order the worker stored them, decided one after the other on the state
   * each left (a batch records exactly what recording them one by one would).
   */
  | { type: 'RecordTenantResults'; results: TenantOutcome[]; at: string }
  /** Re-dispatch these tenants (those not pending any more are ignored). */
  | { type: 'RedispatchPendingTenants'; tenantIds: number[]; at: string }
  /**
   * `stored`: the results stored beside repairs that committed before the pause, which the run's stream may
   * still lack (a message of small tenants records its results when it ends): recorded before the pause, so
   * that only repairs in flight are recorded after it.
   */
  | { type: 'PauseRun'; reason: PauseReason; at: string; stored?: TenantOutcome[] }
  /** The halt's pause of an active run (see `haltRun`). `stored`: as PauseRun's. */
  | { type: 'HaltRun'; reasonText: string; at: string; stored?: TenantOutcome[] }
  /** `halted`: whether the deployment is halted, loaded by the handler. */
  | { type: 'ResumeRun'; reason: RunReason | null; halted: boolean; at: string }
  | { type: 'CancelRun'; reason: RunReason; at: string }
  | { type: 'ChangeLimits'; limits: Partial<RunLimits>; at: string }
  | { type: 'RecordRetry'; retryRunId: string; tenantIds: number[]; reason: RunReason | null; at: string }
  /** SPEC §10; `operatorId` is who approves or rejects, `halted` loaded by the handler. */
  | { type: 'ApproveRun'; operatorId: string; comment: string | null; halted: boolean; at: string }
  | { type: 'RejectRun'; operatorId: string; reason: RunReason; at: string }
  /** A run awaiting approval for 24 hours completes `rejected` (APPROVAL_EXPIRED). */
  | { type: 'ExpireApproval'; at: string }
  /**
   * Completes a cancelled run once no repair of it is in flight: `stored` are results the workers stored
   * with their repairs that the stream may not have yet (a worker between its commit and its append).
   */
  | { type: 'CompleteCancelledRun'; stored: TenantOutcome[]; at: string }
  /**
   * SPEC §11: a revert of this run was requested; `keptDays` is how long its before-images are kept, and
   * `previousRevert` how the run's last revert ended (loaded by the handler; null while none or active).
   */
  | { type: 'RecordRevert'; revertRunId: string; keptDays: number; previousRevert: { outcome: RunOutcome } | null; reason: RunReason | null; at: string }
  /** SPEC §11: the re-scan of the succeeded tenants, measured by the handler (tenant → what would still change). */
  | { type: 'RecordVerification'; remaining: Array<{ tenantId: number; remaining: number }>; at: string }

export class TenantNotTargetedError extends InvalidTransitionError {}

type Decision<C extends RunCommand['type']> = (command: Extract<RunCommand, { type: C }>, state: RunState) => DomainEvent[]

/** What each command does, as an operator reads it in a refusal ("pause is not allowed when the run is paused"). */
const commandNames: Record<RunCommand['type'], string> = {
  RequestRun: 'request',
  RecordPlan: 'recording a plan',
  StartRun: 'start',
  RecordTenantResults: 'recording a tenant result',
  RedispatchPendingTenants: 're-dispatch',
  PauseRun: 'pause',
  HaltRun: 'halt',
  ResumeRun: 'resume',
  CancelRun: 'cancel',
  ChangeLimits: 'changing limits',
  RecordRetry: 'retry',
  CompleteCancelledRun: 'completing a cancel',
  ApproveRun: 'approve',
  RejectRun: 'reject',
  ExpireApproval: 'expiring an approval',
  RecordVerification: 'recording a verification',
  RecordRevert: 'revert',
}

function refuse(command: RunCommand['type'], state: RunState, why?: string): never {
  throw new InvalidTransitionError(commandNames[command], why ?? state.status)
}

function requireActive(command: RunCommand['type'], state: RunState): ActiveRunState {
  if (state.status === 'none' || state.status === 'completed') refuse(command, state)
  return state
}

function requireNotCancelling(command: RunCommand['type'], state: ActiveRunState): void {
  if (state.cancellation) refuse(command, state, `${state.status} and being cancelled`)
}

/**
 * The completion of a run: `done` when its tenants are all processed (the outcome follows from their
 * results), or ended early by a cancel or a rejection; the counts cover the tenants processed.
 */
function completion(state: ExistingRunState, results: ResultLog, at: string, ending: 'done' | 'cancelled' | 'rejected'): DomainEvent {
  const { request } = state
  const processed = request.tenantIds.flatMap((id) => {
    const result = results.get(id)
    return result ? [result] : []
  })
  return {
    type: 'RunCompleted',
    data: {
      runId: request.runId,
      outcome: ending === 'done' ? outcomeOf(processed) : ending,
      summaryCounts: summaryCountsOf(processed, request.scope, request.tenantIds.length),
      failureSummary: failureSummaryOf({ ...state, results }),
      completedAt: at,
    },
  }
}

/** A result as events store it: a failure's message sanitized (no secrets, bounded). */
function storable(result: TenantResult): TenantResult {
  return result.status === 'failed' ? { ...result, message: sanitizeFailureMessage(result.message) } : result
}

function processedEvent(state: ExistingRunState, outcome: TenantOutcome, at: string): DomainEvent {
  const result = storable(outcome.result)
  return {
    type: 'TenantProcessed',
    data: {
      runId: state.request.runId,
      tenantId: outcome.tenantId,
      attempt: outcome.attempt,
      result,
      processedAt: at,
      startedAt: outcome.startedAt,
      completedAt: outcome.completedAt,
    },
  }
}

const requestRun: Decision<'RequestRun'> = (command, state) => {
  if (state.status !== 'none') refuse('RequestRun', state)
  const requested: DomainEvent = { type: 'RunRequested', data: command.data }
  if (command.data.tenantIds.length > 0 || command.data.approvalRequired) return [requested]
  // Nothing to dispatch: the run goes through its whole lifecycle at once.
  const queued: ExistingRunState = {
    status: 'queued',
    outcome: 'pending',
    ...requestFacts(command.data),
    failedTenants: 0,
    limits: command.data.limits,
    generation: 0,
    started: true,
    cancellation: null,
    retries: [],
    revertedBy: null,
    approvedAt: null,
    lastEventAt: null,
  }
  const started: DomainEvent = { type: 'RunStarted', data: { runId: command.data.runId, startedAt: command.data.requestedAt } }
  return [requested, started, completion(queued, ResultLog.empty(), command.data.requestedAt, 'done')]
}

/**
 * Once per run requested without a plan, whatever its status: a run ended before its plan (cancelled,
 * rejected) needs none, and a second plan (two planners, a replay) is a no-op.
 */
const recordPlan: Decision<'RecordPlan'> = (command, state) => {
  if (state.status === 'none') refuse('RecordPlan', state)
  if (state.status === 'completed' || state.preflight !== null) return []
  return [{ type: 'RunPlanned', data: { runId: state.request.runId, preflight: command.preflight, plannedAt: command.at } }]
}

/**
 * queued → running once the run has its plan; a no-op before it (the plan's event starts it) and for a
 * run that is past it (already running, paused after starting, completed).
 */
const startRun: Decision<'StartRun'> = (command, state) => {
  if (state.status === 'none') refuse('StartRun', state)
  if (state.status !== 'queued' || state.preflight === null) return []
  return [{ type: 'RunStarted', data: { runId: state.request.runId, startedAt: command.at } }]
}

/**
 * One result per targeted tenant, exactly once: a repeat is a no-op, and so is a result arriving after
 * the run completed (the worker acks it; nothing is counted twice). The last result completes the run in
 * the same append — unless the run is paused (a paused run never completes by itself) or this result is a
 * failure beyond the error budget, which pauses the run, the last result's too (SPEC §9).
 */
const recordTenantResults: Decision<'RecordTenantResults'> = (command, state) => {
  const events: DomainEvent[] = []
  let current = state
  for (const outcome of command.results) {
    const decided = recordTenantResult(outcome, command.at, current)
    events.push(...decided)
    current = decided.reduce((folded, event) => evolveRun(folded, { event }), current)
  }
  return events
}

function recordTenantResult(outcome: TenantOutcome, at: string, state: RunState): DomainEvent[] {
  if (state.status === 'none' || state.status === 'queued' || state.status === 'awaiting_approval') refuse('RecordTenantResults', state)
  if (!state.targets.has(outcome.tenantId)) {
    throw new TenantNotTargetedError(`RecordTenantResults(tenant ${outcome.tenantId})`, 'not targeting it')
  }
  const command = { ...outcome, at }
  if (state.status === 'completed' || state.results.has(command.tenantId)) return []
  const processed = processedEvent(state, command, command.at)
  const added = { tenantId: command.tenantId, result: storable(command.result) }
  const remaining = state.request.tenantIds.length - state.results.size - 1
  if (state.cancellation) {
    return remaining === 0 ? [processed, completion(state, state.results.with(added.tenantId, added.result), command.at, 'cancelled')] : [processed]
  }
  // SPEC §9: failures beyond the budget pause the run, the last tenant's too: the run then waits, paused, for
  // an operator to resume it (it completes at once) or cancel it, as any run paused with nothing left pending.
  const budgetPause = errorBudgetPauseAfter(state, command.result, command.at)
  if (remaining === 0) {
    if (budgetPause) return [processed, budgetPause]
    return state.status === 'paused' ? [processed] : [processed, completion(state, state.results.with(added.tenantId, added.result), command.at, 'done')]
  }
  const canaryPause = canaryPauseAfter(state, added, command.at)
  if (canaryPause) return [processed, canaryPause]
  return budgetPause ? [processed, budgetPause] : [processed]
}

/**
 * The error budget's pause after this result, if any. Each failure beyond the budget pauses a running run; a
 * paused run (a repair in flight finishing after an operator's pause) gets the budget's pause, and its alert,
 * when this failure crosses the budget.
 */
function errorBudgetPauseAfter(state: ActiveRunState, result: TenantOutcome['result'], at: string): DomainEvent | null {
  if (result.status !== 'failed') return null
  const failed = state.failedTenants + 1
  const { maxFailures } = state.limits
  const overBudget = maxFailures !== null && failed > maxFailures
  const crossesIt = overBudget && state.failedTenants <= maxFailures!
  return overBudget && (state.status === 'running' || (state.status === 'paused' && crossesIt)) ? errorBudgetPause(state, failed, at) : null
}

/**
 * SPEC §11: the result that settles an active run's canary pauses it — `CANARY_FAILED` at the first canary
 * failure, `CANARY_COMPLETE` when the last canary tenant succeeded and the run does not promote itself. A
 * run paused meanwhile (an operator, the halt) takes the canary's reason: its alert and its checkpoint are
 * not lost to an earlier pause.
 */
function canaryPauseAfter(state: ActiveRunState, added: { tenantId: number; result: TenantResult }, at: string): DomainEvent | null {
  const canary = state.request.canary
  if (!canary || (state.status !== 'running' && state.status !== 'paused')) return null
  const before = canaryStateOf(state)
  const after = canaryStateOf(state, added)
  if (before !== 'running' || after === 'running') return null
  if (after === 'passed' && canary.autoPromote) return null
  const count = canary.tenantIds.length
  const reason: PauseReason =
    after === 'failed'
      ? { reasonCode: 'CANARY_FAILED', reasonText: `a canary tenant failed; the run's other tenants wait for an operator` }
      : { reasonCode: 'CANARY_COMPLETE', reasonText: `the ${count} canary tenant${count === 1 ? '' : 's'} succeeded; resume to repair the rest` }
  return { type: 'RunPaused', data: { runId: state.request.runId, reason, pausedAt: at } }
}

function errorBudgetPause(state: ActiveRunState, failed: number, at: string): DomainEvent {
  return {
    type: 'RunPaused',
    data: {
      runId: state.request.runId,
      reason: {
        reasonCode: 'ERROR_BUDGET_EXCEEDED',
        reasonText: `${failed} tenants failed, more than the run's limit of ${state.limits.maxFailures}`,
      },
      pausedAt: at,
    },
  }
}

const redispatchPendingTenants: Decision<'RedispatchPendingTenants'> = (command, state) => {
  if (state.status !== 'running') refuse('RedispatchPendingTenants', state)
  if (state.cancellation) return []
  const asked = new Set(command.tenantIds)
  const pending = pendingTenants(state).filter((tenantId) => asked.has(tenantId))
  if (pending.length === 0) return []
  return [
    {
      type: 'TenantJobsRedispatched',
      data: { runId: state.request.runId, tenantIds: pending, generation: state.generation + 1, redispatchedAt: command.at },
    },
  ]
}

/** SPEC §9: a queued or running run pauses; pausing a paused one is a conflict, as is pausing a cancel. */
const pauseRun: Decision<'PauseRun'> = (command, state) => {
  const active = requireActive('PauseRun', state)
  // A run awaiting approval has nothing to pause; a pause there would let a resume start it unapproved.
  if (active.status === 'paused' || active.status === 'awaiting_approval') refuse('PauseRun', state)
  requireNotCancelling('PauseRun', active)
  const { recorded, after } = recordStoredBefore(command.stored, command.at, active)
  // The results recorded completed the run, or paused it themselves (its error budget, its canary): no pause more.
  if (after.status !== 'running' && after.status !== 'queued') return recorded
  return [...recorded, { type: 'RunPaused', data: { runId: active.request.runId, reason: command.reason, pausedAt: command.at } }]
}

/**
 * SPEC §9: the halt pauses every active run with `HALTED`: a queued or running one, and a paused one whose
 * pause was another (an operator's, the error budget's, the canary's), which then waits for the halt's
 * lifting and a resume like the others; and a run awaiting approval, which still awaits it (`awaitsApproval`:
 * a resume gives it back to its approvers, an approval after the lift leaves it paused until resumed). A run
 * being cancelled finishes its cancellation.
 */
const haltRun: Decision<'HaltRun'> = (command, state) => {
  // SPEC §9: every active run, a run awaiting approval too (a resume after the lift gives it back to its approvers).
  if ((state.status === 'awaiting_approval' || (state.status === 'paused' && state.pause.reasonCode !== 'HALTED')) && !state.cancellation) {
    return [{ type: 'RunPaused', data: { runId: state.request.runId, reason: { reasonCode: 'HALTED', reasonText: command.reasonText }, pausedAt: command.at } }]
  }
  if (state.status !== 'queued' && state.status !== 'running') return []
  if (state.cancellation) return []
  const { recorded, after } = recordStoredBefore(command.stored, command.at, state)
  if (after.status !== 'running' && after.status !== 'queued') return recorded
  return [
    ...recorded,
    {
      type: 'RunPaused',
      data: { runId: state.request.runId, reason: { reasonCode: 'HALTED', reasonText: command.reasonText }, pausedAt: command.at },
    },
  ]
}

/**
 * The stored results a running run's stream lacks, recorded as their workers would (before a pause: so that
 * after it only the repairs in flight then are recorded), and the state they leave.
 */
function recordStoredBefore(stored: TenantOutcome[] | undefined, at: string, state: RunState): { recorded: DomainEvent[]; after: RunState } {
  if (!stored || state.status !== 'running') return { recorded: [], after: state }
  const missing = stored.filter((outcome) => state.targets.has(outcome.tenantId) && !state.results.has(outcome.tenantId))
  if (missing.length === 0) return { recorded: [], after: state }
  const recorded = recordTenantResults({ type: 'RecordTenantResults', results: missing, at }, state)
  return { recorded, after: recorded.reduce<RunState>((folded, event) => evolveRun(folded, { event }), state) }
}

/**
 * SPEC §9: only a paused run resumes, never while the deployment is halted. It continues with the tenants
 * not yet processed (a new dispatch generation); with none left it completes at once.
 */
const resumeRun: Decision<'ResumeRun'> = (command, state) => {
  const active = requireActive('ResumeRun', state)
  if (active.status !== 'paused') refuse('ResumeRun', state)
  requireNotCancelling('ResumeRun', active)
  if (command.halted) throw new HaltedError('resume a run')
  const { runId } = active.request
  const events: DomainEvent[] = [
    { type: 'RunResumed', data: { runId, reason: command.reason, generation: active.generation + 1, resumedAt: command.at } },
  ]
  // Paused by the halt while it awaited its approval: it awaits it again, and starts only once approved.
  if (awaitsApproval(active)) return events
  if (!active.started) events.push({ type: 'RunStarted', data: { runId, startedAt: command.at } })
  if (pendingTenants(active).length === 0) events.push(completion(active, active.results, command.at, 'done'))
  return events
}

/**
 * SPEC §9: any active run can be cancelled. A run with no repair possibly in flight (never started, or
 * nothing left pending) completes `cancelled` at once; otherwise it completes when its in-flight repairs
 * are recorded (`CompleteCancelledRun`).
 */
const cancelRun: Decision<'CancelRun'> = (command, state) => {
  const active = requireActive('CancelRun', state)
  requireNotCancelling('CancelRun', active)
  const cancelled: DomainEvent = {
    type: 'RunCancelled',
    data: { runId: active.request.runId, reason: command.reason, cancelledAt: command.at },
  }
  if (!active.started || pendingTenants(active).length === 0) {
    return [cancelled, completion(active, active.results, command.at, 'cancelled')]
  }
  return [cancelled]
}

const completeCancelledRun: Decision<'CompleteCancelledRun'> = (command, state) => {
  if (state.status === 'none' || state.status === 'completed' || !state.cancellation) return []
  let results = state.results
  const events: DomainEvent[] = []
  for (const stored of command.stored) {
    if (!state.targets.has(stored.tenantId) || results.has(stored.tenantId)) continue
    events.push(processedEvent(state, stored, command.at))
    results = results.with(stored.tenantId, storable(stored.result))
  }
  return [...events, completion(state, results, command.at, 'cancelled')]
}

/**
 * SPEC §9 limits, changed while the run is active. Only what changes is recorded (an unchanged request
 * appends nothing); a budget lowered below the failures so far pauses the running run at once.
 */
const changeLimits: Decision<'ChangeLimits'> = (command, state) => {
  const active = requireActive('ChangeLimits', state)
  requireNotCancelling('ChangeLimits', active)
  const limits: RunLimits = { ...active.limits, ...command.limits }
  validateLimits(limits)
  if (limits.maxConcurrency === active.limits.maxConcurrency && limits.maxFailures === active.limits.maxFailures) return []
  const changed: DomainEvent = {
    type: 'RunLimitsChanged',
    data: { runId: active.request.runId, limits, previous: active.limits, changedAt: command.at },
  }
  const overBudget = limits.maxFailures !== null && active.failedTenants > limits.maxFailures
  if (active.status === 'running' && !active.cancellation && overBudget && pendingTenants(active).length > 0) {
    return [changed, errorBudgetPause({ ...active, limits }, active.failedTenants, command.at)]
  }
  return [changed]
}

/** SPEC §9 retry: only a completed run with failed tenants; the handler picks those still in the universe. */
const recordRetry: Decision<'RecordRetry'> = (command, state) => {
  if (state.status !== 'completed') refuse('RecordRetry', state)
  const failed = new Set(failedTenantIds(state))
  if (failed.size === 0) throw new ValidationError([{ field: 'runId', message: 'the run has no failed tenant to retry' }])
  if (command.tenantIds.length === 0) {
    throw new ValidationError([{ field: 'runId', message: 'none of the run\'s failed tenants is still in the allowed universe' }])
  }
  const strangers = command.tenantIds.filter((id) => !failed.has(id))
  if (strangers.length > 0) refuse('RecordRetry', state, `not failed for tenants ${strangers.join(', ')}`)
  return [
    {
      type: 'RunRetried',
      data: { runId: state.request.runId, retryRunId: command.retryRunId, tenantIds: command.tenantIds, reason: command.reason, retriedAt: command.at },
    },
  ]
}

/**
 * Which completed runs the service verifies (SPEC §11): those that repaired something as asked. A revert
 * run is not: it puts findings back as they were, which the runbook's scan would find to repair again.
 */
export function isVerifiable(run: { outcome: string; revertOf: string | null }): boolean {
  return (run.outcome === 'succeeded' || run.outcome === 'partially_succeeded') && run.revertOf === null
}

/**
 * Runs that completed longer ago than this when the verifier meets their completion are not verified: a
 * verifier that starts on an existing deployment (or after a long outage) must not re-scan old runs against
 * data that has moved on since and raise alerts about them.
 */
export const VERIFY_WITHIN_MS = 60 * 60 * 1000

/** The verifier's window in words, for the pages and the CLI that say why a run has no verification. */
export const VERIFY_WITHIN_WORDS = VERIFY_WITHIN_MS === 3_600_000 ? 'an hour' : `${VERIFY_WITHIN_MS / 60_000} minutes`

/** Whether the verifier, meeting at `now` the completion of a run completed at `completedAt`, verifies it. */
export function completedRecentlyEnoughToVerify(completedAt: string | null, now: Date): boolean {
  return completedAt !== null && now.getTime() - Date.parse(completedAt) <= VERIFY_WITHIN_MS
}

/**
 * Whether this completed run has, or is still to get, a verification (SPEC §11): it is verifiable, and it
 * was verified or completed recently enough for the verifier. A page or a follow waits for it only then.
 */
export function verificationExpected(
  run: { outcome: string | null; revertOf: string | null; verification: unknown; completedAt: string | null },
  now: Date,
): boolean {
  if (!isVerifiable({ outcome: run.outcome ?? '', revertOf: run.revertOf })) return false
  return run.verification != null || completedRecentlyEnoughToVerify(run.completedAt, now)
}

/** A completed run the service verifies and has not verified yet. */
export function needsVerification(state: RunState): boolean {
  return state.status === 'completed' && state.verification === null && isVerifiable({ outcome: state.outcome, revertOf: state.request.revertOf })
}

const DAY_MS = 24 * 3600 * 1000

/**
 * SPEC §11 revert of a completed run that changed something, while its before-images are kept — counted
 * from the run's request, the earliest any of them can have been written. Once, unless the last revert
 * did not happen (`revertMayBeAskedAgain`).
 */
const recordRevert: Decision<'RecordRevert'> = (command, state) => {
  if (state.status !== 'completed') refuse('RecordRevert', state)
  if (state.revertedBy !== null && !revertMayBeAskedAgain(command.previousRevert)) {
    refuse('RecordRevert', state, `completed and already reverted by run ${state.revertedBy}`)
  }
  const { updated } = summaryCountsOf([...state.results.values()], state.request.scope, state.request.tenantIds.length)
  if (updated === 0) throw new ValidationError([{ field: 'runId', message: 'the run changed nothing: there is nothing to revert' }])
  if (Date.parse(command.at) - Date.parse(state.request.requestedAt) > command.keptDays * DAY_MS) {
    throw new ValidationError([
      { field: 'runId', message: `the run's before-images are kept ${command.keptDays} days after it was requested and have expired` },
    ])
  }
  return [{ type: 'RunReverted', data: { runId: state.request.runId, revertRunId: command.revertRunId, reason: command.reason, revertedAt: command.at } }]
}

/** SPEC §11 verification: once per run, after it completed succeeded or partially succeeded. */
const recordVerification: Decision<'RecordVerification'> = (command, state) => {
  if (state.status !== 'completed') refuse('RecordVerification', state)
  if (!needsVerification(state)) return []
  const succeeded = new Set(succeededTenantIds(state))
  const strangers = command.remaining.filter((t) => !succeeded.has(t.tenantId)).map((t) => t.tenantId)
  if (strangers.length > 0) refuse('RecordVerification', state, `not succeeded for tenants ${strangers.join(', ')}`)
  const tenantsWithRemaining = command.remaining.filter((t) => t.remaining > 0).sort((a, b) => a.tenantId - b.tenantId)
  return [
    {
      type: 'RunVerified',
      data: {
        runId: state.request.runId,
        remaining: tenantsWithRemaining.reduce((sum, t) => sum + t.remaining, 0),
        tenantsWithRemaining,
        verifiedAt: command.at,
      },
    },
  ]
}

/** The tenants a run repaired successfully, in tenant order. */
export function succeededTenantIds(state: RunState): number[] {
  if (state.status === 'none') return []
  return [...state.results].filter(([, result]) => result.status === 'succeeded').map(([tenantId]) => tenantId).sort((a, b) => a - b)
}

/**
 * A revert that was rejected, cancelled or failed did not put the run back (or only part of it): another
 * may be asked. It puts back only what still holds what the run wrote, so what the first one did is skipped.
 */
export function revertMayBeAskedAgain(previous: { outcome: string } | null): boolean {
  return previous !== null && ['rejected', 'cancelled', 'failed', 'blocked'].includes(previous.outcome)
}

/** SPEC §10: how long a run may await approval before it completes `rejected` (APPROVAL_EXPIRED). */
export const APPROVAL_WINDOW_MS = 24 * 3600 * 1000

/** A run that awaits its approval: awaiting it, or paused by the halt while it did (approved, it stays paused). */
function requireAwaitingApproval(command: RunCommand['type'], state: RunState): Extract<RunState, { status: 'awaiting_approval' | 'paused' }> {
  if (state.status === 'awaiting_approval') return state
  if (state.status === 'paused' && !state.cancellation && awaitsApproval(state)) return state
  return refuse(command, state)
}

/** Four eyes: whoever started the run neither approves nor rejects it, whatever token or session they use. */
/** SPEC §10: a second operator approves or rejects; also checked before a request's body is read (approvals.ts). */
export function requireSecondOperator(request: Pick<ExistingRunState['request'], 'initiator'>, operatorId: string, what: string): void {
  if (request.initiator.platformUserId === operatorId) {
    throw new ForbiddenError([], `the operator who started a run cannot ${what} it`)
  }
}

function rejection(state: ExistingRunState, reason: { reasonCode: RunReason['reasonCode'] | 'APPROVAL_EXPIRED'; reasonText: string }, at: string): DomainEvent[] {
  const rejected: DomainEvent = { type: 'RunRejected', data: { runId: state.request.runId, reason, rejectedAt: at } }
  return [rejected, completion(state, state.results, at, 'rejected')]
}

const approveRun: Decision<'ApproveRun'> = (command, state) => {
  // SPEC §9: the halt refuses every approval (the run it paused included) until it is lifted.
  if (command.halted && state.status !== 'none' && state.status !== 'completed') throw new HaltedError('approve a run')
  const awaiting = requireAwaitingApproval('ApproveRun', state)
  requireSecondOperator(awaiting.request, command.operatorId, 'approve')
  return [{ type: 'RunApproved', data: { runId: awaiting.request.runId, comment: command.comment, approvedAt: command.at } }]
}

const rejectRun: Decision<'RejectRun'> = (command, state) => {
  const awaiting = requireAwaitingApproval('RejectRun', state)
  requireSecondOperator(awaiting.request, command.operatorId, 'reject')
  return rejection(awaiting, command.reason, command.at)
}

const expireApproval: Decision<'ExpireApproval'> = (command, state) => {
  if (state.status !== 'awaiting_approval') return []
  if (Date.parse(command.at) - Date.parse(state.request.requestedAt) < APPROVAL_WINDOW_MS) return []
  return rejection(state, { reasonCode: 'APPROVAL_EXPIRED', reasonText: 'nobody approved the run within 24 hours' }, command.at)
}

/** Pure: the events a command produces in a state, or a thrown domain error. One function per command. */
export function decideRun(command: RunCommand, state: RunState): DomainEvent[] {
  switch (command.type) {
    case 'RequestRun':
      return requestRun(command, state)
    case 'RecordPlan':
      return recordPlan(command, state)
    case 'StartRun':
      return startRun(command, state)
    case 'RecordTenantResults':
      return recordTenantResults(command, state)
    case 'RedispatchPendingTenants':
      return redispatchPendingTenants(command, state)
    case 'PauseRun':
      return pauseRun(command, state)
    case 'HaltRun':
      return haltRun(command, state)
    case 'ResumeRun':
      return resumeRun(command, state)
    case 'CancelRun':
      return cancelRun(command, state)
    case 'CompleteCancelledRun':
      return completeCancelledRun(command, state)
    case 'ChangeLimits':
      return changeLimits(command, state)
    case 'RecordRetry':
      return recordRetry(command, state)
    case 'ApproveRun':
      return approveRun(command, state)
    case 'RejectRun':
      return rejectRun(command, state)
    case 'ExpireApproval':
      return expireApproval(command, state)
    case 'RecordVerification':
      return recordVerification(command, state)
    case 'RecordRevert':
      return recordRevert(command, state)
  }
}
