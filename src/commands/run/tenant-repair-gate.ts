import type { RunState } from './run-state.js'

export type RepairDecision =
  /** Repair the tenant, with at most `maxConcurrency` of the run's repairs at once. */
  | {
      action: 'repair'
      maxConcurrency: number
      parameters: Readonly<Record<string, unknown>>
      /** A revert run (SPEC §11): the run whose changes to put back, instead of the runbook's repair. */
      revertOf: string | null
    }
  /** Nothing to do for this job: ack it. A paused run's pending tenants are dispatched again on resume. */
  | {
      action: 'skip'
      why: 'unknown run' | 'not targeted' | 'already processed' | 'not started' | 'not planned' | 'paused' | 'cancelled' | 'completed' | 'canary first'
    }
  /** The deployment is halted but this run is not paused yet: pause it (HALTED), then ack. */
  | { action: 'halt_run' }

/**
 * DESIGN invariant 8: asked right before a tenant's repair, inside its transaction, with the run's state
 * and the halt as they are then. A pause, cancel or halt recorded before that moment is obeyed.
 */
export function decideTenantRepair(run: RunState, halted: boolean, tenantId: number): RepairDecision {
  if (run.status === 'none') return { action: 'skip', why: 'unknown run' }
  if (!run.targets.has(tenantId)) return { action: 'skip', why: 'not targeted' }
  if (run.results.has(tenantId)) return { action: 'skip', why: 'already processed' }
  if (run.status === 'completed') return { action: 'skip', why: 'completed' }
  if (run.cancellation) return { action: 'skip', why: 'cancelled' }
  if (run.status === 'paused') return { action: 'skip', why: 'paused' }
  if (run.status === 'queued' || run.status === 'awaiting_approval') return { action: 'skip', why: 'not started' }
  // No job is published before the plan; one that strays here anyway must not repair before the scan.
  if (run.preflight === null) return { action: 'skip', why: 'not planned' }
  if (halted) return { action: 'halt_run' }
  // A tenant outside the canary waits until no canary tenant is pending (its job is published then).
  if (run.canary && run.canary.pending > 0 && !run.canary.tenants.has(tenantId)) return { action: 'skip', why: 'canary first' }
  return { action: 'repair', maxConcurrency: run.limits.maxConcurrency, parameters: run.request.parameters, revertOf: run.request.revertOf }
}

/**
 * Whether a refusal concerns the run (paused, cancelled, halted, over...), and so every tenant after this one
 * in the same job, rather than this tenant alone (processed already, not targeted, waiting for the canary).
 */
export function refusesTheRun(decision: Exclude<RepairDecision, { action: 'repair' }>): boolean {
  if (decision.action === 'halt_run') return true
  return decision.why !== 'already processed' && decision.why !== 'not targeted' && decision.why !== 'canary first'
}
