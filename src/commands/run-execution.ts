import { randomUUID } from 'node:crypto'
import { streams, type DomainEvent, type Initiator } from '../events/index.js'
import type { AppendContext, EventLog } from '../store/event-log.js'
import { handleCommand, loadState, type StreamStateCache } from './handle-command.js'
import type { TenantOutcome } from './run/run-decider.js'
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

/** The run's request (its first event), or null when the run does not exist: all an access check needs. */
export async function loadRunRequest(log: EventLog, runId: string) {
  const [first] = (await log.read(streams.run(runId), { maxCount: 1 })).events
  return first?.event.type === 'RunRequested' ? first.event.data : null
}

/** The run's state, reading only the events after the cached fold (a hot run is read a few events at a time). */
export async function loadRunCached(log: EventLog, runId: string, cache: StreamStateCache<RunState>): Promise<RunState> {
  return (await loadState(log, streams.run(runId), runDecider, cache)).state
}

/** queued → running; a no-op for a run that is past it. */
export async function markRunStarted(log: EventLog, runId: string, causationId: string | null, component: Component = 'dispatcher'): Promise<RunState> {
  const handled = await handleCommand(
    log,
    streams.run(runId),
    runDecider,
    { type: 'StartRun', at: new Date().toISOString() },
    systemContext(runId, component, causationId),
  )
  return handled.state
}

/**
 * Records tenants' results, each exactly once, in one append (a result already recorded is a no-op); the
 * last one may complete the run in the same append.
 */
export async function recordTenantResults(
  log: EventLog,
  runId: string,
  results: TenantOutcome[],
  cache?: StreamStateCache<RunState>,
): Promise<RunState> {
  const handled = await handleCommand(
    log,
    streams.run(runId),
    runDecider,
    { type: 'RecordTenantResults', results, at: new Date().toISOString() },
    (events) => resultsContext(runId, results, events),
    cache,
  )
  return handled.state
}

/**
 * Each event's cause in an append of results: a TenantProcessed names the event that dispatched its tenant's
 * job; what the results brought about in the same append (the run's completion, a pause over its error budget
 * or for its canary) names the last TenantProcessed before it.
 */
export function resultsContext(runId: string, results: readonly TenantOutcome[], events: readonly DomainEvent[]): AppendContext {
  // A tenant's first outcome is the one the decider records (a later one, from a job delivered again, is a no-op).
  const dispatchedBy = new Map<number, string | null>()
  for (const outcome of results) if (!dispatchedBy.has(outcome.tenantId)) dispatchedBy.set(outcome.tenantId, outcome.causationId ?? null)
  const eventIds = events.map(() => randomUUID())
  let lastResult: string | null = null
  const causationIds = events.map((event, index) => {
    if (event.type !== 'TenantProcessed') return lastResult
    lastResult = eventIds[index]!
    return dispatchedBy.get(event.data.tenantId) ?? null
  })
  return { ...systemContext(runId, 'tenant-worker', null), eventIds, causationIds }
}

/**
 * Each event's cause in an append that answers `cause` (a halt, a cancel) and records, before its own events,
 * results stored beside repairs: those name none (what dispatched their jobs is not stored with them).
 */
export function storedResultsCauses(cause: string | null, events: readonly DomainEvent[]): Array<string | null> {
  return events.map((event) => (event.type === 'TenantProcessed' ? null : cause))
}

/** Completes a cancelled run with the results stored beside repairs that its stream may still lack. */
export async function completeCancelledRun(log: EventLog, runId: string, stored: TenantOutcome[], causationId: string | null = null): Promise<RunState> {
  const handled = await handleCommand(
    log,
    streams.run(runId),
    runDecider,
    { type: 'CompleteCancelledRun', stored, at: new Date().toISOString() },
    (events) => ({ ...systemContext(runId, 'tenant-worker', causationId), causationIds: storedResultsCauses(causationId, events) }),
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
