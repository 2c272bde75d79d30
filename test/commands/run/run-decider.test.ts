import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidTransitionError } from '../../../src/commands/errors.js'
import { sanitizeFailureMessage } from '../../../src/commands/run/failure-message.js'
import { decideRun, TenantNotTargetedError } from '../../../src/commands/run/run-decider.js'
import { initialRunState, pendingTenants } from '../../../src/commands/run/run-state.js'
import type { TenantResult } from '../../../src/events/index.js'
import type { RunCommand } from '../../../src/commands/run/run-decider.js'
import {
  apply,
  eventsOfType,
  existing,
  failed,
  LATER,
  record,
  requestRun,
  run,
  runRequest,
  startRun,
  succeeded,
  thrown,
} from './run-fixtures.js'

const request = runRequest({ tenantIds: [11, 12, 13] })
const queued = () => run([requestRun(request)]).state
const running = () => run([requestRun(request), startRun]).state

describe('run decider: RequestRun', () => {
  it('requests a run on a new stream, which is then queued', () => {
    const { events, state } = run([requestRun(request)])
    expect(events).toEqual([{ type: 'RunRequested', data: request }])
    expect(state.status).toBe('queued')
    expect(state.status === 'queued' && state.outcome).toBe('pending')
  })

  it('rejects a second request on the same stream, whatever the run became', () => {
    for (const state of [queued(), running()]) {
      const error = thrown(() => decideRun(requestRun(request), state))
      expect(error).toBeInstanceOf(InvalidTransitionError)
    }
  })

  it('completes a zero-tenant all-tenants run at request time, in the same decision', () => {
    const empty = runRequest({ tenantIds: [], preflight: { affectedCount: 0, totalCount: 0, estimatedTenants: 0 } })
    const { events, state } = run([requestRun(empty)])
    expect(events.map((e) => e.type)).toEqual(['RunRequested', 'RunStarted', 'RunCompleted'])
    expect(eventsOfType(events, 'RunCompleted')[0]!.data).toEqual({
      runId: empty.runId,
      outcome: 'succeeded',
      summaryCounts: { total: 0, processed: 0, updated: 0, skipped: 0, failed: 0, tenants: 0 },
      failureSummary: [],
      completedAt: empty.requestedAt,
    })
    expect(state.status).toBe('completed')
    expect(thrown(() => decideRun(startRun, state))).toBeUndefined()
    expect(decideRun(startRun, state)).toEqual([])
  })
})

describe('run decider: StartRun', () => {
  it('moves a queued run to running', () => {
    const { events, state } = apply(queued(), startRun)
    expect(events).toEqual([{ type: 'RunStarted', data: { runId: request.runId, startedAt: LATER } }])
    expect(state.status).toBe('running')
  })

  it('is a no-op on a running or a completed run (a re-run dispatcher)', () => {
    expect(decideRun(startRun, running())).toEqual([])
    const completed = run([requestRun(runRequest({ tenantIds: [11] })), startRun, record(11, succeeded(1, 1))]).state
    expect(completed.status).toBe('completed')
    expect(decideRun(startRun, completed)).toEqual([])
  })

  it('is rejected on a run that was never requested', () => {
    expect(thrown(() => decideRun(startRun, initialRunState()))).toBeInstanceOf(InvalidTransitionError)
  })
})

describe('run decider: RecordTenantResult', () => {
  it('is rejected before the run started and on a run that does not exist', () => {
    expect(thrown(() => decideRun(record(11, succeeded(1, 1)), queued()))).toBeInstanceOf(InvalidTransitionError)
    expect(thrown(() => decideRun(record(11, succeeded(1, 1)), initialRunState()))).toBeInstanceOf(InvalidTransitionError)
  })

  it('rejects a tenant the run does not target', () => {
    const error = thrown(() => decideRun(record(99, succeeded(1, 1)), running()))
    expect(error).toBeInstanceOf(TenantNotTargetedError)
    expect(error).toBeInstanceOf(InvalidTransitionError)
  })

  it('records a tenant once: the same tenant again produces no event and is counted once', () => {
    const first = apply(running(), record(11, succeeded(4, 2)))
    expect(first.events).toEqual([
      {
        type: 'TenantProcessed',
        data: { runId: request.runId, tenantId: 11, attempt: 1, result: succeeded(4, 2), processedAt: LATER, startedAt: null, completedAt: null },
      },
    ])
    // A redelivered job, even with another attempt number and another result, changes nothing.
    expect(decideRun(record(11, succeeded(4, 2), 2), first.state)).toEqual([])
    expect(decideRun(record(11, failed('TIMEOUT'), 3), first.state)).toEqual([])
    expect(existing(first.state).results.get(11)).toEqual(succeeded(4, 2))
    expect(pendingTenants(first.state)).toEqual([12, 13])
  })

  it('completes the run with the last tenant: TenantProcessed and RunCompleted in one decision', () => {
    // A message of the failure vocabulary (as the worker stores it) reaches the summary unchanged.
    const deadlock = 'database error SQLSTATE 40P01: deadlock detected'
    let state = running()
    state = apply(state, record(12, succeeded(10, 3))).state
    state = apply(state, record(11, failed('DB_ERROR', deadlock))).state
    const last = apply(state, record(13, succeeded(5, 0)))
    expect(last.events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunCompleted'])
    expect(eventsOfType(last.events, 'RunCompleted')[0]!.data).toEqual({
      runId: request.runId,
      outcome: 'partially_succeeded',
      summaryCounts: { total: 15, processed: 15, updated: 3, skipped: 12, failed: 1, tenants: 3 },
      // in the order the run targeted the tenants, not the order they finished
      failureSummary: [{ tenantId: 11, reasonCode: 'DB_ERROR', message: deadlock }],
      completedAt: LATER,
    })
    expect(last.state.status).toBe('completed')
    expect(existing(last.state).outcome).toBe('partially_succeeded')
  })

  it('after completion, a result for a recorded tenant is a no-op and any other is rejected', () => {
    const completed = run([requestRun(runRequest({ tenantIds: [11] })), startRun, record(11, succeeded(2, 1))]).state
    expect(decideRun(record(11, succeeded(2, 1), 2), completed)).toEqual([])
    expect(decideRun(record(11, failed('UNKNOWN'), 2), completed)).toEqual([])
    expect(thrown(() => decideRun(record(12, succeeded(2, 1)), completed))).toBeInstanceOf(InvalidTransitionError)
  })

  it('sanitizes failure messages before they reach TenantProcessed and the failure summary', () => {
    const raw =
      'connection to postgres://repair:hunter2@db.internal:5432/platform failed: password=hunter2\n    at Socket.connect (node:net:1:1)'
    const { events } = run([requestRun(runRequest({ tenantIds: [11] })), startRun, record(11, failed('DB_ERROR', raw))])
    const processed = eventsOfType(events, 'TenantProcessed')[0]!.data.result
    const summary = eventsOfType(events, 'RunCompleted')[0]!.data.failureSummary
    expect(processed).toEqual({ status: 'failed', reasonCode: 'DB_ERROR', message: sanitizeFailureMessage(raw) })
    expect(summary).toEqual([{ tenantId: 11, reasonCode: 'DB_ERROR', message: sanitizeFailureMessage(raw) }])
    for (const text of [JSON.stringify(processed), JSON.stringify(summary)]) {
      expect(text).not.toContain('hunter2')
      expect(text).not.toContain('db.internal')
      expect(text).not.toContain('node:net')
    }
  })

  it('bounds a huge failure message so the event stays storable', () => {
    const { events } = run([
      requestRun(runRequest({ tenantIds: [11] })),
      startRun,
      record(11, failed('UNKNOWN', 'boom '.repeat(2_000))),
    ])
    const result = eventsOfType(events, 'TenantProcessed')[0]!.data.result
    expect(result.status === 'failed' && result.message.length).toBeLessThanOrEqual(300)
  })
})

describe('run decider: RedispatchPendingTenants', () => {
  it('names the pending tenants with a new generation, and nothing once all are recorded', () => {
    let state = apply(running(), record(12, succeeded(1, 0))).state
    const first = apply(state, { type: 'RedispatchPendingTenants', tenantIds: [11, 12, 13], at: LATER })
    expect(first.events).toEqual([
      { type: 'TenantJobsRedispatched', data: { runId: request.runId, tenantIds: [11, 13], generation: 1, redispatchedAt: LATER } },
    ])
    const second = apply(first.state, { type: 'RedispatchPendingTenants', tenantIds: [11, 13], at: LATER })
    expect(eventsOfType(second.events, 'TenantJobsRedispatched')[0]!.data.generation).toBe(2)
    state = apply(second.state, record(11, succeeded(1, 0))).state
    state = apply(state, record(13, succeeded(1, 0))).state
    expect(thrown(() => decideRun({ type: 'RedispatchPendingTenants', tenantIds: [11], at: LATER }, state))).toBeInstanceOf(InvalidTransitionError)
    expect(thrown(() => decideRun({ type: 'RedispatchPendingTenants', tenantIds: [11], at: LATER }, queued()))).toBeInstanceOf(InvalidTransitionError)
  })

  it('re-dispatches only the asked tenants that are still pending, and nothing when none is', () => {
    const state = apply(running(), record(12, succeeded(1, 0))).state
    const some = apply(state, { type: 'RedispatchPendingTenants', tenantIds: [12, 13], at: LATER })
    expect(eventsOfType(some.events, 'TenantJobsRedispatched')[0]!.data.tenantIds).toEqual([13])
    expect(apply(state, { type: 'RedispatchPendingTenants', tenantIds: [12], at: LATER }).events).toEqual([])
  })
})

const reasonCodes = ['INVALID_DATA', 'TENANT_LOCKED', 'TENANT_NOT_ALLOWED', 'TIMEOUT', 'DB_ERROR', 'UNKNOWN'] as const

const tenantResult: fc.Arbitrary<TenantResult> = fc.oneof(
  fc
    .record({ total: fc.nat(1_000), updatedShare: fc.double({ min: 0, max: 1, noNaN: true }) })
    .map(({ total, updatedShare }) => succeeded(total, Math.floor(total * updatedShare))),
  fc
    .record({ reasonCode: fc.constantFrom(...reasonCodes), message: fc.string({ maxLength: 60 }) })
    .map(({ reasonCode, message }) => failed(reasonCode, message)),
)

/** N tenants, each recorded at least once, plus duplicate recordings (with other results), in any order. */
const recordingScenario = fc
  .record({
    tenantIds: fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 8 }),
    scope: fc.constantFrom('single_tenant' as const, 'all_tenants' as const),
  })
  .chain(({ tenantIds, scope }) =>
    fc
      .record({
        firsts: fc.array(tenantResult, { minLength: tenantIds.length, maxLength: tenantIds.length }),
        duplicates: fc.array(fc.record({ index: fc.nat(tenantIds.length - 1), result: tenantResult }), { maxLength: 12 }),
      })
      .chain(({ firsts, duplicates }) => {
        const recordings = [
          ...tenantIds.map((tenantId, index) => ({ tenantId, result: firsts[index]! })),
          ...duplicates.map(({ index, result }) => ({ tenantId: tenantIds[index]!, result })),
        ]
        return fc
          .shuffledSubarray(recordings, { minLength: recordings.length, maxLength: recordings.length })
          .map((order) => ({ tenantIds, scope, order }))
      }),
  )

describe('run decider: every tenant counted exactly once (property)', () => {
  it('any order of results with duplicates yields N TenantProcessed, one RunCompleted and summed counts', () => {
    fc.assert(
      fc.property(recordingScenario, ({ tenantIds, scope, order }) => {
        const requestData = runRequest({ tenantIds, scope, targetTenantId: scope === 'single_tenant' ? tenantIds[0]! : null })
        const { events, state } = run([
          requestRun(requestData),
          startRun,
          ...order.map(({ tenantId, result }, attempt) => record(tenantId, result, attempt + 1)),
        ])

        // The first recording of each tenant is the one that counts.
        const counted = new Map<number, TenantResult>()
        for (const { tenantId, result } of order) if (!counted.has(tenantId)) counted.set(tenantId, result)

        const processed = eventsOfType(events, 'TenantProcessed')
        expect(processed).toHaveLength(tenantIds.length)
        expect(new Set(processed.map((e) => e.data.tenantId))).toEqual(new Set(tenantIds))
        const completed = eventsOfType(events, 'RunCompleted')
        expect(completed).toHaveLength(1)
        // Recordings after completion add nothing, so the completion is always the last event.
        expect(events.at(-1)?.type).toBe('RunCompleted')
        expect(state.status).toBe('completed')

        const results = [...counted.values()]
        const successes = results.filter((r) => r.status === 'succeeded')
        const total = successes.reduce((sum, r) => sum + r.total, 0)
        const updated = successes.reduce((sum, r) => sum + r.updated, 0)
        const expectedCounts = {
          total,
          processed: total,
          updated,
          skipped: total - updated,
          failed: results.length - successes.length,
          ...(scope === 'all_tenants' ? { tenants: tenantIds.length } : {}),
        }
        expect(completed[0]!.data.summaryCounts).toEqual(expectedCounts)
        expect(completed[0]!.data.failureSummary.map((f) => f.tenantId)).toEqual(
          tenantIds.filter((id) => counted.get(id)!.status === 'failed'),
        )
        for (const event of processed) {
          const first = counted.get(event.data.tenantId)!
          expect(event.data.result).toEqual(
            first.status === 'failed' ? { ...first, message: sanitizeFailureMessage(first.message) } : first,
          )
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('run decider: results recorded in batches (property)', () => {
  it('a batch decides exactly the events its results decide one by one: pauses, canary and completion included', () => {
    fc.assert(
      fc.property(
        recordingScenario,
        fc.option(fc.nat(3), { nil: null }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 20 }),
        ({ tenantIds, scope, order }, maxFailures, withCanary, cuts) => {
          const requestData = runRequest({
            tenantIds,
            scope,
            targetTenantId: scope === 'single_tenant' ? tenantIds[0]! : null,
            limits: { maxConcurrency: 4, maxFailures },
            canary: withCanary ? { tenantIds: tenantIds.slice(0, 1), autoPromote: false } : null,
          })
          const outcomes = order.map(({ tenantId, result }, index) => ({ tenantId, result, attempt: index + 1, startedAt: null, completedAt: null }))
          const oneByOne = run([requestRun(requestData), startRun, ...outcomes.map((o) => record(o.tenantId, o.result, o.attempt))])
          // The same results cut into batches of random sizes.
          const batches: RunCommand[] = []
          for (let at = 0, cut = 0; at < outcomes.length; cut++) {
            const size = cuts[cut % cuts.length]!
            batches.push({ type: 'RecordTenantResults', results: outcomes.slice(at, at + size), at: LATER })
            at += size
          }
          const batched = run([requestRun(requestData), startRun, ...batches])
          expect(batched.events).toEqual(oneByOne.events)
          expect(batched.state.status).toBe(oneByOne.state.status)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('refuses a batch naming a tenant the run does not target, appending none of it', () => {
    const state = running()
    expect(() =>
      decideRun(
        {
          type: 'RecordTenantResults',
          results: [
            { tenantId: 11, attempt: 1, result: succeeded(1, 1), startedAt: null, completedAt: null },
            { tenantId: 99, attempt: 1, result: succeeded(1, 1), startedAt: null, completedAt: null },
          ],
          at: LATER,
        },
        state,
      ),
    ).toThrow(TenantNotTargetedError)
  })
})
