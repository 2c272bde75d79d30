import { evolveRun, canaryStateOf, cancelledTenants, failureSummaryOf, initialRunState, type ExistingRunState, type RunState } from '../commands/run/run-state.js'
import { summaryCountsOf } from '../commands/run/run-outcome.js'
import type { DomainEvent, EventMetadata } from '../events/index.js'
import { failureSummaryJson, runContext } from './operation-runs.js'
import type { RunControlEntry, RunDetail } from './queries.js'

/**
 * SPEC §12 "Replaying streams": a run as it stood after some prefix of its stream, folded by the command
 * side's own `evolveRun` (the state every decision is made on), and the one mapping from that state to the
 * run resource of `GET /api/runs/{id}`. The state holds every rule-bearing fact; what only the read side
 * shows — who paused, cancelled or approved (the events' initiators), when the run started and completed
 * — is gathered from the same events beside the fold (`RunWitness`). Same events, same resource as the
 * projection (test/projections/replayed-run.test.ts pins it on random scenarios).
 */

export interface ReplayableEvent {
  event: DomainEvent
  metadata: EventMetadata
  recordedAt?: Date
}

type Actor = Pick<RunControlEntry, 'by' | 'byEmail' | 'byName'>

/** What the run resource shows that `evolveRun` has no use for. */
export interface RunWitness {
  startedAt: string | null
  completedAt: string | null
  pausedBy: Actor | null
  cancelledBy: Actor | null
  approvedBy: string | null
  approvalComment: string | null
}

export interface ReplayedRun {
  state: RunState
  witness: RunWitness
  /** Events folded: the run is as it stood right after its `revisions`-th event. */
  revisions: number
}

const noWitness: RunWitness = { startedAt: null, completedAt: null, pausedBy: null, cancelledBy: null, approvedBy: null, approvalComment: null }

/** Who recorded a control event: the operator, or `system` for the service's own (as the projection names them). */
export function actorOf(metadata: EventMetadata): Actor {
  const initiator = metadata.initiator
  return initiator.kind === 'operator'
    ? { by: initiator.platformUserId, byEmail: initiator.email, byName: initiator.name }
    : { by: 'system', byEmail: null, byName: null }
}

function witness(seen: RunWitness, { event, metadata }: ReplayableEvent): RunWitness {
  switch (event.type) {
    case 'RunStarted':
      return { ...seen, startedAt: seen.startedAt ?? event.data.startedAt }
    case 'RunPaused':
      return { ...seen, pausedBy: actorOf(metadata) }
    case 'RunCancelled':
      return { ...seen, cancelledBy: actorOf(metadata) }
    case 'RunApproved':
      return { ...seen, approvedBy: actorOf(metadata).by, approvalComment: event.data.comment }
    case 'RunCompleted':
      return { ...seen, completedAt: event.data.completedAt }
    default:
      return seen
  }
}

/** Folds a run's events, in stream order, with the command side's `evolveRun`. */
export function replayRun(events: Iterable<ReplayableEvent>): ReplayedRun {
  let state = initialRunState()
  let seen = noWitness
  let revisions = 0
  for (const logged of events) {
    state = evolveRun(state, logged)
    seen = witness(seen, logged)
    revisions++
  }
  return { state, witness: seen, revisions }
}

const instant = (at: string) => new Date(at).toISOString()

/**
 * The run resource of a replayed run. The JSON members keep the events' own text (as the projection stores
 * them); the columns (`startedAt`, `completedAt`, `createdAt`) are normalised instants, as the database gives them.
 */
export function runResourceOf(state: ExistingRunState, seen: RunWitness): RunDetail {
  const { request } = state
  const completed = state.status === 'completed'
  const results = [...state.results.values()]
  let succeeded = 0
  for (const result of results) if (result.status === 'succeeded') succeeded++
  const failed = results.length - succeeded
  const cancelled = cancelledTenants(state).length
  const targeted = request.tenantIds.length
  const counts = completed
    ? // What RunCompleted recorded: the decider's own figures over the targets in target order.
      summaryCountsOf(request.tenantIds.flatMap((id) => state.results.get(id) ?? []), request.scope, targeted)
    : summaryCountsOf(results, request.scope, targeted)
  // In progress, failures are listed in the order they were recorded; the completion lists them in target order.
  const failures = completed
    ? failureSummaryOf(state)
    : [...state.results].flatMap(([tenantId, result]) => (result.status === 'failed' ? [{ tenantId, reasonCode: result.reasonCode, message: result.message }] : []))
  const canaryState = canaryStateOf(state)
  return {
    id: request.runId,
    workspaceId: request.workspaceId,
    tenantId: request.scope === 'all_tenants' ? null : request.targetTenantId,
    userId: request.initiator.platformUserId,
    initiatorName: request.initiator.name,
    type: request.runbookKey,
    status: state.status,
    outcome: state.outcome,
    runIdentityHash: request.runIdentityHash,
    summaryCounts: { ...counts },
    failureSummary: failureSummaryJson(failures),
    // A run planned after its start answered shows its plan once RunPlanned folded it (never a pinned id then).
    context: runContext({ ...request, preflight: state.preflight, pinnedPreflightId: request.preflight === null ? null : request.pinnedPreflightId }),
    startedAt: seen.startedAt === null ? null : instant(seen.startedAt),
    completedAt: completed && seen.completedAt !== null ? instant(seen.completedAt) : null,
    createdAt: instant(request.requestedAt),
    limits: { maxConcurrency: state.limits.maxConcurrency, maxFailures: state.limits.maxFailures },
    pause:
      state.status === 'paused'
        ? { reasonCode: state.pause.reasonCode, reasonText: state.pause.reasonText, ...(seen.pausedBy ?? SERVICE), at: state.pause.at }
        : null,
    cancellation:
      !completed && state.cancellation
        ? {
            reasonCode: state.cancellation.reason.reasonCode,
            reasonText: state.cancellation.reason.reasonText,
            ...(seen.cancelledBy ?? SERVICE),
            at: state.cancellation.at,
          }
        : null,
    tenantCounts: { targeted, pending: Math.max(targeted - succeeded - failed - cancelled, 0), succeeded, failed, cancelled },
    retryOf: request.retryOf,
    revertOf: request.revertOf,
    approval: request.approvalRequired
      ? { required: true, approvedBy: state.approvedAt === null ? null : seen.approvedBy, approvedAt: state.approvedAt, comment: state.approvedAt === null ? null : seen.approvalComment }
      : null,
    verification: completed && state.verification ? { remaining: state.verification.remaining, tenantsWithRemaining: state.verification.tenantsWithRemaining, verifiedAt: state.verification.verifiedAt } : null,
    canary: request.canary && canaryState ? { tenantIds: request.canary.tenantIds, autoPromote: request.canary.autoPromote, state: canaryState } : null,
  }
}

// Only for a control the witness did not see, which a stream folded from its start cannot have.
const SERVICE: Actor = { by: 'system', byEmail: null, byName: null }

/** The run resource after its first `revisions` events (all when undefined); null when the stream holds no run. */
export function runResourceAt(events: ReplayableEvent[], revisions?: number): RunDetail | null {
  const { state, witness: seen } = replayRun(revisions === undefined ? events : events.slice(0, revisions))
  return state.status === 'none' ? null : runResourceOf(state, seen)
}
