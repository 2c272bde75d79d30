import { APPROVAL_WINDOW_MS } from './run-decider.js'
import { dispatchWindow, tenantsPerJob, type RunState } from './run-state.js'

export type DispatchPlan =
  /**
   * These tenants should have a job in the queue now (some may have one already); those without one go in
   * jobs of up to `tenantsPerJob` tenants.
   */
  | { action: 'dispatch'; tenantIds: number[]; generation: number; tenantsPerJob: number; windowFull: boolean }
  /** The deployment is halted and this run is not paused yet: pause it (HALTED). */
  | { action: 'halt_run' }
  | { action: 'none' }

/**
 * Which of a run's tenants get a job now: a running run's dispatch window (the first pending tenants that
 * `maxConcurrency` jobs carry, the canary's first). Jobs are published as slots free up, so a pause, a cancel or a lowered limit holds
 * back what was never published. The repair itself enforces the limit (slots); this keeps the queue from
 * holding jobs that would only wait for one. A run still waiting for its plan (resumed before it) gets none:
 * its preflight must count the data before any of its repairs.
 */
export function planDispatch(run: RunState, halted: boolean): DispatchPlan {
  if (run.status !== 'running' || run.cancellation || run.preflight === null) return { action: 'none' }
  if (halted) return { action: 'halt_run' }
  const tenantIds = dispatchWindow(run)
  const perJob = tenantsPerJob(run)
  return { action: 'dispatch', tenantIds, generation: run.generation, tenantsPerJob: perJob, windowFull: tenantIds.length >= run.limits.maxConcurrency * perJob }
}

/**
 * The jobs that carry the window's tenants that have none yet (`fresh`, in window order): `tenantsPerJob`
 * consecutive tenants each. A last, partial job is held back while the window is full (more tenants are
 * pending than it holds): the window only moves by recorded results, and the results a job records early
 * (while it is held up) would otherwise cut the window into ever smaller jobs, and more of them than
 * `maxConcurrency`. The tenants recorded next make it whole. Tenants re-dispatched as lost all go at once:
 * nothing else would bring them back.
 */
export function jobsToPublish(fresh: readonly number[], plan: { tenantsPerJob: number; windowFull: boolean }, lost: boolean): number[][] {
  const jobs: number[][] = []
  for (let start = 0; start < fresh.length; start += plan.tenantsPerJob) jobs.push(fresh.slice(start, start + plan.tenantsPerJob))
  const last = jobs.at(-1)
  if (last && last.length < plan.tenantsPerJob && plan.windowFull && !lost) jobs.pop()
  return jobs
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
