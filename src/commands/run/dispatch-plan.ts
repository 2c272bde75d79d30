import { pendingTenants, type RunState } from './run-state.js'

export type DispatchPlan =
  /** These tenants should have a job in the queue now (some may have one already). */
  | { action: 'dispatch'; tenantIds: number[]; generation: number }
  /** The deployment is halted and this run is not paused yet: pause it (HALTED). */
  | { action: 'halt_run' }
  | { action: 'none' }

/**
 * Which of a run's tenants get a job now. A running run gets its first `maxConcurrency` pending tenants
 * (in target order): jobs are published as slots free up, so a pause, a cancel or a lowered limit holds
 * back what was never published. The repair itself enforces the limit (slots); this keeps the queue from
 * holding jobs that would only wait for one.
 */
export function planDispatch(run: RunState, halted: boolean): DispatchPlan {
  if (run.status !== 'running' || run.cancellation) return { action: 'none' }
  if (halted) return { action: 'halt_run' }
  return { action: 'dispatch', tenantIds: pendingTenants(run).slice(0, run.limits.maxConcurrency), generation: run.generation }
}
