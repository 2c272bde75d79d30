import { describe, expect, it } from 'vitest'
import { ApiError, NetworkError, type ApiClient, type RunDetail } from '../../src/cli/api-client.js'
import { followRun, type ProgressReporter } from '../../src/cli/follow-run.js'

function run(status: string, outcome = 'pending'): RunDetail {
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
    tenants: [],
  } as unknown as RunDetail
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

const reporter = (): ProgressReporter & { stopped: boolean } => {
  const r = { stopped: false, update() {}, stop() { r.stopped = true } }
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
})
