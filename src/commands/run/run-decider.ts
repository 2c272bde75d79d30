import type { DomainEvent, EventData, TenantResult } from '../../events/index.js'
import { InvalidTransitionError } from '../errors.js'
import { sanitizeFailureMessage } from './failure-message.js'
import { outcomeOf, summaryCountsOf } from './run-outcome.js'
import { failureSummaryOf, pendingTenants, type RunState } from './run-state.js'

export type RunCommand =
  | { type: 'RequestRun'; data: EventData<'RunRequested'> }
  | { type: 'StartRun'; at: string }
  | { type: 'RecordTenantResult'; tenantId: number; attempt: number; result: TenantResult; at: string }
  /** Re-dispatch these tenants (those not pending any more are ignored). */
  | { type: 'RedispatchPendingTenants'; tenantIds: number[]; at: string }

export class TenantNotTargetedError extends InvalidTransitionError {}

function completion(state: RunState, results: Map<number, TenantResult>, at: string): DomainEvent {
  const request = state.request!
  const ordered = request.tenantIds.map((id) => results.get(id)!)
  const completed = { ...state, results }
  return {
    type: 'RunCompleted',
    data: {
      runId: request.runId,
      outcome: outcomeOf(ordered),
      summaryCounts: summaryCountsOf(ordered, request.scope, request.tenantIds.length),
      failureSummary: failureSummaryOf(completed),
      completedAt: at,
    },
  }
}

/**
 * Pure: the events a command produces in a state, or a thrown domain error. Repeating a command whose
 * effect is already recorded (a redelivered job, a re-run dispatcher) produces no event, so every targeted
 * tenant is counted exactly once; the last tenant's result completes the run in the same append.
 */
export function decideRun(command: RunCommand, state: RunState): DomainEvent[] {
  switch (command.type) {
    case 'RequestRun': {
      if (state.status !== 'none') throw new InvalidTransitionError('RequestRun', state.status)
      const requested: DomainEvent = { type: 'RunRequested', data: command.data }
      if (command.data.tenantIds.length > 0) return [requested]
      // Nothing to dispatch: the run goes through its whole lifecycle at once.
      const queued: RunState = { ...state, status: 'queued', request: command.data }
      const started: DomainEvent = { type: 'RunStarted', data: { runId: command.data.runId, startedAt: command.data.requestedAt } }
      return [requested, started, completion(queued, new Map(), command.data.requestedAt)]
    }
    case 'StartRun': {
      if (state.status === 'none') throw new InvalidTransitionError('StartRun', state.status)
      if (state.status !== 'queued') return []
      return [{ type: 'RunStarted', data: { runId: state.request!.runId, startedAt: command.at } }]
    }
    case 'RecordTenantResult': {
      if (state.status === 'completed') {
        if (state.results.has(command.tenantId)) return []
        throw new InvalidTransitionError('RecordTenantResult', state.status)
      }
      if (state.status !== 'running') throw new InvalidTransitionError('RecordTenantResult', state.status)
      const request = state.request!
      if (!request.tenantIds.includes(command.tenantId)) {
        throw new TenantNotTargetedError(`RecordTenantResult(tenant ${command.tenantId})`, 'not targeting it')
      }
      if (state.results.has(command.tenantId)) return []
      const result: TenantResult =
        command.result.status === 'failed'
          ? { ...command.result, message: sanitizeFailureMessage(command.result.message) }
          : command.result
      const processed: DomainEvent = {
        type: 'TenantProcessed',
        data: {
          runId: request.runId,
          tenantId: command.tenantId,
          attempt: command.attempt,
          result,
          processedAt: command.at,
        },
      }
      const results = new Map(state.results)
      results.set(command.tenantId, result)
      if (results.size < request.tenantIds.length) return [processed]
      return [processed, completion(state, results, command.at)]
    }
    case 'RedispatchPendingTenants': {
      if (state.status !== 'running') throw new InvalidTransitionError('RedispatchPendingTenants', state.status)
      const asked = new Set(command.tenantIds)
      const pending = pendingTenants(state).filter((tenantId) => asked.has(tenantId))
      if (pending.length === 0) return []
      return [
        {
          type: 'TenantJobsRedispatched',
          data: {
            runId: state.request!.runId,
            tenantIds: pending,
            generation: state.redispatchGeneration + 1,
            redispatchedAt: command.at,
          },
        },
      ]
    }
  }
}
