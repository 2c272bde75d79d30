import { APPROVAL_WINDOW_MS } from './run-decider.js'
import { dispatchJobs, dispatchWindow, type RunState } from './run-state.js'

export type DispatchPlan =
  /**
   * These jobs should be in the queue now (some may be already): the pending tenants of each, and the key
   * that names it in its run (see `dispatchJobs`).
   */
  | { action: 'dispatch'; jobs: Array<{ key: string; tenantIds: number[] }>; generation: number }
  /** The deployment is halted and this run is not paused yet: pause it (HALTED). */
  | { action: 'halt_run' }
  | { action: 'none' }

/**
 * Which of a run's tenants get a job now: a running run's dispatch window (its first `maxConcurrency` jobs,
 * the canary's first). Jobs are published as slots free up, so a pause, a cancel or a lowered limit holds
 * back what was never published. The repair itself enforces the limit (slots); this keeps the queue from
 * holding jobs that would only wait for one. A run still waiting for its plan (resumed before it) gets none:
 * its preflight must count the data before any of its repairs.
 */
export function planDispatch(run: RunState, halted: boolean): DispatchPlan {
  if (run.status !== 'running' || run.cancellation || run.preflight === null) return { action: 'none' }
  if (halted) return { action: 'halt_run' }
  return { action: 'dispatch', jobs: dispatchJobs(run), generation: run.generation }
}

export type ReconcilePlan =
  | { action: 'none' }
  /** A cancel whose completion was missed: complete it once nothing is in flight. */
  | { action: 'finish_cancel' }
  /** Queued for longer than a dispatcher takes: its dispatcher died before starting it. */
  | { action: 'start' }
  /** Awaiting approval for longer than SPEC §10 allows: it completes rejected (APPROVAL_EXPIRED). */
  | { action: 'expire_approval' }
  /** No event for a while: these tenants had jobs (the dispatch window); those nobody is repairing are lost. */
  | { action: 'redispatch'; tenantIds: number[] }
  /** Waiting for its plan for longer than a scan takes: the planner failed on it (or died); plan it here. */
  | { action: 'plan' }

/**
 * What the reconciler does for one active run (DESIGN invariant 7). A paused run is left alone: only an
 * operator resumes it. Only tenants of the dispatch window ever had jobs, so only they can have lost one.
 */
export function planReconcile(run: RunState, now: Date, staleAfterMs: number): ReconcilePlan {
  if (run.status === 'none' || run.status === 'completed') return { action: 'none' }
  if (run.cancellation) return { action: 'finish_cancel' }
  if (run.status === 'awaiting_approval') {
    return now.getTime() - Date.parse(run.request.requestedAt) >= APPROVAL_WINDOW_MS ? { action: 'expire_approval' } : { action: 'none' }
  }
  const idleMs = now.getTime() - (run.lastEventAt?.getTime() ?? now.getTime())
  if (idleMs < staleAfterMs) return { action: 'none' }
  // Whatever its status (a paused run is resumed only once planned): no job of it exists before the plan.
  if (run.preflight === null) return { action: 'plan' }
  if (run.status === 'paused') return { action: 'none' }
  if (run.status === 'queued') return { action: 'start' }
  const window = dispatchWindow(run)
  return window.length > 0 ? { action: 'redispatch', tenantIds: window } : { action: 'none' }
}
