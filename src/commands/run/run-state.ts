import type { EventData, FailureEntry, RunOutcome, TenantResult } from '../../events/index.js'
import type { LoggedEvent } from '../../store/event-log.js'

export type RunStatusState = 'none' | 'queued' | 'running' | 'completed'

export interface RunState {
  status: RunStatusState
  request: EventData<'RunRequested'> | null
  /** Results recorded so far, by tenant id. */
  results: Map<number, TenantResult>
  outcome: RunOutcome
  /** How many times the reconciler re-dispatched pending tenants. */
  redispatchGeneration: number
  /** Time of the last event: the reconciler's measure of progress. */
  lastEventAt: Date | null
}

export const initialRunState = (): RunState => ({
  status: 'none',
  request: null,
  results: new Map(),
  outcome: 'pending',
  redispatchGeneration: 0,
  lastEventAt: null,
})

/** Pure: folds one event into the state. Events were validated on read; transitions were checked on write. */
export function evolveRun(state: RunState, logged: Pick<LoggedEvent, 'event'> & { recordedAt?: Date }): RunState {
  const { event } = logged
  const next: RunState = { ...state, lastEventAt: logged.recordedAt ?? state.lastEventAt }
  switch (event.type) {
    case 'RunRequested':
      return { ...next, status: 'queued', request: event.data }
    case 'RunStarted':
      return { ...next, status: 'running' }
    case 'TenantProcessed': {
      const results = new Map(state.results)
      results.set(event.data.tenantId, event.data.result)
      return { ...next, results }
    }
    case 'TenantJobsRedispatched':
      return { ...next, redispatchGeneration: event.data.generation }
    case 'RunCompleted':
      return { ...next, status: 'completed', outcome: event.data.outcome }
    default:
      return next
  }
}

export function pendingTenants(state: RunState): number[] {
  return (state.request?.tenantIds ?? []).filter((id) => !state.results.has(id))
}

export function failureSummaryOf(state: RunState): FailureEntry[] {
  const entries: FailureEntry[] = []
  for (const tenantId of state.request?.tenantIds ?? []) {
    const result = state.results.get(tenantId)
    if (result?.status === 'failed') entries.push({ tenantId, reasonCode: result.reasonCode, message: result.message })
  }
  return entries
}
