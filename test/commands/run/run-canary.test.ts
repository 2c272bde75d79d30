import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidTransitionError, ValidationError } from '../../../src/commands/errors.js'
import { resolveCanary } from '../../../src/commands/plan/canary.js'
import { planDispatch } from '../../../src/commands/run/dispatch-plan.js'
import { canaryStateOf, dispatchWindow, evolveRun, initialRunState, type RunState } from '../../../src/commands/run/run-state.js'
import { decideTenantRepair } from '../../../src/commands/run/tenant-repair-gate.js'
import type { RunCommand } from '../../../src/commands/run/run-decider.js'
import { apply, failed, LATER, record, requestRun, run, runRequest, startRun, succeeded, thrown } from './run-fixtures.js'

/** SPEC §11 canary tenants: repaired first and alone, then the run goes on or pauses. */

const resume: RunCommand = { type: 'ResumeRun', reason: null, halted: false, at: LATER }
const canaryRun = (canary: { tenantIds: number[]; autoPromote: boolean }, tenantIds = [11, 12, 13, 14, 15], maxConcurrency = 4) =>
  run([requestRun(runRequest({ tenantIds, canary, limits: { maxConcurrency, maxFailures: null } })), startRun]).state

const pauseReasonOf = (state: RunState) => (state.status === 'paused' ? state.pause.reasonCode : null)

describe('a run with a canary', () => {
  it('dispatches only the canary tenants until they are all processed', () => {
    const state = canaryRun({ tenantIds: [12, 14], autoPromote: true })
    expect(dispatchWindow(state)).toEqual([12, 14])
    // One tenant a job while the canary is pending, however small the run's tenants (these have 3 findings).
    expect(planDispatch(state, false)).toEqual({
      action: 'dispatch',
      jobs: [
        { key: '12', tenantIds: [12] },
        { key: '14', tenantIds: [14] },
      ],
      generation: 0,
    })
    const oneDone = apply(state, record(12, succeeded(3, 1))).state
    expect(dispatchWindow(oneDone)).toEqual([14])
    expect(canaryStateOf(oneDone)).toBe('running')
  })

  it('never repairs a tenant outside the canary while a canary tenant is pending (a stray job is skipped)', () => {
    const state = canaryRun({ tenantIds: [12], autoPromote: true })
    expect(decideTenantRepair(state, false, 11)).toEqual({ action: 'skip', why: 'canary first' })
    expect(decideTenantRepair(state, false, 12)).toMatchObject({ action: 'repair' })
    const passed = apply(state, record(12, succeeded(3, 1))).state
    expect(decideTenantRepair(passed, false, 11)).toMatchObject({ action: 'repair' })
  })

  it('pauses CANARY_COMPLETE when the canary succeeded and the run does not promote itself; resume repairs the rest', () => {
    const state = canaryRun({ tenantIds: [12, 14], autoPromote: false })
    const afterFirst = apply(state, record(14, succeeded(2, 2)))
    expect(afterFirst.events.map((e) => e.type)).toEqual(['TenantProcessed'])
    const afterCanary = apply(afterFirst.state, record(12, succeeded(5, 1)))
    expect(afterCanary.events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunPaused'])
    expect(pauseReasonOf(afterCanary.state)).toBe('CANARY_COMPLETE')
    expect(canaryStateOf(afterCanary.state)).toBe('passed')
    expect(planDispatch(afterCanary.state, false)).toEqual({ action: 'none' })
    const resumed = apply(afterCanary.state, resume).state
    expect(dispatchWindow(resumed)).toEqual([11, 13, 15])
  })

  it('goes on with the rest by itself when autoPromote', () => {
    const state = canaryRun({ tenantIds: [12], autoPromote: true })
    const { events, state: after } = apply(state, record(12, succeeded(5, 1)))
    expect(events.map((e) => e.type)).toEqual(['TenantProcessed'])
    expect(after.status).toBe('running')
    expect(dispatchWindow(after)).toEqual([11, 13, 14, 15])
  })

  it('pauses CANARY_FAILED at the first canary failure, even with autoPromote, and only once', () => {
    const state = canaryRun({ tenantIds: [12, 14], autoPromote: true })
    const first = apply(state, record(12, failed('INVALID_DATA')))
    expect(first.events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunPaused'])
    expect(pauseReasonOf(first.state)).toBe('CANARY_FAILED')
    expect(canaryStateOf(first.state)).toBe('failed')
    // The other canary tenant's repair was in flight: it is recorded, the run stays paused as it was.
    const second = apply(first.state, record(14, failed('INVALID_DATA')))
    expect(second.events.map((e) => e.type)).toEqual(['TenantProcessed'])
    // An operator who looked at the results resumes: the rest is repaired, the canary stays failed.
    const resumed = apply(second.state, resume).state
    expect(dispatchWindow(resumed)).toEqual([11, 13, 15])
    expect(canaryStateOf(resumed)).toBe('failed')
  })

  it('a canary settled while the run was paused by an operator takes the canary reason (its alert, its checkpoint)', () => {
    const pause: RunCommand = { type: 'PauseRun', reason: { reasonCode: 'INCIDENT', reasonText: 'looking at the first results' }, at: LATER }
    const failing = apply(canaryRun({ tenantIds: [12, 14], autoPromote: true }), pause).state
    const afterFailure = apply(failing, record(12, failed('INVALID_DATA')))
    expect(afterFailure.events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunPaused'])
    expect(pauseReasonOf(afterFailure.state)).toBe('CANARY_FAILED')
    const passing = apply(canaryRun({ tenantIds: [12], autoPromote: false }), pause).state
    expect(pauseReasonOf(apply(passing, record(12, succeeded(1, 1))).state)).toBe('CANARY_COMPLETE')
    // Promoting itself, a passed canary leaves the operator's pause as it was.
    const promoting = apply(canaryRun({ tenantIds: [12], autoPromote: true }), pause).state
    const promoted = apply(promoting, record(12, succeeded(1, 1)))
    expect(promoted.events.map((e) => e.type)).toEqual(['TenantProcessed'])
    expect(pauseReasonOf(promoted.state)).toBe('INCIDENT')
  })

  it('completes without a canary pause when the canary was every target', () => {
    const state = canaryRun({ tenantIds: [11, 12], autoPromote: false }, [11, 12])
    apply(state, record(11, succeeded(1, 1)))
    const { events } = apply(apply(state, record(11, succeeded(1, 1))).state, record(12, succeeded(1, 0)))
    expect(events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunCompleted'])
  })

  it('processes exactly n tenants before the pause, for any canary of n and any order of results (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }).chain((targets) =>
          fc.record({
            targets: fc.constant(targets),
            canary: fc.subarray(Array.from({ length: targets }, (_, i) => 100 + i), { minLength: 1, maxLength: targets - 1 }),
            maxConcurrency: fc.integer({ min: 1, max: 5 }),
            seed: fc.integer(),
          }),
        ),
        ({ targets, canary, maxConcurrency, seed }) => {
          const tenantIds = Array.from({ length: targets }, (_, i) => 100 + i)
          let state = canaryRun({ tenantIds: canary, autoPromote: false }, tenantIds, maxConcurrency)
          let processed = 0
          let pick = Math.abs(seed)
          // Repair whatever the dispatcher would publish, in a shuffled order, until it publishes nothing.
          for (;;) {
            const plan = planDispatch(state, false)
            const window = plan.action === 'dispatch' ? plan.jobs.flatMap((job) => job.tenantIds) : []
            if (window.length === 0) break
            const tenantId = window[pick++ % window.length]!
            expect(canary).toContain(tenantId)
            state = apply(state, record(tenantId, succeeded(1, 1))).state
            processed++
          }
          expect(processed).toBe(canary.length)
          expect(pauseReasonOf(state)).toBe('CANARY_COMPLETE')
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe("the canary's progress, kept as results are folded", () => {
  /** The canary's state as SPEC §11 defines it, read off the recorded results (the fold keeps counts instead). */
  function canaryStateFromResults(state: RunState): 'running' | 'passed' | 'failed' | null {
    if (state.status === 'none' || !state.request.canary) return null
    const results = state.request.canary.tenantIds.map((tenantId) => state.results.get(tenantId))
    if (results.some((result) => result?.status === 'failed')) return 'failed'
    return results.some((result) => result === undefined) ? 'running' : 'passed'
  }

  it('agrees with the results after every event, a tenant recorded again (a replayed race) included (property)', () => {
    const targets = [11, 12, 13, 14, 15, 16]
    fc.assert(
      fc.property(
        fc.subarray(targets, { minLength: 1 }),
        fc.array(fc.record({ tenantId: fc.constantFrom(...targets), failed: fc.boolean() }), { maxLength: 20 }),
        (canary, results) => {
          let state = canaryRun({ tenantIds: canary, autoPromote: true }, targets)
          for (const [index, { tenantId, failed: didFail }] of results.entries()) {
            const result = didFail ? failed('INVALID_DATA') : succeeded(3, 1)
            state = evolveRun(state, {
              event: { type: 'TenantProcessed', data: { runId: 'run-canary', tenantId, attempt: index + 1, result, processedAt: LATER, startedAt: null, completedAt: null } },
            })
            expect(canaryStateOf(state)).toBe(canaryStateFromResults(state))
            const outside = targets.find((id) => !canary.includes(id))
            const running = state.status === 'running' ? state : null
            if (outside !== undefined && running && !running.results.has(outside)) {
              // Outside the canary, a tenant waits while any canary tenant has no result (failed ones included).
              const canaryPending = canary.some((tenantId) => !running.results.has(tenantId))
              expect(decideTenantRepair(state, false, outside)).toEqual(canaryPending ? { action: 'skip', why: 'canary first' } : expect.objectContaining({ action: 'repair' }))
            }
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('resolveCanary', () => {
  const findings = new Map([[11, 50], [12, 5], [13, 5], [14, 900]])
  const findingsOf = (id: number) => findings.get(id) ?? 0

  it('takes the n tenants with the fewest findings (ties by id), in target order', () => {
    expect(resolveCanary({ count: 2 }, [14, 13, 12, 11], findingsOf)).toEqual({ tenantIds: [13, 12], autoPromote: false })
    expect(resolveCanary({ count: 3, autoPromote: true }, [11, 12, 13, 14], findingsOf)).toEqual({ tenantIds: [11, 12, 13], autoPromote: true })
  })

  it('keeps named tenants in target order, and no canary asked is none', () => {
    expect(resolveCanary({ tenantIds: [14, 11] }, [11, 12, 13, 14], findingsOf)).toEqual({ tenantIds: [11, 14], autoPromote: false })
    expect(resolveCanary(null, [11], findingsOf)).toBeNull()
    expect(resolveCanary(undefined, [11], findingsOf)).toBeNull()
  })

  const fieldsOf = (f: () => unknown) => {
    const error = thrown(f)
    expect(error).toBeInstanceOf(ValidationError)
    return (error as ValidationError).fields.map((p) => p.field)
  }

  it('refuses tenants outside the targets, a count of zero or above the targets, both or neither, repeats', () => {
    expect(fieldsOf(() => resolveCanary({ tenantIds: [11, 99] }, [11, 12], findingsOf))).toEqual(['canary.tenantIds'])
    expect(fieldsOf(() => resolveCanary({ count: 0 }, [11, 12], findingsOf))).toEqual(['canary.count'])
    expect(fieldsOf(() => resolveCanary({ count: 3 }, [11, 12], findingsOf))).toEqual(['canary.count'])
    expect(fieldsOf(() => resolveCanary({ count: 1.5 }, [11, 12], findingsOf))).toEqual(['canary.count'])
    expect(fieldsOf(() => resolveCanary({ count: 1, tenantIds: [11] }, [11, 12], findingsOf))).toEqual(['canary'])
    expect(fieldsOf(() => resolveCanary({ autoPromote: true }, [11, 12], findingsOf))).toEqual(['canary'])
    expect(fieldsOf(() => resolveCanary({ tenantIds: [] }, [11, 12], findingsOf))).toEqual(['canary.tenantIds'])
    expect(fieldsOf(() => resolveCanary({ tenantIds: [11, 11] }, [11, 12], findingsOf))).toEqual(['canary.tenantIds'])
  })
})

describe('RecordRevert', () => {
  const reason = { reasonCode: 'DATA_REPAIR' as const, reasonText: 'put the findings back' }
  const revertAt = (at: string, keptDays = 30): RunCommand => ({ type: 'RecordRevert', revertRunId: 'R9', keptDays, previousRevert: null, reason, at })
  const completed = (updated: number) =>
    run([requestRun(runRequest({ tenantIds: [11, 12] })), startRun, record(11, succeeded(4, updated)), record(12, failed('INVALID_DATA'))]).state

  it('records the revert once, of a completed run that changed something, within the retention', () => {
    const { events, state } = apply(completed(2), revertAt(LATER))
    expect(events).toEqual([{ type: 'RunReverted', data: { runId: expect.any(String), revertRunId: 'R9', reason, revertedAt: LATER } }])
    expect(state.status !== 'none' && state.revertedBy).toBe('R9')
    expect(thrown(() => apply(state, revertAt(LATER)))).toBeInstanceOf(InvalidTransitionError)
  })

  it('takes another revert once the last one was rejected, cancelled or failed, not while it succeeded or is active', () => {
    const reverted = apply(completed(2), revertAt(LATER)).state
    const again = (outcome: 'rejected' | 'cancelled' | 'failed' | 'succeeded' | 'partially_succeeded' | null): RunCommand => ({
      type: 'RecordRevert',
      revertRunId: 'R10',
      keptDays: 30,
      previousRevert: outcome === null ? null : { outcome },
      reason,
      at: LATER,
    })
    for (const outcome of ['rejected', 'cancelled', 'failed'] as const) {
      const { state } = apply(reverted, again(outcome))
      expect(state.status !== 'none' && state.revertedBy).toBe('R10')
    }
    for (const outcome of ['succeeded', 'partially_succeeded', null] as const) {
      expect(thrown(() => apply(reverted, again(outcome)))).toBeInstanceOf(InvalidTransitionError)
    }
  })

  it('refuses a run not completed (409), one that changed nothing or past the retention (422 naming runId)', () => {
    const running = run([requestRun(runRequest({ tenantIds: [11, 12] })), startRun]).state
    expect(thrown(() => apply(running, revertAt(LATER)))).toBeInstanceOf(InvalidTransitionError)
    const nothing = thrown(() => apply(completed(0), revertAt(LATER)))
    expect(nothing).toBeInstanceOf(ValidationError)
    expect((nothing as ValidationError).fields[0]!.field).toBe('runId')
    const day = 24 * 3600 * 1000
    const requestedAt = Date.parse(runRequest().requestedAt)
    expect(apply(completed(1), revertAt(new Date(requestedAt + 7 * day - 1).toISOString(), 7)).events).toHaveLength(1)
    const expired = thrown(() => apply(completed(1), revertAt(new Date(requestedAt + 7 * day + 1).toISOString(), 7)))
    expect(expired).toBeInstanceOf(ValidationError)
    expect((expired as ValidationError).message).toMatch(/expired/)
  })
})

describe('folding a run stream from a cached state (the results are shared between states)', () => {
  it('gives the state of the whole fold, leaves the cached state as it was, and a branch from it sees nothing of the other (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }).chain((targets) =>
          fc.record({
            targets: fc.constant(targets),
            order: fc.shuffledSubarray(Array.from({ length: targets }, (_, i) => 100 + i), { minLength: 0, maxLength: targets }),
            failures: fc.array(fc.boolean(), { minLength: targets, maxLength: targets }),
            split: fc.integer({ min: 0, max: targets }),
          }),
        ),
        ({ targets, order, failures, split }) => {
          const tenantIds = Array.from({ length: targets }, (_, i) => 100 + i)
          const commands: RunCommand[] = [requestRun(runRequest({ tenantIds, limits: { maxConcurrency: 4, maxFailures: null } })), startRun]
          order.forEach((tenantId, index) => commands.push(record(tenantId, failures[index] ? failed('INVALID_DATA') : succeeded(2, 1))))
          const { events } = run(commands)
          const logged = events.map((event) => ({ event }))
          const head = logged.slice(0, Math.min(split, logged.length))
          const start = head.reduce(evolveRun, initialRunState())
          const startResults = start.status === 'none' ? [] : [...start.results]
          const folded = logged.slice(head.length).reduce(evolveRun, start)
          // The whole stream folded from scratch, in a state that shares nothing with the one above.
          const whole = structuredClone(events).map((event) => ({ event })).reduce(evolveRun, initialRunState())
          expect([...(folded.status === 'none' ? [] : folded.results)]).toEqual([...(whole.status === 'none' ? [] : whole.results)])
          expect(folded.status === 'none' ? 0 : folded.failedTenants).toBe(whole.status === 'none' ? 0 : whole.failedTenants)
          expect(folded.status).toBe(whole.status)
          // The state a fold started from is untouched: caches and deciders may still hold it.
          expect(start.status === 'none' ? [] : [...start.results]).toEqual(startResults)
          // A second branch from it (a decision whose append will lose the race) sees only its own result.
          if ((start.status === 'running' || start.status === 'paused') && start.results.size < targets) {
            const stranger = tenantIds.find((id) => !start.results.has(id))!
            const branch = apply(start, record(stranger, succeeded(9, 9))).state
            expect(branch.status !== 'none' && [...branch.results.keys()]).toEqual([...startResults.map(([id]) => id), stranger])
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('the dispatch window', () => {
  it('is always the pending tenants of the first maxConcurrency groups of targets with one pending, whatever order results come in (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 40 }).chain((tenantIds) =>
          fc.record({
            tenantIds: fc.constant(tenantIds),
            order: fc.shuffledSubarray(tenantIds),
            maxConcurrency: fc.integer({ min: 1, max: 4 }),
            findingsPerTenant: fc.integer({ min: 0, max: 1000 }),
          }),
        ),
        ({ tenantIds, order, maxConcurrency, findingsPerTenant }) => {
          const preflight = { affectedCount: 0, totalCount: findingsPerTenant * tenantIds.length, estimatedTenants: tenantIds.length }
          let state = run([requestRun(runRequest({ tenantIds, preflight, limits: { maxConcurrency, maxFailures: null } })), startRun]).state
          const perJob = Math.min(16, Math.max(1, Math.floor(400 / Math.max(findingsPerTenant, 1))))
          const done = new Set<number>()
          for (const tenantId of order) {
            state = apply(state, record(tenantId, succeeded(1, 1))).state
            done.add(tenantId)
            // Groups of perJob consecutive targets; the first maxConcurrency groups with a tenant pending.
            const groups = new Map<number, number[]>()
            tenantIds.forEach((id, index) => {
              if (done.has(id)) return
              const group = Math.floor(index / perJob)
              if (groups.has(group) || groups.size < maxConcurrency) groups.set(group, [...(groups.get(group) ?? []), id])
            })
            const naive = [...groups.values()].flat()
            expect(dispatchWindow(state)).toEqual(naive)
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})
