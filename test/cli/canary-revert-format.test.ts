import { describe, expect, it } from 'vitest'
import type { RunDetail } from '../../src/cli/api-client.js'
import { canaryOf, canaryTenantIds } from '../../src/cli/commands/canary-options.js'
import { revertConfirmationOf, revertPrompt } from '../../src/cli/commands/revert-command.js'
import { startHeadline } from '../../src/cli/commands/start-command.js'
import { UsageError } from '../../src/cli/exit-codes.js'
import { awaitVerification, canaryPauseNote, controlNotes } from '../../src/cli/follow-run.js'
import { awaitsVerification, formatCanary, formatCompletion, formatRunDetail, formatVerification } from '../../src/cli/format.js'
import { fixtureRunId, runDetail } from './run-detail-fixture.js'

/** SPEC §11 canary tenants and revert in the CLI: option parsing and text output, without a service. */

const id = fixtureRunId
const originalId = '01ARZ3NDEKTSV4RRFFQ69G5FAR'

const run = runDetail

const systemPause = (reasonCode: string) => ({ reasonCode, reasonText: '', by: 'system', byEmail: null, byName: null, at: '2026-01-01T09:00:00.000Z' })

describe('canary options', () => {
  it('--canary-tenants takes comma-separated positive ids', () => {
    expect(canaryTenantIds('11,12')).toEqual([11, 12])
    expect(canaryTenantIds(' 3 , 7')).toEqual([3, 7])
    for (const bad of ['', '11,', 'a,1', '0', '-1', '1.5', '11;12', '99999999999999999']) {
      expect(() => canaryTenantIds(bad), bad).toThrow(/--canary-tenants must be tenant ids separated by commas/)
    }
  })

  it('a canary is by count or by ids, never both; --auto-promote needs one; none without options', () => {
    expect(canaryOf({})).toBeUndefined()
    expect(canaryOf({ canaryCount: 2 })).toEqual({ count: 2, autoPromote: false })
    expect(canaryOf({ canaryTenants: [11, 12], autoPromote: true })).toEqual({ tenantIds: [11, 12], autoPromote: true })
    expect(() => canaryOf({ canaryCount: 2, canaryTenants: [11] })).toThrow(UsageError)
    expect(() => canaryOf({ canaryCount: 2, canaryTenants: [11] })).toThrow('either --canary-count N or --canary-tenants IDS, not both')
    expect(() => canaryOf({ autoPromote: true })).toThrow('--auto-promote needs a canary')
  })

  it('the start headline says what the canary does', () => {
    const started = { runId: id, status: 'queued' }
    expect(startHeadline(started, undefined)).toBe(`Run ${id} started (queued)`)
    expect(startHeadline(started, { count: 2, autoPromote: false })).toBe(
      `Run ${id} started (queued): canary first (the 2 with the fewest findings), then it pauses (CANARY_COMPLETE) until rcp resume ${id}`,
    )
    expect(startHeadline(started, { tenantIds: [11, 12], autoPromote: true })).toBe(
      `Run ${id} started (queued): canary first (tenants 11, 12), then the others`,
    )
  })
})

describe('canary in the run view and while following', () => {
  it('rcp run shows the canary: state, tenant ids, auto-promote; nothing for a run without one', () => {
    expect(formatCanary({ tenantIds: [11, 12], autoPromote: false, state: 'passed' })).toBe('passed (tenants 11, 12; auto-promote off)')
    expect(formatCanary({ tenantIds: [3], autoPromote: true, state: 'running' })).toBe('running (tenants 3; auto-promote on)')
    expect(formatCanary(null)).toBeNull()
    const shown = formatRunDetail(run({ status: 'paused', pause: systemPause('CANARY_COMPLETE'), canary: { tenantIds: [11, 12], autoPromote: false, state: 'passed' } }), new Map())
    expect(shown).toMatch(/^Canary\s+passed \(tenants 11, 12; auto-promote off\)$/m)
    expect(shown).toMatch(/^Paused\s+CANARY_COMPLETE \(by the service, 2026-01-01 09:00:00Z\)$/m)
    expect(formatRunDetail(run(), new Map())).not.toMatch(/^Canary/m)
  })

  it('a canary pause says what to check and how to go on; other pauses keep their note', () => {
    expect(canaryPauseNote(run({ pause: systemPause('CANARY_COMPLETE') }))).toBe(
      `Paused: the canary tenants succeeded (CANARY_COMPLETE) — check them (rcp tenants ${id}), then rcp resume ${id}`,
    )
    expect(canaryPauseNote(run({ pause: systemPause('CANARY_FAILED') }))).toBe(
      `Paused: a canary tenant failed (CANARY_FAILED) — see rcp tenants ${id} --status failed, then rcp resume ${id} or rcp cancel ${id}`,
    )
    expect(canaryPauseNote(run({ pause: systemPause('HALTED') }))).toBeNull()

    const running = run({ canary: { tenantIds: [11, 12], autoPromote: false, state: 'running' } })
    const paused = run({ status: 'paused', pause: systemPause('CANARY_COMPLETE'), canary: { tenantIds: [11, 12], autoPromote: false, state: 'passed' } })
    expect(controlNotes(running, paused)).toEqual([canaryPauseNote(paused)])
    // Said once: the next poll of the same pause adds nothing; the resume is said as for any pause.
    expect(controlNotes(paused, paused)).toEqual([])
    expect(controlNotes(paused, run({ canary: paused.canary }))).toEqual([`Run ${id} resumed: running.`])
    expect(controlNotes(running, run({ status: 'paused', pause: systemPause('MAX_FAILURES') }))[0]).toMatch(/^Run \S+ paused: MAX_FAILURES/)
  })
})

describe('revert in the run view', () => {
  const revertRun = (extra: Partial<RunDetail> = {}) =>
    run({ context: { scope: 'all_tenants', source: 'cli', revert_of: originalId }, revertOf: originalId, ...extra })

  it('the confirmation is "revert RUN"; the prompt says what a revert does and what to type', () => {
    expect(revertConfirmationOf(originalId)).toBe(`revert ${originalId}`)
    expect(revertPrompt(originalId)).toContain('findings changed since are left alone (skipped)')
    expect(revertPrompt(originalId).endsWith(`Type "revert ${originalId}" to confirm: `)).toBe(true)
  })

  it('rcp run of a revert run shows "Revert of", its counts with updated and skipped', () => {
    const shown = formatRunDetail(revertRun({ status: 'completed', outcome: 'succeeded', completedAt: '2026-01-01T09:01:00.000Z' }), new Map())
    expect(shown).toMatch(new RegExp(`^Revert of\\s+${originalId}$`, 'm'))
    expect(shown).toMatch(/^Counts\s+total 10, processed 10, updated 4, skipped 6, failed 0, tenants 24$/m)
    expect(formatRunDetail(run(), new Map())).not.toMatch(/^Revert of/m)
  })

  it('a completed revert run is never verified: no "Verification: pending", and following does not wait for one', async () => {
    // Completed just now: only its being a revert keeps the service from verifying it.
    const completed = revertRun({ status: 'completed', outcome: 'succeeded', completedAt: new Date().toISOString() })
    expect(awaitsVerification(completed)).toBe(false)
    expect(awaitsVerification(run({ status: 'completed', outcome: 'succeeded', completedAt: new Date().toISOString() }))).toBe(true)
    expect(formatVerification(completed, new Map())).toBeNull()
    expect(formatCompletion(completed, new Map())).not.toContain('Verification')
    let slept = 0
    const client = { getRun: async () => completed } as never
    expect(await awaitVerification(client, completed, { sleep: async () => void slept++ })).toBe(completed)
    expect(slept).toBe(0)
  })
})
