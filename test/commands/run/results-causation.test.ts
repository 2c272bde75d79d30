import { describe, expect, it } from 'vitest'
import { resultsContext, storedResultsCauses } from '../../../src/commands/run-execution.js'
import type { TenantOutcome } from '../../../src/commands/run/run-decider.js'
import type { DomainEvent } from '../../../src/events/index.js'

const runId = 'run-1'
const at = '2026-12-04T10:00:00.000Z'

function outcome(tenantId: number, causationId: string | null | undefined): TenantOutcome {
  return {
    tenantId,
    attempt: 1,
    result: { status: 'succeeded', total: 1, updated: 1 },
    startedAt: at,
    completedAt: at,
    ...(causationId === undefined ? {} : { causationId }),
  }
}

function processed(tenantId: number): DomainEvent {
  return {
    type: 'TenantProcessed',
    data: { runId, tenantId, attempt: 1, result: { status: 'succeeded', total: 1, updated: 1 }, processedAt: at, startedAt: at, completedAt: at },
  } as DomainEvent
}

describe('the causes of an append of results', () => {
  it("names each result's dispatching event, and the last result before what the results brought about", () => {
    const events: DomainEvent[] = [
      processed(7),
      processed(3),
      { type: 'RunPaused', data: { runId, reason: { reasonCode: 'ERROR_BUDGET_EXCEEDED', reasonText: 'too many failures' }, pausedAt: at } } as DomainEvent,
    ]
    const context = resultsContext(runId, [outcome(3, 'dispatch-b'), outcome(7, 'dispatch-a')], events)
    expect(context.eventIds).toHaveLength(3)
    expect(new Set(context.eventIds).size).toBe(3)
    expect(context.causationIds).toEqual(['dispatch-a', 'dispatch-b', context.eventIds![1]])
    expect(context).toMatchObject({ correlationId: runId, initiator: { kind: 'system', component: 'tenant-worker' } })
  })

  it('leaves the cause empty for a result of a job that named none (published by an earlier release)', () => {
    const events = [processed(5), { type: 'RunCompleted', data: { runId } } as unknown as DomainEvent]
    const context = resultsContext(runId, [outcome(5, undefined)], events)
    expect(context.causationIds).toEqual([null, context.eventIds![0]])
  })

  it("names a tenant's first outcome's cause when the batch holds two (the decider records the first)", () => {
    const context = resultsContext(runId, [outcome(4, 'first-dispatch'), outcome(4, 'redispatch')], [processed(4)])
    expect(context.causationIds).toEqual(['first-dispatch'])
  })

  it('gives the results a halt or a cancel records with its own events no cause, and its own events its cause', () => {
    const completed = { type: 'RunCompleted', data: { runId } } as unknown as DomainEvent
    expect(storedResultsCauses('cancelled-event', [processed(1), processed(2), completed])).toEqual([null, null, 'cancelled-event'])
    expect(storedResultsCauses(null, [processed(1), completed])).toEqual([null, null])
  })
})
