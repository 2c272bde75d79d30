import { describe, expect, it } from 'vitest'
import { InvalidTransitionError } from '../../../src/commands/errors.js'
import type { RunCommand } from '../../../src/commands/run/run-decider.js'
import { apply, expectStorable, failed, LATER, record, requestRun, run, runRequest, startRun, succeeded, thrown } from './run-fixtures.js'

/** SPEC §11 verification in the run decider: once, after a succeeded or partially succeeded completion. */

const verify = (remaining: Array<{ tenantId: number; remaining: number }>): RunCommand => ({ type: 'RecordVerification', remaining, at: LATER })

describe('RecordVerification', () => {
  const completed = () => run([requestRun(runRequest({ tenantIds: [11, 12, 13] })), startRun, record(11, succeeded(4, 2)), record(12, succeeded(3, 0)), record(13, failed('INVALID_DATA'))]).state

  it('records the remaining findings per tenant, only the tenants with some, summed', () => {
    const { events, state } = apply(completed(), verify([{ tenantId: 11, remaining: 2 }, { tenantId: 12, remaining: 0 }]))
    expect(events).toEqual([
      { type: 'RunVerified', data: { runId: expect.any(String), remaining: 2, tenantsWithRemaining: [{ tenantId: 11, remaining: 2 }], verifiedAt: LATER } },
    ])
    for (const event of events) expectStorable(event)
    expect(state.status === 'completed' && state.verification).toEqual({ remaining: 2, tenantsWithRemaining: [{ tenantId: 11, remaining: 2 }], verifiedAt: LATER })
    // Once: a second verification is a no-op.
    expect(apply(state, verify([{ tenantId: 11, remaining: 0 }])).events).toEqual([])
  })

  it('refuses a tenant that did not succeed, and a run that has not completed', () => {
    expect(thrown(() => apply(completed(), verify([{ tenantId: 13, remaining: 1 }])))).toBeInstanceOf(InvalidTransitionError)
    const running = run([requestRun(runRequest({ tenantIds: [11, 12] })), startRun, record(11, succeeded(4, 2))]).state
    expect(thrown(() => apply(running, verify([])))).toBeInstanceOf(InvalidTransitionError)
  })

  it('records nothing for a run that failed', () => {
    const failedRun = run([requestRun(runRequest({ tenantIds: [11] })), startRun, record(11, failed('INVALID_DATA'))]).state
    expect(failedRun.status === 'completed' && failedRun.outcome).toBe('failed')
    expect(apply(failedRun, verify([])).events).toEqual([])
  })
})
