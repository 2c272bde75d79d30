import type { Logger } from 'pino'
import type { Sql } from '../db/database.js'
import type { JobQueue, TenantJob } from '../queue/job-queue.js'
import type { EventLog, LoggedEvent } from '../store/event-log.js'
import { loadRun, markRunStarted } from '../commands/run-execution.js'
import { pendingTenants } from '../commands/run/run-state.js'
import { EventSubscription } from './event-subscription.js'
import { publishTenantJobs } from './job-publisher.js'

export interface DispatcherDeps {
  sql: Sql
  log: EventLog
  queue: JobQueue<TenantJob>
  logger: Logger
}

/** RunRequested → the run is started and one job per targeted tenant is published; re-dispatches likewise. */
export async function dispatchEvent(deps: DispatcherDeps, logged: LoggedEvent): Promise<void> {
  const { event } = logged
  if (event.type === 'RunRequested') {
    const state = await markRunStarted(deps.log, event.data.runId, logged.metadata.eventId)
    if (state.status !== 'running') return
    await publishTenantJobs(deps.queue, event.data, pendingTenants(state), 0)
  } else if (event.type === 'TenantJobsRedispatched') {
    const state = await loadRun(deps.log, event.data.runId)
    if (state.status !== 'running') return
    const stillPending = event.data.tenantIds.filter((id) => !state.results.has(id))
    await publishTenantJobs(deps.queue, state.request!, stillPending, event.data.generation)
  }
}

export function createDispatcher(deps: DispatcherDeps, options: { pollIntervalMs?: number } = {}): EventSubscription {
  return new EventSubscription({
    store: deps.log.store,
    sql: deps.sql,
    name: 'dispatcher',
    handle: (logged) => dispatchEvent(deps, logged),
    logger: deps.logger,
    ...options,
  })
}
