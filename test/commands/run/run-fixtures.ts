import { randomUUID } from 'node:crypto'
import { encodeEvent, type DomainEvent, type EventData, type TenantResult } from '../../../src/events/index.js'
import { decideRun, type RunCommand } from '../../../src/commands/run/run-decider.js'
import { evolveRun, initialRunState, type ExistingRunState, type RunState } from '../../../src/commands/run/run-state.js'

/** Pure builders for run-decider tests: a request, commands, and a fold that behaves like handleCommand. */

export const REQUESTED_AT = '2025-01-06T09:00:00.000Z'
export const LATER = '2025-01-06T09:05:00.000Z'

export function runRequest(overrides: Partial<EventData<'RunRequested'>> = {}): EventData<'RunRequested'> {
  return {
    runId: '01JH0000000000000000000000',
    runbookKey: 'findings.lifecycle.backfill',
    scope: 'all_tenants',
    workspaceId: 1,
    targetTenantId: null,
    tenantIds: [11, 12, 13],
    source: 'cli',
    preflight: { affectedCount: 5, totalCount: 9, estimatedTenants: 3 },
    reason: { reasonCode: 'DATA_REPAIR', reasonText: 'repair lifecycle fields after the import' },
    initiator: { platformUserId: 'op-1', email: 'ada@example.com', name: 'Ada', isBreakGlass: false },
    runIdentityHash: 'a'.repeat(64),
    requestedAt: REQUESTED_AT,
    limits: { maxConcurrency: 4, maxFailures: null },
    parameters: {},
    pinnedPreflightId: null,
    canary: null,
    revertOf: null,
    retryOf: null,
    approvalRequired: false,
    ...overrides,
  }
}

export const requestRun = (data: EventData<'RunRequested'>): RunCommand => ({ type: 'RequestRun', data })
export const startRun: RunCommand = { type: 'StartRun', at: LATER }
export const record = (tenantId: number, result: TenantResult, attempt = 1): RunCommand => ({
  type: 'RecordTenantResults',
  results: [{ tenantId, attempt, result, startedAt: null, completedAt: null }],
  at: LATER,
})
export const succeeded = (total: number, updated: number): TenantResult => ({ status: 'succeeded', total, updated })
export const failed = (reasonCode: Extract<TenantResult, { status: 'failed' }>['reasonCode'], message = 'it broke'): TenantResult => ({
  status: 'failed',
  reasonCode,
  message,
})

/** Decides, checks every decided event against its schema (as the append would), and folds them. */
export function apply(state: RunState, command: RunCommand): { events: DomainEvent[]; state: RunState } {
  const events = decideRun(command, state)
  for (const event of events) expectStorable(event)
  return { events, state: events.reduce((s, event) => evolveRun(s, { event }), state) }
}

/** Applies commands in order from the initial state; returns the final state and every event decided. */
export function run(commands: RunCommand[]): { events: DomainEvent[]; state: RunState } {
  let state = initialRunState()
  const events: DomainEvent[] = []
  for (const command of commands) {
    const applied = apply(state, command)
    events.push(...applied.events)
    state = applied.state
  }
  return { events, state }
}

/** Throws InvalidEventError when the event would be refused on write (e.g. a summary key not in SPEC §3). */
export function expectStorable(event: DomainEvent): void {
  encodeEvent(event, {
    eventId: randomUUID(),
    correlationId: 'run',
    causationId: null,
    initiator: { kind: 'system', component: 'tenant-worker' },
    occurredAt: LATER,
  })
}

export function eventsOfType<T extends DomainEvent['type']>(events: DomainEvent[], type: T): Extract<DomainEvent, { type: T }>[] {
  return events.filter((event): event is Extract<DomainEvent, { type: T }> => event.type === type)
}

/** Captures what a function throws (undefined when it returns). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return undefined
}

/** The state of a run that exists (fails the test otherwise), to read its facts. */
export function existing(state: RunState): ExistingRunState {
  if (state.status === 'none') throw new Error('expected a run that exists')
  return state
}
