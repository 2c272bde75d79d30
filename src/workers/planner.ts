import type { Logger } from 'pino'
import { isStatementError } from '../db/database.js'
import { planRequestedRun, type RunPlanDeps } from '../commands/run-plan.js'
import type { LoggedEvent } from '../store/event-log.js'
import { EventSubscription } from './event-subscription.js'
import { runLogger } from './work-log.js'

export interface PlannerDeps extends RunPlanDeps {
  logger: Logger
}

/**
 * Plans the runs whose start answered before their plan (RunRequested with `preflight: null`), one after
 * the other in the order they were requested. The database away fails the batch, which the subscription
 * reads again; a run planned meanwhile by another process is a no-op.
 */
export function createPlanner(deps: PlannerDeps, options: { pollIntervalMs?: number } = {}): EventSubscription {
  return new EventSubscription({
    store: deps.log.store,
    sql: deps.sql,
    name: 'planner',
    handle: async (events: readonly LoggedEvent[]) => {
      for (const { event, metadata } of events) {
        if (event.type !== 'RunRequested' || event.data.preflight !== null) continue
        const runId = event.data.runId
        const log = runLogger(deps.logger, runId, event.data.targetTenantId)
        try {
          const outcome = await planRequestedRun(deps, runId, metadata.eventId)
          if (!outcome.planned && outcome.why === 'runbook_unknown') {
            log.error({ runbook: event.data.runbookKey }, 'run not planned: its runbook or parameters are not known to this process')
          }
        } catch (error) {
          // The database away: every plan would fail, read the batch again. A statement of this run's scan
          // failing (a timeout on a huge tenant) must not hold up the plans of the runs after it: the
          // reconciler plans it again once it has waited long enough.
          if (!isStatementError(error)) throw error
          log.error({ err: error }, 'planning a run failed; the reconciler tries again')
        }
      }
    },
    logger: deps.logger,
    // Appends come in bursts (every tenant result); a plan waited for is waited for in seconds.
    coalesceMs: 100,
    ...options,
  })
}

