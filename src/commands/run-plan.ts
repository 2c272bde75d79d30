import { runPlanLockName, whileHolding } from '../db/advisory-locks.js'
import type { Sql } from '../db/database.js'
import { streams } from '../events/index.js'
import type { RunbookCatalog } from '../runbooks/catalog.js'
import type { EventLog } from '../store/event-log.js'
import { handleCommand } from './handle-command.js'
import { computePreflight } from './preflight.js'
import { loadRun } from './run-execution.js'
import { runDecider } from './run/run-decider-definition.js'

export interface RunPlanDeps {
  sql: Sql
  log: EventLog
  catalog: Pick<RunbookCatalog, 'find'>
  /**
   * Whether planners take the run's plan lock: on PostgreSQL every worker process plans, and the lock makes
   * the others wait for the first and find the run planned instead of scanning it again. The embedded
   * database has one process and one connection, which the lock's transaction would hold from the scan.
   */
  planLock?: boolean
}

export type PlanOutcome =
  | { planned: true }
  /** The run has its plan already, ended before it, or does not exist: nothing to do. */
  | { planned: false; why: 'not_waiting' }
  /** This process does not know the run's runbook, or its parameters no longer validate: nothing recorded. */
  | { planned: false; why: 'runbook_unknown' }

/**
 * The plan of a run requested without one (a start over many tenants answers first, see
 * PLAN_IN_BACKGROUND_ABOVE): the runbook's preflight over the run's targets, recorded as RunPlanned. Its
 * tenants are dispatched only after it, so the counts are of the data before any of the run's repairs.
 */
export async function planRequestedRun(
  deps: RunPlanDeps,
  runId: string,
  /** The event being handled (the run's RunRequested); null when the plan is retried on a timer. */
  causationId: string | null = null,
  now: () => Date = () => new Date(),
): Promise<PlanOutcome> {
  return whileHolding(deps.sql, runPlanLockName(runId), deps.planLock ?? false, () => planUnlocked(deps, runId, causationId, now))
}

async function planUnlocked(deps: RunPlanDeps, runId: string, causationId: string | null, now: () => Date): Promise<PlanOutcome> {
  const run = await loadRun(deps.log, runId)
  // A run being cancelled completes without its plan (nothing of it was dispatched).
  if (run.status === 'none' || run.status === 'completed' || run.preflight !== null || run.cancellation) return { planned: false, why: 'not_waiting' }
  const runbook = deps.catalog.find(run.request.runbookKey)
  const parameters = runbook?.parameters.safeParse(run.request.parameters)
  if (!runbook || !parameters?.success) return { planned: false, why: 'runbook_unknown' }
  const { result } = await computePreflight(deps.sql, runbook, parameters.data, run.request.scope, run.request.tenantIds)
  const context = { correlationId: runId, causationId, initiator: { kind: 'system' as const, component: 'planner' as const } }
  const handled = await handleCommand(deps.log, streams.run(runId), runDecider, { type: 'RecordPlan', preflight: result, at: now().toISOString() }, context)
  return handled.events.length > 0 ? { planned: true } : { planned: false, why: 'not_waiting' }
}
