import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import type { RunDetail, RunTenant } from '../../src/cli/api-client.js'
import { progressReporterFor } from '../../src/cli/follow-run.js'
import {
  formatCompletion,
  formatControlled,
  formatHalt,
  formatHaltEngaged,
  formatRunDetail,
  formatRunTenants,
} from '../../src/cli/format.js'
import { fixtureRunId, runDetail } from './run-detail-fixture.js'

const id = fixtureRunId

/** Running, 1 of its tenants failed. */
function run(extra: Partial<RunDetail> = {}): RunDetail {
  return runDetail({
    summaryCounts: { total: 10, processed: 10, updated: 4, skipped: 6, failed: 1, tenants: 24 },
    tenantCounts: { targeted: 24, pending: 20, succeeded: 3, failed: 1, cancelled: 0 },
    ...extra,
  })
}

const pause = {
  reasonCode: 'INCIDENT',
  reasonText: 'the repair looks wrong',
  by: 'u1',
  byEmail: 'ops@example.test',
  byName: 'Ops',
  at: '2026-01-01T09:00:00.123Z',
}

describe('run control in text', () => {
  it('run shows the pause, the limits, the tenant counts and what it retries', () => {
    const text = formatRunDetail(run({ status: 'paused', pause, retryOf: '01ARZ3NDEKTSV4RRFFQ69G5FAA' }), new Map())
    expect(text).toMatch(/^Status\s+paused$/m)
    expect(text).toMatch(/^Paused\s+INCIDENT: the repair looks wrong \(by Ops <ops@example\.test>, 2026-01-01 09:00:00Z\)$/m)
    expect(text).toMatch(/^Retry of\s+01ARZ3NDEKTSV4RRFFQ69G5FAA$/m)
    expect(text).toMatch(/^Limits\s+max concurrency 4, max failures none$/m)
    expect(text).toMatch(/^Tenants\s+targeted 24, pending 20, succeeded 3, failed 1, cancelled 0$/m)
    expect(text).not.toMatch(/^Cancelling/m)

    const plain = formatRunDetail(run({ limits: { maxConcurrency: 1, maxFailures: 0 } }), new Map())
    expect(plain).not.toMatch(/^(Paused|Retry of)/m)
    expect(plain).toMatch(/^Limits\s+max concurrency 1, max failures 0$/m)
  })

  it('a cancelling run and a service pause say so', () => {
    const cancelling = formatRunDetail(run({ cancellation: { ...pause, reasonCode: 'SUPPORT' } }), new Map())
    expect(cancelling).toMatch(/^Cancelling\s+SUPPORT: the repair looks wrong \(by Ops/m)
    const budget = { ...pause, reasonCode: 'ERROR_BUDGET_EXCEEDED', reasonText: '', by: 'system', byEmail: null, byName: null }
    expect(formatRunDetail(run({ status: 'paused', pause: budget }), new Map())).toMatch(
      /^Paused\s+ERROR_BUDGET_EXCEEDED \(by the service, 2026-01-01 09:00:00Z\)$/m,
    )
  })

  it('pause, resume, cancel and limits print what happened and the run as it is now', () => {
    expect(formatControlled('pause', run({ status: 'paused', pause }))).toMatch(
      new RegExp(`^Run ${id} paused: .*rcp resume ${id}.*\\nStatus\\s+paused\\nOutcome\\s+pending\\nPaused\\s+INCIDENT`),
    )
    expect(formatControlled('resume', run())).toMatch(new RegExp(`^Run ${id} resumed: running\\.\\n`))
    expect(formatControlled('cancel', run({ cancellation: pause }))).toMatch(new RegExp(`^Run ${id} is being cancelled: `))
    expect(formatControlled('cancel', run({ status: 'completed', outcome: 'cancelled' }))).toMatch(
      new RegExp(`^Run ${id} cancelled: completed cancelled\\.`),
    )
    expect(formatControlled('limits', run({ limits: { maxConcurrency: 2, maxFailures: 5 } }))).toMatch(
      /^Run \S+ limits changed: max concurrency 2, max failures 5\.\n/,
    )
  })

  it('a completed run shows its tenant counts, cancelled ones included', () => {
    const text = formatCompletion(
      run({ status: 'completed', outcome: 'cancelled', tenantCounts: { targeted: 24, pending: 0, succeeded: 3, failed: 1, cancelled: 20 } }),
      new Map(),
    )
    expect(text).toContain(`Run ${id} completed: cancelled`)
    expect(text).toContain('Tenants: targeted 24, pending 0, succeeded 3, failed 1, cancelled 20')
  })

  it("a run's tenants: one row each, names when known, the failure with its code", () => {
    const tenants: RunTenant[] = [
      {
        tenantId: 2,
        tenantName: 'Acme',
        status: 'succeeded',
        attempts: 1,
        counts: { total: 5, updated: 3, skipped: 2 },
        reasonCode: null,
        message: null,
        startedAt: '2026-01-01T09:00:00.000Z',
        completedAt: '2026-01-01T09:00:01.000Z',
      },
      {
        tenantId: 7,
        tenantName: 'Bad\u001b[2J',
        status: 'failed',
        attempts: 3,
        counts: null,
        reasonCode: 'INVALID_DATA',
        message: 'finding 12 has severity "urgent"',
        startedAt: '2026-01-01T09:00:02.000Z',
        completedAt: '2026-01-01T09:00:03.000Z',
      },
      { tenantId: 9, tenantName: null, status: 'cancelled', attempts: 0, counts: null, reasonCode: null, message: null, startedAt: null, completedAt: null },
    ]
    expect(formatRunTenants(tenants).split('\n')).toEqual([
      'TENANT        STATUS     ATTEMPTS  UPDATED  SKIPPED  TOTAL  STARTED               COMPLETED             FAILURE',
      'Acme (#2)     succeeded  1         3        2        5      2026-01-01 09:00:00Z  2026-01-01 09:00:01Z  -',
      'Bad [2J (#7)  failed     3         -        -        -      2026-01-01 09:00:02Z  2026-01-01 09:00:03Z  INVALID_DATA: finding 12 has severity "urgent"',
      '#9            cancelled  0         -        -        -      -                     -                     -',
    ])
    expect(formatRunTenants([])).toBe('No tenants.')
  })

  it('halt: the status, and what halting did', () => {
    expect(formatHalt({ halted: false, reason: null, by: null, at: null })).toMatch(/^Not halted/)
    const halt = {
      halted: true,
      reason: { code: 'SECURITY', text: 'credentials may have leaked' },
      by: { id: 'u1', email: 'ops@example.test', name: 'Ops' },
      at: '2026-01-01T09:00:00.000Z',
    }
    expect(formatHalt(halt)).toMatch(
      /^HALTED since 2026-01-01 09:00:00Z by Ops <ops@example\.test>: SECURITY: credentials may have leaked\n.*rcp unhalt/,
    )
    const engaged = formatHaltEngaged({ ...halt, pausedRuns: [id, '01ARZ3NDEKTSV4RRFFQ69G5FAB'] })
    expect(engaged).toContain('Paused 2 run(s) (HALTED):')
    expect(engaged).toContain(`\n  ${id}\n  01ARZ3NDEKTSV4RRFFQ69G5FAB\n`)
    expect(formatHaltEngaged({ ...halt, pausedRuns: [] })).toContain('No active run to pause.')
  })
})

describe('the progress bar and notes', () => {
  it('a note ends the bar line, gets a line of its own, and the bar is drawn again after it', () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 100 })
    const chunks: string[] = []
    stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()))
    const reporter = progressReporterFor(stream, id)
    reporter.update({ status: 'running', done: 1, total: 4, failed: 0 })
    reporter.note('Run X paused: INCIDENT')
    reporter.update({ status: 'paused', done: 1, total: 4, failed: 0 })
    reporter.update({ status: 'completed', done: 4, total: 4, failed: 0 })
    reporter.stop()
    const output = chunks.join('')
    expect(output).toMatch(/1\/4 tenants \| running \| failed 0[^\n]*\n(\u001b\[[0-9;]*[A-Za-z]|\r)*Run X paused: INCIDENT\n/)
    expect(output.slice(output.indexOf('Run X paused'))).toMatch(/4\/4 tenants \| completed \| failed 0/)
  })
})
