import { recordTenantResults } from '../../src/commands/run-execution.js'
import type { StreamStateCache } from '../../src/commands/handle-command.js'
import type { TenantOutcome } from '../../src/commands/run/run-decider.js'
import type { RunState } from '../../src/commands/run/run-state.js'
import type { EventLog } from '../../src/store/event-log.js'

/** One tenant's result recorded as the worker records it: a batch of one. */
export function recordTenantResult(log: EventLog, input: { runId: string } & TenantOutcome, cache?: StreamStateCache<RunState>): Promise<RunState> {
  const { runId, ...outcome } = input
  return recordTenantResults(log, runId, [outcome], cache)
}
