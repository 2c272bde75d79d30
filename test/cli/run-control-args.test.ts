import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { RunDetail } from '../../src/cli/api-client.js'
import { runCli } from './run-cli.js'
import { fixtureRunId } from './run-detail-fixture.js'
import { nextAnswer, problem, standInRun, startStandInService, type Answer, type ReceivedRequest, type StandInService } from './stand-in-service.js'

/**
 * The run-control commands' arguments and answers, against a stand-in service that records each request and
 * answers what the test scripts: what is sent (method, path, body), what is refused before any request,
 * and how each answer maps to output and exit code.
 */

const runId = fixtureRunId
const retryId = '01ARZ3NDEKTSV4RRFFQ69G5FAR'
const reasonArgs = ['--reason-code', 'INCIDENT', '--reason', 'the repair looks wrong']
const reason = { code: 'INCIDENT', text: 'the repair looks wrong' }

type Recorded = Pick<ReceivedRequest, 'method' | 'path' | 'query' | 'body'>

const run = (extra: Partial<RunDetail> = {}) => standInRun({ limits: { maxConcurrency: 1000, maxFailures: null }, ...extra })

describe('run control commands against a stand-in service', () => {
  let service: StandInService
  let env: Record<string, string>
  let requests: Recorded[]
  /** The answer to the next requests, in order; the last one repeats. */
  let answers: Answer[]

  beforeAll(async () => {
    service = await startStandInService(({ method, path, query, body }) => {
      requests.push({ method, path, query, body })
      return nextAnswer(answers)
    })
    env = service.env
  })

  afterAll(async () => {
    await service.close()
  })

  beforeEach(() => {
    requests = []
    answers = [{ status: 200, body: run() }]
  })

  const cli = (argv: string[], options: { stdin?: string; stdinIsTTY?: boolean } = {}) => runCli(argv, { env, ...options })

  it('pause sends the reason; without one it is refused before any request', async () => {
    answers = [{ status: 202, body: run({ status: 'paused', pause: { ...reason, reasonCode: 'INCIDENT', reasonText: reason.text, by: 'u1', byEmail: 'o@x', byName: 'Ops', at: '2026-01-01T09:00:00Z' } }) }]
    const result = await cli(['pause', runId, ...reasonArgs])
    expect(result.code, result.stderr).toBe(0)
    expect(requests).toEqual([{ method: 'POST', path: `/api/runs/${runId}/pause`, query: {}, body: { reason } }])
    expect(result.stdout).toMatch(new RegExp(`^Run ${runId} paused: `))
    expect(result.stdout).toMatch(/^Paused\s+INCIDENT: the repair looks wrong \(by Ops <o@x>/m)

    requests = []
    const missing = await cli(['pause', runId, '--reason-code', 'INCIDENT'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("required option '--reason <text>'")
    expect(requests).toEqual([])
  })

  it('resume sends a reason only when given one; --json prints the run as answered', async () => {
    answers = [{ status: 202, body: run() }]
    const bare = await cli(['resume', runId])
    expect(bare.code, bare.stderr).toBe(0)
    expect(bare.stdout).toMatch(new RegExp(`^Run ${runId} resumed: running\\.`))
    const withReason = await cli(['--json', 'resume', runId, ...reasonArgs])
    expect(JSON.parse(withReason.stdout)).toEqual(run())
    expect(requests.map((r) => r.body)).toEqual([{}, { reason }])
  })

  it('cancel: --yes, or the run id typed at a terminal; no terminal and no --yes is a usage error', async () => {
    answers = [{ status: 202, body: run({ cancellation: { reasonCode: 'INCIDENT', reasonText: reason.text, by: 'u1', byEmail: null, byName: 'Ops', at: '2026-01-01T09:00:00Z' } }) }]
    const noTerminal = await cli(['cancel', runId, ...reasonArgs])
    expect(noTerminal.code).toBe(2)
    expect(noTerminal.stderr).toContain('pass --yes')
    const wrong = await cli(['cancel', runId, ...reasonArgs], { stdinIsTTY: true, stdin: '01ARZ3NDEKTSV4RRFFQ69G5FAA\n' })
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toContain('Type the run id to confirm: ')
    expect(wrong.stderr).toContain('does not match the run; nothing was cancelled')
    const nothing = await cli(['cancel', runId, ...reasonArgs], { stdinIsTTY: true, stdin: '' })
    expect(nothing.code).toBe(2)
    expect(requests).toEqual([])

    const typed = await cli(['cancel', runId, ...reasonArgs], { stdinIsTTY: true, stdin: `${runId}\n` })
    expect(typed.code, typed.stderr).toBe(0)
    expect(typed.stdout).toMatch(new RegExp(`^Run ${runId} is being cancelled`))
    const yes = await cli(['cancel', runId, ...reasonArgs, '--yes'])
    expect(yes.code, yes.stderr).toBe(0)
    expect(yes.stderr).toBe('')
    expect(requests).toEqual([
      { method: 'POST', path: `/api/runs/${runId}/cancel`, query: {}, body: { reason } },
      { method: 'POST', path: `/api/runs/${runId}/cancel`, query: {}, body: { reason } },
    ])
  })

  it('limits: either option or both, `none` for no failure limit; bad values and no option are refused before any request', async () => {
    for (const argv of [[], ['--max-concurrency', '0'], ['--max-concurrency', 'many'], ['--max-failures', '-1'], ['--max-failures', '1.5']]) {
      const refused = await cli(['limits', runId, ...argv])
      expect(refused.code, argv.join(' ')).toBe(2)
    }
    expect((await cli(['limits', runId])).stderr).toContain('give --max-concurrency N, --max-failures N|none, or both')
    expect(requests).toEqual([])

    answers = [{ status: 200, body: run({ limits: { maxConcurrency: 3, maxFailures: null } }) }]
    const none = await cli(['limits', runId, '--max-failures', 'none'])
    expect(none.code, none.stderr).toBe(0)
    expect(none.stdout).toContain('limits changed: max concurrency 3, max failures none')
    await cli(['limits', runId, '--max-concurrency', '3', '--max-failures', '0'])
    expect(requests.map((r) => [r.method, r.path, r.body])).toEqual([
      ['PATCH', `/api/runs/${runId}/limits`, { maxFailures: null }],
      ['PATCH', `/api/runs/${runId}/limits`, { maxConcurrency: 3, maxFailures: 0 }],
    ])
  })

  it("limits refused by the service name the option to fix (422 → 2)", async () => {
    answers = [problem(422, 'invalid values', { errors: [{ field: 'limits.maxConcurrency', message: 'must be 1 to 1000' }] })]
    const result = await cli(['limits', runId, '--max-concurrency', '5000'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^ {2}limits\.maxConcurrency \(--max-concurrency\): must be 1 to 1000$/m)
  })

  it('retry: the confirmation and source; 409 with an active retry prints its id (exit 3); other refusals exit 2', async () => {
    answers = [{ status: 202, body: { runId: retryId, status: 'queued' } }]
    const started = await cli(['retry', runId, '--confirm', 'findings.lifecycle.backfill', '--max-concurrency', '2'])
    expect(started.code, started.stderr).toBe(0)
    expect(started.stdout).toBe(`Run ${retryId} started (queued): retries the failed tenants of ${runId}\n`)
    expect(requests[0]).toEqual({
      method: 'POST',
      path: `/api/runs/${runId}/retry`,
      query: {},
      body: { confirmation: 'findings.lifecycle.backfill', source: 'cli', limits: { maxConcurrency: 2 } },
    })

    answers = [problem(409, `a retry of the run is already active: ${retryId}`, { runId: retryId })]
    const active = await cli(['retry', runId, '--confirm', 'findings.lifecycle.backfill', ...reasonArgs])
    expect(active.code).toBe(3)
    expect(active.stdout).toBe(`${retryId}\n`)
    expect(active.stderr).toContain(`a retry of run ${runId} (or an identical run) is already active: ${retryId}`)
    expect(requests[1]!.body).toEqual({ confirmation: 'findings.lifecycle.backfill', reason, source: 'cli' })
    const activeJson = await cli(['--json', 'retry', runId, '--confirm', 'findings.lifecycle.backfill'])
    expect(activeJson.code).toBe(3)
    expect(JSON.parse(activeJson.stdout)).toMatchObject({ status: 409, runId: retryId })

    answers = [problem(409, 'retry is not allowed when the run is running', { state: 'running' })]
    const notCompleted = await cli(['retry', runId, '--confirm', 'findings.lifecycle.backfill'])
    expect(notCompleted.code).toBe(2)
    expect(notCompleted.stdout).toBe('')
    expect(notCompleted.stderr).toContain('error: retry is not allowed when the run is running')

    answers = [problem(422, 'invalid values', { errors: [{ field: 'runId', message: 'the run has no failed tenant to retry' }] })]
    const noFailures = await cli(['retry', runId, '--confirm', 'findings.lifecycle.backfill'])
    expect(noFailures.code).toBe(2)
    expect(noFailures.stderr).toMatch(/^ {2}runId \(RUN\): the run has no failed tenant to retry$/m)

    const noConfirm = await cli(['retry', runId])
    expect(noConfirm.code).toBe(2)
    expect(noConfirm.stderr).toContain('--confirm')
  })

  it('tenants RUN: the filter as query, --all follows the cursors; the options of each form are refused in the other', async () => {
    const tenant = (tenantId: number) => ({
      tenantId,
      tenantName: `T${tenantId}`,
      status: 'failed',
      attempts: 1,
      counts: null,
      reasonCode: 'INVALID_DATA',
      message: 'bad',
      startedAt: null,
      completedAt: null,
    })
    answers = [
      { status: 200, body: { items: [tenant(1), tenant(2)], nextCursor: 'c1' } },
      { status: 200, body: { items: [tenant(3)], nextCursor: null } },
    ]
    const all = await cli(['--json', 'tenants', runId, '--status', 'failed', '--limit', '2', '--all'])
    expect(all.code, all.stderr).toBe(0)
    expect(JSON.parse(all.stdout)).toEqual({ items: [tenant(1), tenant(2), tenant(3)], nextCursor: null })
    expect(requests.map((r) => [r.path, r.query])).toEqual([
      [`/api/runs/${runId}/tenants`, { status: 'failed', limit: '2' }],
      [`/api/runs/${runId}/tenants`, { status: 'failed', limit: '2', cursor: 'c1' }],
    ])

    answers = [{ status: 200, body: { items: [tenant(1)], nextCursor: 'c1' } }]
    const page = await cli(['tenants', runId, '--cursor', 'c0'])
    expect(page.stdout).toMatch(/^TENANT\s+STATUS\s+ATTEMPTS/)
    expect(page.stdout).toContain('T1 (#1)  failed')
    expect(page.stdout).toContain('More: repeat with --cursor c1')
    expect(requests.at(-1)!.query).toEqual({ cursor: 'c0' })

    requests = []
    expect((await cli(['tenants', runId, '--status', 'done'])).code).toBe(2)
    const statusWithoutRun = await cli(['tenants', '--status', 'failed'])
    expect(statusWithoutRun.code).toBe(2)
    expect(statusWithoutRun.stderr).toContain('--status: only with a run id')
    expect((await cli(['tenants', runId, '--q', 'acme'])).code).toBe(2)
    expect(requests).toEqual([])
  })

  it('halt, halt status and unhalt: the reason in the body, DELETE included', async () => {
    const halt = { halted: true, reason, by: { id: 'u1', email: 'o@x', name: 'Ops' }, at: '2026-01-01T09:00:00.000Z' }
    const noReason = await cli(['halt'])
    expect(noReason.code).toBe(2)
    expect(noReason.stderr).toContain('halt needs --reason-code CODE and --reason TEXT')
    expect(requests).toEqual([])

    answers = [{ status: 202, body: { ...halt, pausedRuns: [runId] } }]
    const engaged = await cli(['halt', ...reasonArgs])
    expect(engaged.code, engaged.stderr).toBe(0)
    expect(engaged.stdout).toContain(`Paused 1 run(s) (HALTED):\n  ${runId}\n`)
    answers = [{ status: 200, body: halt }]
    const status = await cli(['halt', 'status'])
    expect(status.stdout).toMatch(/^HALTED since 2026-01-01 09:00:00Z by Ops <o@x>: INCIDENT: the repair looks wrong$/m)
    expect(JSON.parse((await cli(['halt', 'status', '--json'])).stdout)).toEqual(halt)
    answers = [{ status: 200, body: { halted: false, reason: null, by: null, at: null } }]
    const lifted = await cli(['unhalt', ...reasonArgs])
    expect(lifted.code, lifted.stderr).toBe(0)
    expect(lifted.stdout).toMatch(/^Halt lifted/)
    expect((await cli(['unhalt'])).code).toBe(2)

    expect(requests.map((r) => [r.method, r.path, r.body])).toEqual([
      ['POST', '/api/halt', { reason }],
      ['GET', '/api/halt', undefined],
      ['GET', '/api/halt', undefined],
      ['DELETE', '/api/halt', { reason }],
    ])
  })

  it('answers become exit codes: 423 → 6 with a hint, 404 → "no run" (2), 409 → the detail (2), 403 → 4', async () => {
    answers = [problem(423, 'the deployment is halted: cannot resume a run until the halt is lifted', { code: 'HALTED' })]
    const halted = await cli(['resume', runId])
    expect(halted.code).toBe(6)
    expect(halted.stderr).toMatch(/^error: the deployment is halted/m)
    expect(halted.stderr).toMatch(/^hint: rcp halt status .*rcp unhalt/m)
    const haltedStart = await cli(['start', 'findings.lifecycle.backfill', '--all-tenants', '--confirm', 'findings.lifecycle.backfill'])
    expect(haltedStart.code).toBe(6)

    answers = [problem(404, `unknown run: ${runId}`)]
    for (const argv of [['pause', runId, ...reasonArgs], ['run', runId], ['tenants', runId], ['limits', runId, '--max-concurrency', '2']]) {
      const missing = await cli(argv)
      expect(missing.code, argv[0]).toBe(2)
      expect(missing.stderr, argv[0]).toMatch(new RegExp(`^error: no run ${runId}$`, 'm'))
    }
    const missingJson = await cli(['--json', 'pause', runId, ...reasonArgs])
    expect(JSON.parse(missingJson.stdout)).toMatchObject({ status: 404, detail: `unknown run: ${runId}` })

    answers = [problem(409, 'pause is not allowed when the run is paused', { state: 'paused' })]
    const conflict = await cli(['pause', runId, ...reasonArgs])
    expect(conflict.code).toBe(2)
    expect(conflict.stderr).toMatch(/^error: pause is not allowed when the run is paused$/m)
    expect(conflict.stderr).toMatch(new RegExp(`^hint: the run is paused: rcp run ${runId} shows it$`, 'm'))

    answers = [problem(403, 'missing capability: platform.ops.halt', { missingCapabilities: ['platform.ops.halt'] })]
    const forbidden = await cli(['halt', ...reasonArgs])
    expect(forbidden.code).toBe(4)
    expect(forbidden.stderr).toContain('platform.ops.halt')
  })

  it('start carries limits when given', async () => {
    answers = [{ status: 202, body: { runId, status: 'queued' } }]
    const result = await cli(['start', 'k', '--tenant', '2', '--confirm', 'k', '--max-concurrency', '1', '--max-failures', '0'])
    expect(result.code, result.stderr).toBe(0)
    expect(requests[0]!.body).toEqual({ scope: 'single_tenant', tenantId: 2, confirmation: 'k', source: 'cli', limits: { maxConcurrency: 1, maxFailures: 0 } })
    await cli(['start', 'k', '--tenant', '2', '--confirm', 'k'])
    expect(requests[1]!.body).toEqual({ scope: 'single_tenant', tenantId: 2, confirmation: 'k', source: 'cli' })
  })
})
