import { describe, expect, it } from 'vitest'
import { InvalidTransitionError } from '../../../src/commands/errors.js'
import { planDispatch, planReconcile } from '../../../src/commands/run/dispatch-plan.js'
import { dispatchWindow } from '../../../src/commands/run/run-state.js'
import { decideRun, type RunCommand } from '../../../src/commands/run/run-decider.js'
import { initialRunState } from '../../../src/commands/run/run-state.js'
import { eventsOfType, LATER, run, requestRun, runRequest, startRun, thrown } from './run-fixtures.js'

/** A run requested without its plan (a start over many tenants): RunPlanned comes first, dispatch after. */
const unplanned = runRequest({ preflight: null })
const plan = { affectedCount: 4, totalCount: 8, estimatedTenants: 3 }
const recordPlan: RunCommand = { type: 'RecordPlan', preflight: plan, at: LATER }
const cancel: RunCommand = { type: 'CancelRun', reason: { reasonCode: 'INCIDENT', reasonText: 'stop before the plan' }, at: LATER }

describe('run decider: RecordPlan', () => {
  it('records the plan of a run requested without one, once', () => {
    const { events, state } = run([requestRun(unplanned), recordPlan])
    expect(eventsOfType(events, 'RunPlanned').map((e) => e.data)).toEqual([{ runId: unplanned.runId, preflight: plan, plannedAt: LATER }])
    expect(state.status !== 'none' && state.preflight).toEqual(plan)
    expect(decideRun(recordPlan, state)).toEqual([])
  })

  it('records nothing for a run that has its plan from the start, or ended before it', () => {
    const planned = run([requestRun(runRequest())]).state
    expect(decideRun(recordPlan, planned)).toEqual([])
    const cancelled = run([requestRun(unplanned), cancel]).state
    expect(cancelled.status).toBe('completed')
    expect(decideRun(recordPlan, cancelled)).toEqual([])
  })

  it('refuses a plan for a run that does not exist', () => {
    expect(thrown(() => decideRun(recordPlan, initialRunState()))).toBeInstanceOf(InvalidTransitionError)
  })
})

describe('run decider: nothing of a run starts before its plan', () => {
  it('leaves an unplanned run queued on StartRun, and starts it once planned', () => {
    const queued = run([requestRun(unplanned), startRun])
    expect(queued.state.status).toBe('queued')
    expect(queued.events.map((e) => e.type)).toEqual(['RunRequested'])
    expect(run([requestRun(unplanned), recordPlan, startRun]).state.status).toBe('running')
  })

  it('plans no dispatch, and no re-dispatch, for a run resumed before its plan', () => {
    const pause: RunCommand = { type: 'PauseRun', reason: { reasonCode: 'INCIDENT', reasonText: 'hold it for a moment' }, at: LATER }
    const resume: RunCommand = { type: 'ResumeRun', reason: null, halted: false, at: LATER }
    const resumed = { ...run([requestRun(unplanned), pause, resume]).state, lastEventAt: new Date(LATER) }
    expect(resumed.status).toBe('running')
    expect(planDispatch(resumed, false)).toEqual({ action: 'none' })
    // Quiet for long: its planner failed on it; the reconciler plans it (and never re-dispatches before).
    expect(planReconcile(resumed, new Date(Date.parse(LATER) + 3_600_000), 1_000)).toEqual({ action: 'plan' })
    expect(planReconcile(resumed, new Date(Date.parse(LATER) + 500), 1_000)).toEqual({ action: 'none' })
    const planned = run([requestRun(unplanned), pause, resume, recordPlan]).state
    expect(planDispatch(planned, false)).toMatchObject({ action: 'dispatch' })
    expect(dispatchWindow(planned)).toEqual(unplanned.tenantIds)
  })
})
