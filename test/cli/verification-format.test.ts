import { describe, expect, it } from 'vitest'
import type { ApiClient, RunDetail } from '../../src/cli/api-client.js'
import { followedRunExitCode } from '../../src/cli/commands/start-command.js'
import { exitCodes } from '../../src/cli/exit-codes.js'
import { awaitVerification } from '../../src/cli/follow-run.js'
import { formatCompletion, formatRunDetail, formatVerification } from '../../src/cli/format.js'
import { runDetail } from './run-detail-fixture.js'

const names = new Map([
  [2, 'Acme Logistics'],
  [3, 'Globex'],
])
const verifiedAt = '2026-01-01T09:01:02.345Z'

/** Completed and succeeded a minute ago, on 2 tenants. */
function run(extra: Partial<RunDetail> = {}): RunDetail {
  return runDetail({
    status: 'completed',
    outcome: 'succeeded',
    summaryCounts: { total: 10, processed: 10, updated: 4, skipped: 6, failed: 0, tenants: 2 },
    completedAt: new Date(Date.now() - 60_000).toISOString(),
    tenantCounts: { targeted: 2, pending: 0, succeeded: 2, failed: 0, cancelled: 0 },
    ...extra,
  })
}

const clean = { remaining: 0, tenantsWithRemaining: [], verifiedAt }
const residue = {
  remaining: 4,
  tenantsWithRemaining: [
    { tenantId: 2, remaining: 3 },
    { tenantId: 9, remaining: 1 },
  ],
  verifiedAt,
}

describe('CLI verification lines (SPEC §11)', () => {
  it('prints "Verified: 0 remaining" with the time', () => {
    expect(formatVerification(run({ verification: clean }), names)).toBe('Verified: 0 remaining (2026-01-01 09:01:02Z)')
  })

  it("prints the residue in the runbook's unit with each tenant's remaining", () => {
    expect(formatVerification(run({ outcome: 'partially_succeeded', verification: residue }), names, 'findings')).toBe(
      ['Verified: 4 findings would still change (2026-01-01 09:01:02Z)', '  Acme Logistics (#2): 3', '  #9: 1'].join('\n'),
    )
    // Unit unknown: the CLI's default.
    expect(formatVerification(run({ verification: residue }), names)).toMatch(/^Verified: 4 rows would still change/)
  })

  it('says pending for a succeeded or partially succeeded run not verified yet, nothing for other outcomes', () => {
    expect(formatVerification(run(), names)).toBe('Verification: pending')
    expect(formatVerification(run({ outcome: 'partially_succeeded' }), names)).toBe('Verification: pending')
    for (const outcome of ['failed', 'cancelled', 'rejected', 'blocked']) {
      expect(formatVerification(run({ outcome: outcome as RunDetail['outcome'] }), names)).toBeNull()
    }
    expect(formatVerification(run({ status: 'running', outcome: 'pending' }), names)).toBeNull()
  })

  it('says none, and waits for nothing, for a run completed longer ago than the service verifies', async () => {
    const old = run({ completedAt: new Date(Date.now() - 2 * 3600_000).toISOString() })
    expect(formatVerification(old, names)).toBe('Verification: none (the service verifies a run only within an hour of its completion)')
    let slept = 0
    const client = { getRun: async () => old } as unknown as ApiClient
    expect(await awaitVerification(client, old, { sleep: async () => void slept++ })).toBe(old)
    expect(slept).toBe(0)
  })

  it('rcp run and the end of --follow carry the line', () => {
    expect(formatRunDetail(run({ verification: clean }), names)).toMatch(/^Counts .*\nVerified: 0 remaining \(.+\)\nFailures: none$/m)
    const completion = formatCompletion(run({ verification: residue }), names, 'invoices')
    expect(completion).toContain('Verified: 4 invoices would still change')
    expect(completion).toContain('  Acme Logistics (#2): 3')
    expect(formatCompletion(run(), names)).toContain('Verification: pending')
    expect(formatCompletion(run({ outcome: 'failed' }), names)).not.toMatch(/Verif/)
  })
})

describe('awaitVerification', () => {
  const clientAnswering = (answers: RunDetail[]) => {
    let calls = 0
    const client = {
      getRun: async () => answers[Math.min(calls++, answers.length - 1)]!,
    } as unknown as ApiClient
    return { client, calls: () => calls }
  }
  const noSleep = async () => {}

  it('polls until the verification is recorded', async () => {
    const { client, calls } = clientAnswering([run(), run({ verification: clean })])
    const verified = await awaitVerification(client, run(), { sleep: noSleep, intervalMs: 500, timeoutMs: 10_000 })
    expect(verified.verification).toEqual(clean)
    expect(calls()).toBe(2)
  })

  it('gives up after the timeout with the run unverified (then: pending)', async () => {
    const { client, calls } = clientAnswering([run()])
    const slept: number[] = []
    const last = await awaitVerification(client, run(), { sleep: async (ms) => void slept.push(ms), intervalMs: 500, timeoutMs: 10_000 })
    expect(last.verification).toBeNull()
    expect(calls()).toBe(20)
    expect(slept.reduce((a, b) => a + b, 0)).toBe(10_000)
  })

  it('does not wait for outcomes that are never verified, nor for a run already verified', async () => {
    const { client, calls } = clientAnswering([run({ verification: clean })])
    await awaitVerification(client, run({ outcome: 'failed' }), { sleep: noSleep })
    await awaitVerification(client, run({ outcome: 'cancelled' }), { sleep: noSleep })
    await awaitVerification(client, run({ verification: clean }), { sleep: noSleep })
    expect(calls()).toBe(0)
  })
})

describe('the exit code of a followed run (SPEC §11 verification)', () => {
  const verification = (remaining: number) => ({
    remaining,
    tenantsWithRemaining: remaining > 0 ? [{ tenantId: 2, remaining }] : [],
    verifiedAt,
  })

  it('is 0 only for a run that succeeded with nothing left to change (or not verified yet)', () => {
    expect(followedRunExitCode({ outcome: 'succeeded', verification: verification(0) })).toBe(exitCodes.ok)
    expect(followedRunExitCode({ outcome: 'succeeded', verification: null })).toBe(exitCodes.ok)
  })

  it('is 1 for a succeeded run whose verification found findings still to change, as for any other outcome', () => {
    expect(followedRunExitCode({ outcome: 'succeeded', verification: verification(3) })).toBe(exitCodes.runNotSucceeded)
    expect(followedRunExitCode({ outcome: 'partially_succeeded', verification: verification(0) })).toBe(exitCodes.runNotSucceeded)
    expect(followedRunExitCode({ outcome: 'cancelled', verification: null })).toBe(exitCodes.runNotSucceeded)
  })
})
