import { streams, type Initiator, type TenantResult } from '../events/index.js'
import type { EventLog } from '../store/event-log.js'
import { handleCommand, type StreamStateCache } from './handle-command.js'
import { runDecider } from './run/run-decider-definition.js'
import { evolveRun, initialRunState, type RunState } from './run/run-state.js'

/** The commands the work path issues on a run. Each is load → decide → append; none holds a rule itself. */

type Component = Extract<Initiator, { kind: 'system' }>['component']

function systemContext(runId: string, component: Component, causationId: string | null) {
  return { correlationId: runId, causationId, initiator: { kind: 'system' as const, component } }
}

export async function loadRun(log: EventLog, runId: string): Promise<RunState> {
  const { events } = await log.read(streams.run(runId))
  return events.reduce(evolveRun, initialRunState())
}

/** The run's request (its first event), or null when the run does not exist. */
export async function loadRunRequest(log: EventLog, runId: string) {
  const [first] = await log.read(streams.run(runId), { maxCount: 1 }).then((r) => r.events)
  return first?.event.type === 'RunRequested' ? first.event.data : null
}

/** queued → running; a no-op for a run that is already running or completed. */
export async function markRunStarted(log: EventLog, runId: string, causationId: string | null): Promise<RunState> {
  const handled = await handleCommand(
    log,
    streams.run(runId),
    runDecider,
    { type: 'StartRun', at: new Date().toISOString() },
    systemContext(runId, 'dispatcher', causationId),
  )
  return handled.state
}

/** Records one tenant's result exactly once; the last one also completes the run in the same append. */
export async function recordTenantResult(
  log: EventLog,
  input: { runId: string; tenantId: number; attempt: number; result: TenantResult },
  cache?: StreamStateCache<RunState>,
): Promise<RunState> {
  const handled = await handleCommand(
    log,
    streams.run(input.runId),
    runDecider,
    {
      type: 'RecordTenantResult',
      tenantId: input.tenantId,
      attempt: input.attempt,
      result: input.result,
      at: new Date().toISOString(),
    },
    systemContext(input.runId, 'tenant-worker', null),
    cache,
  )
  return handled.state
}

/** Marks pending tenants of a stalled run for another dispatch; returns those marked and the new generation. */
export async function redispatchPendingTenants(
  log: EventLog,
  runId: string,
  tenantIds: number[],
): Promise<{ tenantIds: number[]; generation: number } | null> {
  const handled = await handleCommand(
    log,
    streams.run(runId),
    runDecider,
    { type: 'RedispatchPendingTenants', tenantIds, at: new Date().toISOString() },
    systemContext(runId, 'reconciler', null),
  )
  const event = handled.events[0]
  return event?.type === 'TenantJobsRedispatched'
    ? { tenantIds: event.data.tenantIds, generation: event.data.generation }
    : null
}
