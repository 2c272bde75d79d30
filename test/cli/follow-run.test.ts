import { describe, expect, it } from 'vitest'
import { ApiError, NetworkError, type ApiClient, type RunDetail } from '../../src/cli/api-client.js'
import { controlNotes, followRun, progressOf, type ProgressReporter, type RunProgress } from '../../src/cli/follow-run.js'

function run(status: string, outcome = 'pending', extra: Partial<RunDetail> = {}): RunDetail {
  return {
    id: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
    workspaceId: 1,
    tenantId: null,
    userId: 'u',
    initiatorName: 'Ops',
    type: 'findings.lifecycle.backfill',
    status,
    outcome,
    runIdentityHash: 'h',
    summaryCounts: { total: 0, processed: 0, updated: 0, skipped: 0, failed: 0, tenants: 2 },
    failureSummary: [],
    context: {},
    startedAt: null,
    completedAt: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    limits: { maxConcurrency: 1000, maxFailures: null },
    pause: null,
    cancellation: null,
    tenantCounts: { targeted: 2, pending: 2, succeeded: 0, failed: 0, cancelled: 0 },
    retryOf: null,
    ...extra,
  } as unknown as RunDetail
}

const pause = {
  reasonCode: 'INCIDENT',
  reasonText: 'the repair looks wrong',
  by: 'u1',
  byEmail: 'ops@example.test',
  byName: 'Ops',
  at: '2026-01-01T09:00:00.000Z',
}

/** A client whose getRun answers from a script: a value is returned, an Error is thrown. */
function scriptedClient(script: Array<RunDetail | Error>): ApiClient & { calls: number } {
  const client = {
    calls: 0,
    async getRun() {
      const next = script[Math.min(client.calls++, script.length - 1)]!
      if (next instanceof Error) throw next
      return next
    },
  }
  return client as unknown as ApiClient & { calls: number }
}

const reporter = (): ProgressReporter & { stopped: boolean; notes: string[]; updates: RunProgress[] } => {
  const r = {
    stopped: false,
    notes: [] as string[],
    updates: [] as RunProgress[],
    update(progress: RunProgress) {
      r.updates.push(progress)
    },
    note(text: string) {
      r.notes.push(text)
    },
    stop() {
      r.stopped = true
    },
  }
  return r
}
const noSleep = async () => {}

describe('followRun', () => {
  it('rides out a restart: network errors, 503 and a not-yet-projected 404 are retried, then it completes', async () => {
    const problem = { type: 'about:blank', title: 'x', status: 503, detail: 'restarting' }
    const client = scriptedClient([
      new ApiError(404, { ...problem, status: 404 }),
      run('running'),
      new NetworkError('http://x', 'ECONNREFUSED'),
      new ApiError(503, problem),
      run('completed', 'succeeded'),
    ])
    const progress = reporter()
    const completed = await followRun(client, 'id', progress, { sleep: noSleep })
    expect(completed.outcome).toBe('succeeded')
    expect(client.calls).toBe(5)
    expect(progress.stopped).toBe(true)
  })

  it('gives up on an error that will not pass (403), and after too many failures in a row', async () => {
    const forbidden = new ApiError(403, { type: 'about:blank', title: 'x', status: 403, detail: 'missing capability' })
    await expect(followRun(scriptedClient([forbidden]), 'id', reporter(), { sleep: noSleep })).rejects.toBe(forbidden)
    const down = new NetworkError('http://x', 'ECONNREFUSED')
    const client = scriptedClient([down])
    await expect(followRun(client, 'id', reporter(), { sleep: noSleep, maxConsecutiveFailures: 3 })).rejects.toBe(down)
    expect(client.calls).toBe(4)
  })

  it('keeps following a paused run (more slowly), says when it pauses and resumes, and returns it once completed', async () => {
    const counts = (pending: number, succeeded: number) => ({ targeted: 2, pending, succeeded, failed: 0, cancelled: 0 })
    const client = scriptedClient([
      run('running', 'pending', { tenantCounts: counts(1, 1) }),
      run('paused', 'pending', { pause, tenantCounts: counts(1, 1) }),
      run('paused', 'pending', { pause, tenantCounts: counts(1, 1) }),
      run('paused', 'pending', { pause, tenantCounts: counts(1, 1) }),
      run('running', 'pending', { tenantCounts: counts(1, 1) }),
      run('completed', 'succeeded', { tenantCounts: counts(0, 2) }),
    ])
    const progress = reporter()
    const sleeps: number[] = []
    const completed = await followRun(client, 'id', progress, { sleep: async (ms) => void sleeps.push(ms), intervalMs: 10, pausedIntervalMs: 99 })
    expect(completed.outcome).toBe('succeeded')
    expect(client.calls).toBe(6)
    expect(sleeps).toEqual([10, 99, 99, 99, 10])
    expect(progress.updates.map((u) => `${u.status} ${u.done}/${u.total}`)).toEqual([
      'running 1/2',
      'paused 1/2',
      'paused 1/2',
      'paused 1/2',
      'running 1/2',
      'completed 2/2',
    ])
    expect(progress.notes).toEqual([
      'Run 01ARZ3NDEKTSV4RRFFQ69G5FAV paused: INCIDENT: the repair looks wrong (by Ops <ops@example.test>, 2026-01-01 09:00:00Z); ' +
        'it does not complete until resumed (rcp resume 01ARZ3NDEKTSV4RRFFQ69G5FAV) or cancelled (rcp cancel 01ARZ3NDEKTSV4RRFFQ69G5FAV).',
      'Run 01ARZ3NDEKTSV4RRFFQ69G5FAV resumed: running.',
    ])
  })

  it('a paused run cancelled completes cancelled: no resume note, the cancellation is said once', async () => {
    const cancellation = { ...pause, reasonCode: 'SUPPORT', reasonText: 'customer asked to stop' }
    const client = scriptedClient([
      run('paused', 'pending', { pause }),
      run('paused', 'pending', { pause, cancellation }),
      run('paused', 'pending', { pause, cancellation }),
      run('completed', 'cancelled', { tenantCounts: { targeted: 2, pending: 0, succeeded: 1, failed: 0, cancelled: 1 } }),
    ])
    const progress = reporter()
    expect((await followRun(client, 'id', progress, { sleep: noSleep })).outcome).toBe('cancelled')
    expect(progress.notes).toHaveLength(2)
    expect(progress.notes[0]).toMatch(/^Run \S+ paused: INCIDENT/)
    expect(progress.notes[1]).toMatch(/^Run \S+ is being cancelled: SUPPORT: customer asked to stop \(by Ops/)
    expect(progress.updates.at(-1)).toEqual({ status: 'completed', done: 2, total: 2, failed: 0 })
  })

  it("a pause by the service names it, and a new pause (a halt over an operator's pause) is said again", () => {
    const budget = { ...pause, reasonCode: 'ERROR_BUDGET_EXCEEDED', reasonText: '', by: 'system', byEmail: null, byName: null }
    const first = run('paused', 'pending', { pause: budget })
    expect(controlNotes(null, first)).toEqual([expect.stringContaining('paused: ERROR_BUDGET_EXCEEDED (by the service, 2026-01-01 09:00:00Z)')])
    expect(controlNotes(first, first)).toEqual([])
    const halted = run('paused', 'pending', { pause: { ...budget, reasonCode: 'HALTED', at: '2026-01-01T09:05:00.000Z' } })
    expect(controlNotes(first, halted)).toEqual([expect.stringContaining('paused: HALTED')])
  })

  it('progress counts failed tenants from the tenant counts while the run is going', () => {
    expect(progressOf(run('running', 'pending', { tenantCounts: { targeted: 5, pending: 2, succeeded: 2, failed: 1, cancelled: 0 } }))).toEqual({
      status: 'running',
      done: 3,
      total: 5,
      failed: 1,
    })
  })
})
