import type { Logger } from 'pino'
import { planRequestedRun, type RunPlanDeps } from '../commands/run-plan.js'
import type { LoggedEvent } from '../store/event-log.js'
import { EventSubscription } from './event-subscription.js'

export interface PlannerDeps extends RunPlanDeps {
  logger: Logger
}

/**
 * Plans the runs whose start answered before their plan (RunRequested with `preflight: null`), one after
 * the other in the order they were requested. A scan that fails (the database went away) fails the batch,
 * which the subscription reads again; a run planned meanwhile by another process is a no-op.
 */
export function createPlanner(deps: PlannerDeps, options: { pollIntervalMs?: number } = {}): EventSubscription {
  return new EventSubscription({
    store: deps.log.store,
    sql: deps.sql,
    name: 'planner',
    handle: async (events: readonly LoggedEvent[]) => {
      for (const { event } of events) {
        if (event.type !== 'RunRequested' || event.data.preflight !== null) continue
        const outcome = await planRequestedRun(deps, event.data.runId)
        if (!outcome.planned && outcome.why === 'runbook_unknown') {
          deps.logger.error({ runId: event.data.runId, runbook: event.data.runbookKey }, 'run not planned: its runbook or parameters are not known to this process')
        }
      }
    },
    logger: deps.logger,
    // Appends come in bursts (every tenant result); a plan waited for is waited for in seconds.
    coalesceMs: 100,
    ...options,
  })
}
