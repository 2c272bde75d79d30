import { describe, expect, it } from 'vitest'
import { HaltedError, InvalidTransitionError, ValidationError } from '../../../src/commands/errors.js'
import { allowedControls, RUN_CONTROLS, type RunControl } from '../../../src/commands/run/allowed-controls.js'
import { planDispatch, planReconcile } from '../../../src/commands/run/dispatch-plan.js'
import { decideRun, type RunCommand } from '../../../src/commands/run/run-decider.js'
import { cancelledTenants, dispatchWindow, pendingTenants, type RunState } from '../../../src/commands/run/run-state.js'
import { decideTenantRepair } from '../../../src/commands/run/tenant-repair-gate.js'
import { defaultTenantRetryPolicy, failureKindOf, retryAfterFailure } from '../../../src/commands/run/tenant-retry-policy.js'
import type { RunReason } from '../../../src/events/index.js'
import { apply, eventsOfType, existing, failed, LATER, record, requestRun, run, runRequest, startRun, succeeded, thrown } from './run-fixtures.js'

const reason: RunReason = { reasonCode: 'INCIDENT', reasonText: 'the repair looks wrong' }
const pause: RunCommand = { type: 'PauseRun', reason, at: LATER }
const resume = (halted = false): RunCommand => ({ type: 'ResumeRun', reason: null, halted, at: LATER })
const cancel: RunCommand = { type: 'CancelRun', reason, at: LATER }
const limits = (l: { maxConcurrency?: number; maxFailures?: number | null }): RunCommand => ({ type: 'ChangeLimits', limits: l, at: LATER })

const request = runRequest({ tenantIds: [11, 12, 13] })
const queued = () => run([requestRun(request)]).state
const running = () => run([requestRun(request), startRun]).state
const paused = () => run([requestRun(request), startRun, pause]).state

describe('run decider: pause and resume', () => {
  it('pauses a running or a queued run; pausing a paused or completed run is refused naming its state', () => {
    const { events, state } = apply(running(), pause)
    expect(events).toEqual([{ type: 'RunPaused', data: { runId: request.runId, reason, pausedAt: LATER } }])
    expect(state.status).toBe('paused')
    expect(apply(queued(), pause).state.status).toBe('paused')
    const again = thrown(() => decideRun(pause, paused()))
    expect(again).toBeInstanceOf(InvalidTransitionError)
    expect((again as InvalidTransitionError).state).toBe('paused')
    const done = run([requestRun(runRequest({ tenantIds: [11] })), startRun, record(11, succeeded(1, 1))]).state
    expect((thrown(() => decideRun(pause, done)) as InvalidTransitionError).state).toBe('completed')
  })

  it('resumes only a paused run, in a new dispatch generation; never while halted', () => {
    const { events, state } = apply(paused(), resume())
    expect(events).toEqual([{ type: 'RunResumed', data: { runId: request.runId, reason: null, generation: 1, resumedAt: LATER } }])
    expect(state.status).toBe('running')
    expect(existing(state).generation).toBe(1)
    expect((thrown(() => decideRun(resume(), running())) as InvalidTransitionError).state).toBe('running')
    expect(thrown(() => decideRun(resume(true), paused()))).toBeInstanceOf(HaltedError)
  })

  it('a run paused before it started is started by its resume', () => {
    const pausedQueued = apply(queued(), pause).state
    expect(apply(pausedQueued, resume()).events.map((e) => e.type)).toEqual(['RunResumed', 'RunStarted'])
  })

  it('records tenants in flight while paused, and never completes by itself; the resume completes it', () => {
    let state = paused()
    for (const id of [11, 12, 13]) {
      const applied = apply(state, record(id, succeeded(2, 1)))
      expect(applied.events.map((e) => e.type)).toEqual(['TenantProcessed'])
      state = applied.state
    }
    expect(state.status).toBe('paused')
    expect(apply(state, resume()).events.map((e) => e.type)).toEqual(['RunResumed', 'RunCompleted'])
  })
})

describe('run decider: cancel', () => {
  it('cancels a running run, which completes cancelled once its repairs in flight are recorded', () => {
    let state = apply(running(), record(11, succeeded(4, 2))).state
    const cancelled = apply(state, cancel)
    expect(cancelled.events.map((e) => e.type)).toEqual(['RunCancelled'])
    state = cancelled.state
    expect(thrown(() => decideRun(pause, state))).toBeInstanceOf(InvalidTransitionError)
    expect(thrown(() => decideRun(cancel, state))).toBeInstanceOf(InvalidTransitionError)
    // A repair in flight at the cancel is recorded; the completion takes the stored result of another.
    state = apply(state, record(12, failed('DB_ERROR'))).state
    const stored = { tenantId: 13, attempt: 1, result: succeeded(3, 3), startedAt: null, completedAt: null }
    const completion = apply(state, { type: 'CompleteCancelledRun', stored: [stored], at: LATER })
    expect(completion.events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunCompleted'])
    expect(eventsOfType(completion.events, 'RunCompleted')[0]!.data).toMatchObject({
      outcome: 'cancelled',
      summaryCounts: { total: 7, processed: 7, updated: 5, skipped: 2, failed: 1, tenants: 3 },
    })
  })

  it('completes cancelled at once a run that never started, listing every tenant as cancelled', () => {
    const { events, state } = apply(queued(), cancel)
    expect(events.map((e) => e.type)).toEqual(['RunCancelled', 'RunCompleted'])
    expect(eventsOfType(events, 'RunCompleted')[0]!.data.summaryCounts).toEqual({ total: 0, processed: 0, updated: 0, skipped: 0, failed: 0, tenants: 3 })
    expect(cancelledTenants(state)).toEqual([11, 12, 13])
  })

  it('completes cancelled the run of which nothing but tenants in flight remained', () => {
    const state = apply(running(), cancel).state
    const last = run([requestRun(request), startRun, cancel, record(11, succeeded(1, 0)), record(12, succeeded(1, 0))]).state
    expect(apply(last, record(13, succeeded(1, 1))).events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunCompleted'])
    expect(decideRun({ type: 'CompleteCancelledRun', stored: [], at: LATER }, running())).toEqual([])
    expect(pendingTenants(state)).toEqual([11, 12, 13])
  })
})

describe('run decider: limits and the error budget', () => {
  it('records changed limits only, refusing values out of range with the field named', () => {
    const { events } = apply(running(), limits({ maxConcurrency: 9 }))
    expect(events).toEqual([
      {
        type: 'RunLimitsChanged',
        data: { runId: request.runId, limits: { maxConcurrency: 9, maxFailures: null }, previous: { maxConcurrency: 4, maxFailures: null }, changedAt: LATER },
      },
    ])
    expect(decideRun(limits({ maxConcurrency: 4 }), running())).toEqual([])
    for (const [bad, field] of [
      [{ maxConcurrency: 0 }, 'limits.maxConcurrency'],
      [{ maxConcurrency: 1001 }, 'limits.maxConcurrency'],
      [{ maxConcurrency: 1.5 }, 'limits.maxConcurrency'],
      [{ maxFailures: -1 }, 'limits.maxFailures'],
    ] as const) {
      const error = thrown(() => decideRun(limits(bad), running()))
      expect(error).toBeInstanceOf(ValidationError)
      expect((error as ValidationError).fields.map((f) => f.field)).toEqual([field])
    }
  })

  it('pauses the run (ERROR_BUDGET_EXCEEDED) when failures exceed maxFailures', () => {
    const budget = run([requestRun(runRequest({ tenantIds: [11, 12, 13], limits: { maxConcurrency: 4, maxFailures: 0 } })), startRun]).state
    const { events, state } = apply(budget, record(11, failed('DB_ERROR')))
    expect(events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunPaused'])
    expect(eventsOfType(events, 'RunPaused')[0]!.data.reason.reasonCode).toBe('ERROR_BUDGET_EXCEEDED')
    expect(state.status).toBe('paused')
    // Lowering the budget below the failures so far pauses at once.
    const oneFailure = apply(running(), record(11, failed('DB_ERROR'))).state
    expect(apply(oneFailure, limits({ maxFailures: 0 })).events.map((e) => e.type)).toEqual(['RunLimitsChanged', 'RunPaused'])
  })

  it('refuses limits on a run being cancelled', () => {
    expect(thrown(() => decideRun(limits({ maxConcurrency: 2 }), apply(running(), cancel).state))).toBeInstanceOf(InvalidTransitionError)
  })

  it("gives a paused run the budget's pause when a repair in flight crosses the budget, once", () => {
    const budget = run([requestRun(runRequest({ tenantIds: [11, 12, 13], limits: { maxConcurrency: 4, maxFailures: 0 } })), startRun, pause]).state
    const crossing = apply(budget, record(11, failed('DB_ERROR')))
    expect(crossing.events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunPaused'])
    expect(crossing.state.status === 'paused' && crossing.state.pause.reasonCode).toBe('ERROR_BUDGET_EXCEEDED')
    expect(apply(crossing.state, record(12, failed('DB_ERROR'))).events.map((e) => e.type)).toEqual(['TenantProcessed'])
  })

  it("pauses the run for the last tenant's failure too; resumed, it completes at once, and cancelled it completes cancelled", () => {
    const single = run([requestRun(runRequest({ tenantIds: [11], limits: { maxConcurrency: 1, maxFailures: 0 } })), startRun]).state
    const lastFailed = apply(single, record(11, failed('DB_ERROR')))
    expect(lastFailed.events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunPaused'])
    expect(lastFailed.state.status === 'paused' && lastFailed.state.pause.reasonCode).toBe('ERROR_BUDGET_EXCEEDED')
    const resumed = apply(lastFailed.state, resume())
    expect(resumed.events.map((e) => e.type)).toEqual(['RunResumed', 'RunCompleted'])
    expect(eventsOfType(resumed.events, 'RunCompleted')[0]!.data.outcome).toBe('failed')
    expect(eventsOfType(apply(lastFailed.state, cancel).events, 'RunCompleted')[0]!.data.outcome).toBe('cancelled')
    // Within the budget, the last tenant's failure completes the run as any last result does.
    const withinBudget = run([requestRun(runRequest({ tenantIds: [11], limits: { maxConcurrency: 1, maxFailures: 1 } })), startRun]).state
    expect(apply(withinBudget, record(11, failed('DB_ERROR'))).events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunCompleted'])
  })
})

describe('run decider: retry and halt', () => {
  const completedWithFailure = () => run([requestRun(request), startRun, record(11, succeeded(1, 1)), record(12, failed('INVALID_DATA')), record(13, succeeded(1, 0))]).state
  const retryReason = { reasonCode: 'INCIDENT' as const, reasonText: 'the data was fixed by hand' }
  const retry = (tenantIds: number[]): RunCommand => ({ type: 'RecordRetry', retryRunId: 'R2', tenantIds, reason: retryReason, at: LATER })

  it('records a retry of failed tenants of a completed run; refuses an active run (409) and a run without failures (422)', () => {
    expect(apply(completedWithFailure(), retry([12])).events).toEqual([
      { type: 'RunRetried', data: { runId: request.runId, retryRunId: 'R2', tenantIds: [12], reason: retryReason, retriedAt: LATER } },
    ])
    expect(thrown(() => decideRun(retry([12]), running()))).toBeInstanceOf(InvalidTransitionError)
    expect(thrown(() => decideRun(retry([11]), completedWithFailure()))).toBeInstanceOf(InvalidTransitionError)
    expect(thrown(() => decideRun(retry([]), completedWithFailure()))).toBeInstanceOf(ValidationError)
    const allGood = run([requestRun(runRequest({ tenantIds: [11] })), startRun, record(11, succeeded(1, 1))]).state
    expect(thrown(() => decideRun(retry([]), allGood))).toBeInstanceOf(ValidationError)
  })

  it("the halt pauses every active run with HALTED: queued, running, and paused for another reason; once, and not one being cancelled", () => {
    const halt: RunCommand = { type: 'HaltRun', reasonText: 'halted', at: LATER }
    expect(apply(running(), halt).events.map((e) => e.type)).toEqual(['RunPaused'])
    expect(apply(queued(), halt).events.map((e) => e.type)).toEqual(['RunPaused'])
    const repaused = apply(paused(), halt)
    expect(repaused.events.map((e) => e.type)).toEqual(['RunPaused'])
    expect(repaused.state.status === 'paused' && repaused.state.pause).toMatchObject({ reasonCode: 'HALTED', reasonText: 'halted', at: LATER })
    expect(decideRun(halt, repaused.state)).toEqual([])
    expect(decideRun(halt, apply(running(), cancel).state)).toEqual([])
  })
})

describe('the repair gate and the dispatch plan', () => {
  it('repairs only a pending tenant of a running run that is not being cancelled, while not halted', () => {
    expect(decideTenantRepair(running(), false, 11)).toEqual({ action: 'repair', maxConcurrency: 4, parameters: {}, revertOf: null })
    expect(decideTenantRepair(running(), true, 11)).toEqual({ action: 'halt_run' })
    expect(decideTenantRepair(paused(), false, 11)).toEqual({ action: 'skip', why: 'paused' })
    expect(decideTenantRepair(apply(running(), cancel).state, false, 11)).toEqual({ action: 'skip', why: 'cancelled' })
    expect(decideTenantRepair(queued(), false, 11)).toEqual({ action: 'skip', why: 'not started' })
    expect(decideTenantRepair(running(), false, 99)).toEqual({ action: 'skip', why: 'not targeted' })
    expect(decideTenantRepair(apply(running(), record(11, succeeded(1, 1))).state, false, 11)).toEqual({ action: 'skip', why: 'already processed' })
  })

  it('a pause records first the stored results the stream lacks, so that only repairs in flight are recorded after it', () => {
    const tenantIds = [11, 12, 13, 14]
    const state = run([requestRun(runRequest({ tenantIds })), startRun]).state
    const withOne = apply(state, record(11, succeeded(1, 1))).state
    const stored = [11, 12].map((tenantId) => ({ tenantId, attempt: 1, result: succeeded(2, 1), startedAt: null, completedAt: null }))
    const pause: RunCommand = { type: 'PauseRun', reason: { reasonCode: 'INCIDENT', reasonText: 'stop it, it looks wrong' }, at: LATER, stored }
    const events = decideRun(pause, withOne)
    expect(events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunPaused'])
    expect(events[0]!.type === 'TenantProcessed' && events[0]!.data.tenantId).toBe(12)
    // The halt's pause does the same; the stored results that complete the run leave nothing to pause.
    const halt: RunCommand = { type: 'HaltRun', reasonText: 'halted', at: LATER, stored }
    expect(decideRun(halt, withOne).map((e) => e.type)).toEqual(['TenantProcessed', 'RunPaused'])
    const all = tenantIds.map((tenantId) => ({ tenantId, attempt: 1, result: succeeded(2, 1), startedAt: null, completedAt: null }))
    expect(decideRun({ ...pause, stored: all }, withOne).map((e) => e.type)).toEqual(['TenantProcessed', 'TenantProcessed', 'TenantProcessed', 'RunCompleted'])
  })

  it('dispatches the first maxConcurrency pending tenants of a running run of ordinary tenants, nothing otherwise', () => {
    const tenantIds = [11, 12, 13, 14]
    // 1,000 findings a tenant: one tenant per job, named by it.
    const preflight = { affectedCount: 4000, totalCount: 4000, estimatedTenants: 4 }
    const twoAtATime = run([requestRun(runRequest({ tenantIds, preflight, limits: { maxConcurrency: 2, maxFailures: null } })), startRun]).state
    expect(planDispatch(twoAtATime, false)).toEqual({
      action: 'dispatch',
      jobs: [
        { key: '11', tenantIds: [11] },
        { key: '12', tenantIds: [12] },
      ],
      generation: 0,
    })
    expect(dispatchWindow(apply(twoAtATime, record(11, succeeded(1, 1))).state)).toEqual([12, 13])
    // A tenant past the frontier finished first: the window skips it.
    expect(dispatchWindow(apply(twoAtATime, record(13, succeeded(1, 1))).state)).toEqual([11, 12])
    expect(planDispatch(twoAtATime, true)).toEqual({ action: 'halt_run' })
    expect(planDispatch(paused(), false)).toEqual({ action: 'none' })
    expect(planDispatch(apply(running(), cancel).state, false)).toEqual({ action: 'none' })
  })

  it('puts small tenants several to a job, by the findings the plan counted, in groups fixed by their place in the targets', () => {
    const tenantIds = Array.from({ length: 100 }, (_, index) => index + 1)
    const sized = (findingsPerTenant: number) =>
      run([
        requestRun(
          runRequest({
            tenantIds,
            preflight: { affectedCount: 0, totalCount: findingsPerTenant * tenantIds.length, estimatedTenants: tenantIds.length },
            limits: { maxConcurrency: 2, maxFailures: null },
          }),
        ),
        startRun,
      ]).state
    const jobsOf = (state: RunState) => (planDispatch(state, false) as { jobs: Array<{ key: string; tenantIds: number[] }> }).jobs
    // 400 findings a job: 20 findings a tenant → 20 tenants, capped at 16; 100 → 4; 400 and more → 1.
    expect(jobsOf(sized(20))).toEqual([
      { key: 'g0x16', tenantIds: tenantIds.slice(0, 16) },
      { key: 'g1x16', tenantIds: tenantIds.slice(16, 32) },
    ])
    expect(jobsOf(sized(100)).map((job) => job.tenantIds)).toEqual([tenantIds.slice(0, 4), tenantIds.slice(4, 8)])
    expect(jobsOf(sized(399)).map((job) => job.key)).toEqual(['1', '2'])
    expect(jobsOf(sized(5000)).map((job) => job.key)).toEqual(['1', '2'])
    // Tenants with no finding at all are the smallest there are.
    expect(jobsOf(sized(0))[0]!.tenantIds).toHaveLength(16)

    // A job held up records its first tenants early: it stays in the window, with what is left of it, and no
    // third job comes — the window moves by whole jobs, and a job keeps its key.
    let state = sized(100)
    for (const tenantId of [1, 2, 5]) state = apply(state, record(tenantId, succeeded(1, 1))).state
    expect(jobsOf(state)).toEqual([
      { key: 'g0x4', tenantIds: [3, 4] },
      { key: 'g1x4', tenantIds: [6, 7, 8] },
    ])
    for (const tenantId of [3, 4]) state = apply(state, record(tenantId, succeeded(1, 1))).state
    expect(jobsOf(state)).toEqual([
      { key: 'g1x4', tenantIds: [6, 7, 8] },
      { key: 'g2x4', tenantIds: [9, 10, 11, 12] },
    ])
    // The run's last tenants: a job of fewer.
    for (const tenantId of tenantIds.slice(5, 98)) state = apply(state, record(tenantId, succeeded(1, 1))).state
    expect(jobsOf(state)).toEqual([{ key: 'g24x4', tenantIds: [99, 100] }])
  })
})

describe('tenant retry policy', () => {
  it('retries transient failures with a doubling pause up to the budget, lock waits on their own budget', () => {
    const policy = { ...defaultTenantRetryPolicy, maxAttempts: 3, maxLockedAttempts: 2, retryDelayMs: 100, maxRetryDelayMs: 250 }
    expect(failureKindOf({ reasonCode: 'INVALID_DATA', transient: false })).toBeNull()
    expect(failureKindOf({ reasonCode: 'TENANT_LOCKED', transient: true })).toBe('lock_wait')
    expect(failureKindOf({ reasonCode: 'DB_ERROR', transient: true })).toBe('transient')
    expect([1, 2, 3].map((n) => retryAfterFailure('transient', n, policy))).toEqual([
      { retry: true, delayMs: 100 },
      { retry: true, delayMs: 200 },
      { retry: false },
    ])
    expect([1, 2].map((n) => retryAfterFailure('lock_wait', n, policy))).toEqual([{ retry: true, delayMs: 100 }, { retry: false }])
    expect(retryAfterFailure('transient', 2, { ...policy, maxAttempts: 10, retryDelayMs: 200 })).toEqual({ retry: true, delayMs: 250 })
  })
})

describe('run decider: approvals (SPEC §10)', () => {
  const awaiting = () => run([requestRun(runRequest({ approvalRequired: true }))]).state
  const approve = (operatorId: string, halted = false): RunCommand => ({ type: 'ApproveRun', operatorId, comment: null, halted, at: LATER })

  it('a run needing approval awaits it: nothing starts, nothing pauses, the starter neither approves nor rejects', () => {
    const state = awaiting()
    expect(state.status).toBe('awaiting_approval')
    expect(decideRun(startRun, state)).toEqual([])
    expect(thrown(() => decideRun(pause, state))).toBeInstanceOf(InvalidTransitionError)
    expect(thrown(() => decideRun(approve('op-1'), state))).toBeInstanceOf(Error)
    expect((thrown(() => decideRun(approve('op-1'), state)) as Error).name).toBe('ForbiddenError')
    expect(thrown(() => decideRun(approve('op-2', true), state))).toBeInstanceOf(HaltedError)
    const approved = apply(state, approve('op-2'))
    expect(approved.events.map((e) => e.type)).toEqual(['RunApproved'])
    expect(approved.state.status).toBe('queued')
    expect(apply(approved.state, startRun).state.status).toBe('running')
  })

  it('the halt pauses a run awaiting approval; approved or not, a resume gives it back where its approval left it', () => {
    const halt: RunCommand = { type: 'HaltRun', reasonText: 'halted', at: LATER }
    const resumeNow: RunCommand = { type: 'ResumeRun', reason: null, halted: false, at: LATER }
    const halted = apply(awaiting(), halt)
    expect(halted.events.map((e) => e.type)).toEqual(['RunPaused'])
    expect(halted.state.status === 'paused' && halted.state.pause.reasonCode).toBe('HALTED')
    expect(decideRun(halt, halted.state)).toEqual([])
    expect(thrown(() => decideRun(approve('op-2', true), halted.state))).toBeInstanceOf(HaltedError)
    // Resumed before any approval: it awaits it again, and nothing starts.
    const resumed = apply(halted.state, resumeNow)
    expect(resumed.events.map((e) => e.type)).toEqual(['RunResumed'])
    expect(resumed.state.status).toBe('awaiting_approval')
    expect(decideRun(startRun, resumed.state)).toEqual([])
    // Approved while paused: it stays paused until resumed, then starts.
    const approvedWhilePaused = apply(halted.state, approve('op-2'))
    expect(approvedWhilePaused.state.status).toBe('paused')
    expect(thrown(() => decideRun(approve('op-3'), approvedWhilePaused.state))).toBeInstanceOf(InvalidTransitionError)
    const going = apply(approvedWhilePaused.state, resumeNow)
    expect(going.events.map((e) => e.type)).toEqual(['RunResumed', 'RunStarted'])
    expect(going.state.status).toBe('running')
  })

  it('a rejection or 24 hours without approval complete the run rejected', () => {
    const rejected = apply(awaiting(), { type: 'RejectRun', operatorId: 'op-2', reason, at: LATER })
    expect(rejected.events.map((e) => e.type)).toEqual(['RunRejected', 'RunCompleted'])
    expect(existing(rejected.state).outcome).toBe('rejected')
    const dayLater = new Date(Date.parse(runRequest().requestedAt) + 24 * 3600 * 1000).toISOString()
    const almost = new Date(Date.parse(dayLater) - 1000).toISOString()
    expect(decideRun({ type: 'ExpireApproval', at: almost }, awaiting())).toEqual([])
    const expired = apply(awaiting(), { type: 'ExpireApproval', at: dayLater })
    expect(eventsOfType(expired.events, 'RunRejected')[0]!.data.reason.reasonCode).toBe('APPROVAL_EXPIRED')
    expect(planReconcile(awaiting(), new Date(dayLater), 60_000)).toEqual({ action: 'expire_approval' })
    expect(planReconcile(awaiting(), new Date(almost), 60_000)).toEqual({ action: 'none' })
    expect(apply(awaiting(), cancel).events.map((e) => e.type)).toEqual(['RunCancelled', 'RunCompleted'])
  })
})

describe('allowed controls follow the decider', () => {
  it('offers exactly the controls the decider accepts, in every state', () => {
    const completedWithFailure = run([requestRun(request), startRun, record(11, failed('INVALID_DATA')), record(12, succeeded(1, 1)), record(13, succeeded(1, 1))]).state
    const completedClean = run([requestRun(runRequest({ tenantIds: [11] })), startRun, record(11, succeeded(1, 1))]).state
    const states = [queued(), running(), paused(), apply(running(), cancel).state, run([requestRun(runRequest({ approvalRequired: true }))]).state, completedWithFailure, completedClean]
    const commands: Record<RunControl, RunCommand> = {
      pause,
      resume: resume(),
      cancel,
      limits: limits({ maxConcurrency: 7 }),
      retry: { type: 'RecordRetry', retryRunId: 'R2', tenantIds: [11], reason: null, at: LATER },
    }
    for (const state of states) {
      const facts = existing(state)
      const offered = allowedControls({ status: facts.status, cancelling: facts.cancellation !== null, failedTenants: facts.failedTenants })
      const accepted = RUN_CONTROLS.filter((control) => thrown(() => decideRun(commands[control], state)) === undefined)
      expect(offered, `${facts.status}${facts.cancellation ? ' (cancelling)' : ''}`).toEqual(accepted)
    }
  })
})
