import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { followRun, type ProgressReporter } from '../../src/cli/follow-run.js'
import { ApiClient, type RunDetail } from '../../src/cli/api-client.js'
import { awaitingApproval, fixtureRunId } from './run-detail-fixture.js'
import { runCli } from './run-cli.js'
import { nextAnswer, problem, standInRun, startStandInService, type Answer, type ReceivedRequest, type StandInService } from './stand-in-service.js'

/**
 * SPEC §10 commands against a stand-in service that records each request: operators, me, password,
 * approve, reject, approvals, logout; what is sent, what is refused before any request, exit codes, and that
 * no password is ever printed.
 */

const runId = fixtureRunId
const secret = 'a long enough secret password'
const newSecret = 'another long secret password'

type Recorded = Pick<ReceivedRequest, 'method' | 'path' | 'authorization' | 'body'>

const operator = (extra: Record<string, unknown> = {}) => ({
  id: 'op_2',
  email: 'bob@ops.test',
  name: 'Bob',
  capabilities: ['platform.ops.view', 'platform.runbooks.approve'],
  isBreakGlass: false,
  disabled: false,
  createdAt: '2026-01-01T09:00:00.000Z',
  lastLoginAt: null,
  ...extra,
})

const run = (extra: Partial<RunDetail> = {}) => standInRun({ ...awaitingApproval, ...extra })

describe('operators, approvals and logout against a stand-in service', () => {
  let service: StandInService
  let baseUrl: string
  let env: Record<string, string>
  let requests: Recorded[]
  let answers: Answer[]
  let folder: string

  beforeAll(async () => {
    service = await startStandInService(({ method, path, authorization, body }) => {
      requests.push({ method, path, authorization, body })
      return nextAnswer(answers)
    })
    ;({ baseUrl, env } = service)
    folder = await mkdtemp(join(tmpdir(), 'rcp-ops-args-'))
  })

  afterAll(async () => {
    await service.close()
    await rm(folder, { recursive: true, force: true })
  })

  beforeEach(() => {
    requests = []
    answers = [{ status: 200, body: operator() }]
  })

  const cli = (argv: string[], options: { stdin?: string; stdinIsTTY?: boolean; env?: Record<string, string> } = {}) =>
    runCli(argv, { env: options.env ?? env, stdin: options.stdin, stdinIsTTY: options.stdinIsTTY })
  const bodies = () => requests.map((r) => [r.method, r.path, r.body])

  it('operators create: email, name, capabilities (repeatable), break-glass and the piped password; the password is never printed', async () => {
    answers = [{ status: 201, body: operator({ isBreakGlass: true }) }]
    const result = await cli(
      ['operators', 'create', '--email', 'bob@ops.test', '--name', 'Bob', '--capability', 'platform.ops.view', '--capability', 'platform.runbooks.approve', '--break-glass', '--password-stdin'],
      { stdin: `${secret}\n` },
    )
    expect(result.code, result.stderr).toBe(0)
    expect(bodies()).toEqual([
      ['POST', '/api/operators', { email: 'bob@ops.test', name: 'Bob', password: secret, capabilities: ['platform.ops.view', 'platform.runbooks.approve'], isBreakGlass: true }],
    ])
    expect(result.stdout).toMatch(/^Operator bob@ops.test created: op_2$/m)
    expect(result.stdout).toMatch(/^Break-glass\s+yes/m)
    expect(result.stdout + result.stderr).not.toContain(secret)

    requests = []
    const plain = await cli(['operators', 'create', '--email', 'c@ops.test', '--name', 'C', '--password-stdin'], { stdin: secret })
    expect(plain.code).toBe(0)
    expect(requests[0]!.body).toEqual({ email: 'c@ops.test', name: 'C', password: secret, capabilities: [] })
  })

  it('operators create: no terminal and no --password-stdin, or a missing --email, is refused before any request (exit 2)', async () => {
    const noTerminal = await cli(['operators', 'create', '--email', 'c@ops.test', '--name', 'C'])
    expect(noTerminal.code).toBe(2)
    expect(noTerminal.stderr).toContain('--password-stdin')
    const noEmail = await cli(['operators', 'create', '--name', 'C', '--password-stdin'], { stdin: secret })
    expect(noEmail.code).toBe(2)
    expect(noEmail.stderr).toContain("required option '--email <email>'")
    expect(requests).toEqual([])
  })

  it('operators create: 409 (email exists) and 422 (weak password, unknown capability) exit 2 naming the field; the password stays unprinted', async () => {
    answers = [problem(409, 'an operator with this email exists')]
    const exists = await cli(['operators', 'create', '--email', 'bob@ops.test', '--name', 'Bob', '--password-stdin'], { stdin: secret })
    expect(exists.code).toBe(2)
    expect(exists.stderr).toMatch(/^error: an operator with this email exists$/m)

    answers = [
      problem(422, 'invalid request', {
        errors: [
          { field: 'password', message: 'must have 12 to 200 characters' },
          { field: 'capabilities', message: 'unknown capability: nope' },
        ],
      }),
    ]
    const weak = await cli(['operators', 'create', '--email', 'b@ops.test', '--name', 'B', '--capability', 'nope', '--password-stdin'], { stdin: 'short' })
    expect(weak.code).toBe(2)
    expect(weak.stderr).toMatch(/^ {2}password \(the password\): must have 12 to 200 characters$/m)
    expect(weak.stderr).toMatch(/^ {2}capabilities \(--capability\): unknown capability: nope$/m)
    expect(weak.stdout + weak.stderr).not.toContain('short\n')
  })

  it('operators list: a table; --json the API body', async () => {
    answers = [{ status: 200, body: { items: [operator(), operator({ id: 'op_3', email: 'eve@ops.test', name: 'Eve', disabled: true, capabilities: [] })] } }]
    const result = await cli(['operators', 'list'])
    expect(result.code).toBe(0)
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^ID\s+EMAIL\s+NAME\s+STATE\s+BREAK-GLASS\s+LAST LOGIN\s+CAPABILITIES$/)
    expect(lines[1]).toMatch(/^op_2\s+bob@ops.test\s+Bob\s+enabled\s+no\s+-\s+platform.ops.view,platform.runbooks.approve$/)
    expect(lines[2]).toMatch(/^op_3\s+eve@ops.test\s+Eve\s+disabled/)
    const json = await cli(['--json', 'operators', 'list'])
    expect(JSON.parse(json.stdout).items).toHaveLength(2)
  })

  it('operators update: only the options given; --capability replaces the set; --no-break-glass sends false; an email is looked up', async () => {
    await cli(['operators', 'update', 'op_2', '--name', 'Robert'])
    await cli(['operators', 'update', 'op_2', '--capability', 'platform.ops.view'])
    await cli(['operators', 'update', 'op_2', '--no-break-glass'])
    await cli(['operators', 'update', 'op_2', '--break-glass'])
    expect(bodies()).toEqual([
      ['PATCH', '/api/operators/op_2', { name: 'Robert' }],
      ['PATCH', '/api/operators/op_2', { capabilities: ['platform.ops.view'] }],
      ['PATCH', '/api/operators/op_2', { isBreakGlass: false }],
      ['PATCH', '/api/operators/op_2', { isBreakGlass: true }],
    ])

    requests = []
    answers = [{ status: 200, body: { items: [operator()] } }, { status: 200, body: operator({ name: 'Robert' }) }]
    const byEmail = await cli(['operators', 'update', 'BOB@ops.test', '--name', 'Robert'])
    expect(byEmail.code, byEmail.stderr).toBe(0)
    expect(bodies()).toEqual([
      ['GET', '/api/operators', undefined],
      ['PATCH', '/api/operators/op_2', { name: 'Robert' }],
    ])

    requests = []
    answers = [{ status: 200, body: { items: [] } }]
    const unknown = await cli(['operators', 'disable', 'nobody@ops.test'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('no operator with the email nobody@ops.test')

    requests = []
    const nothing = await cli(['operators', 'update', 'op_2'])
    expect(nothing.code).toBe(2)
    expect(nothing.stderr).toContain('give --name, --capability')
    expect(requests).toEqual([])
  })

  it('operators disable and enable: PATCH disabled; 403 (oneself) exits 4 saying why, 409 (last manager) exits 2', async () => {
    answers = [{ status: 200, body: operator({ disabled: true }) }]
    const disabled = await cli(['operators', 'disable', 'op_2'])
    expect(disabled.code).toBe(0)
    expect(disabled.stdout).toMatch(/^Operator bob@ops.test disabled: every token and console session of theirs ended$/m)
    answers = [{ status: 200, body: operator() }]
    const enabled = await cli(['operators', 'enable', 'op_2'])
    expect(enabled.code).toBe(0)
    expect(enabled.stdout).toMatch(/enabled: they can log in again/)
    expect(bodies()).toEqual([
      ['PATCH', '/api/operators/op_2', { disabled: true }],
      ['PATCH', '/api/operators/op_2', { disabled: false }],
    ])

    answers = [problem(403, 'you cannot disable yourself')]
    const self = await cli(['operators', 'disable', 'op_1'])
    expect(self.code).toBe(4)
    expect(self.stderr).toMatch(/^error: you cannot disable yourself$/m)
    expect(self.stderr).toMatch(/^hint: nobody changes their own capabilities or disables themselves/m)

    answers = [problem(409, 'the last enabled operator holding platform.operators.manage cannot be disabled')]
    const last = await cli(['operators', 'disable', 'op_1'])
    expect(last.code).toBe(2)
    expect(last.stderr).toContain('last enabled operator')

    answers = [problem(403, 'missing capability', { missingCapabilities: ['platform.operators.manage'] })]
    const notManager = await cli(['operators', 'list'])
    expect(notManager.code).toBe(4)
    expect(notManager.stderr).toMatch(/^hint: this operator lacks a capability; .*platform.operators.manage/m)
  })

  it("operators password sets another operator's password from stdin; never printed", async () => {
    const result = await cli(['operators', 'password', 'op_2', '--password-stdin'], { stdin: `${newSecret}\n` })
    expect(result.code, result.stderr).toBe(0)
    expect(bodies()).toEqual([['POST', '/api/operators/op_2/password', { password: newSecret }]])
    expect(result.stdout).toMatch(/^Password of bob@ops.test set: every token and console session of theirs ended$/m)
    expect(result.stdout + result.stderr).not.toContain(newSecret)
    const noTerminal = await cli(['operators', 'password', 'op_2'])
    expect(noTerminal.code).toBe(2)
    expect(requests).toHaveLength(1)
  })

  it('me shows the operator; password reads the current and the new one as two stdin lines', async () => {
    const me = await cli(['me'])
    expect(me.code).toBe(0)
    expect(me.stdout).toMatch(/^Email\s+bob@ops.test$/m)
    expect(me.stdout).toMatch(/^Capabilities\s+platform.ops.view, platform.runbooks.approve$/m)

    requests = []
    answers = [{ status: 200, body: { changed: true } }]
    const changed = await cli(['password', '--password-stdin'], { stdin: `${secret}\n${newSecret}\n` })
    expect(changed.code, changed.stderr).toBe(0)
    expect(bodies()).toEqual([['POST', '/api/me/password', { currentPassword: secret, password: newSecret }]])
    expect(changed.stdout).toContain('log in again')
    expect(changed.stdout + changed.stderr).not.toContain(secret)
    expect(changed.stdout + changed.stderr).not.toContain(newSecret)

    requests = []
    const oneLine = await cli(['password', '--password-stdin'], { stdin: `${secret}\n` })
    expect(oneLine.code).toBe(2)
    expect(oneLine.stderr).toContain('expected two lines on stdin')
    const noTerminal = await cli(['password'])
    expect(noTerminal.code).toBe(2)
    expect(requests).toEqual([])

    answers = [problem(422, 'invalid request', { errors: [{ field: 'currentPassword', message: 'is not your current password' }] })]
    const wrong = await cli(['password', '--password-stdin'], { stdin: `${secret}\n${newSecret}` })
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toMatch(/^ {2}currentPassword \(the current password\): is not your current password$/m)
  })

  it('approve sends the comment; reject the reason; 403 (own run) → 4 saying why, 409 → 2, 423 → 6', async () => {
    answers = [{ status: 202, body: run({ status: 'queued', approval: { required: true, approvedBy: 'bob@ops.test', approvedAt: '2026-01-01T09:05:00Z', comment: 'looks right' } }) }]
    const approved = await cli(['approve', runId, '--comment', 'looks right'])
    expect(approved.code, approved.stderr).toBe(0)
    expect(approved.stdout).toMatch(new RegExp(`^Run ${runId} approved: queued`, 'm'))
    expect(approved.stdout).toMatch(/^Approval\s+approved by bob@ops.test \(2026-01-01 09:05:00Z\): looks right$/m)
    await cli(['approve', runId])
    answers = [{ status: 202, body: run({ status: 'completed', outcome: 'rejected' }) }]
    const rejected = await cli(['reject', runId, '--reason-code', 'INCIDENT', '--reason', 'not during the incident'])
    expect(rejected.code, rejected.stderr).toBe(0)
    expect(rejected.stdout).toMatch(new RegExp(`^Run ${runId} rejected: completed rejected, nothing was repaired\\.`, 'm'))
    expect(bodies()).toEqual([
      ['POST', `/api/runs/${runId}/approve`, { comment: 'looks right' }],
      ['POST', `/api/runs/${runId}/approve`, {}],
      ['POST', `/api/runs/${runId}/reject`, { reason: { code: 'INCIDENT', text: 'not during the incident' } }],
    ])

    requests = []
    const noReason = await cli(['reject', runId, '--reason-code', 'INCIDENT'])
    expect(noReason.code).toBe(2)
    expect(requests).toEqual([])

    answers = [problem(403, 'the operator who started the run cannot approve it')]
    const own = await cli(['approve', runId])
    expect(own.code).toBe(4)
    expect(own.stderr).toMatch(/^hint: the operator who started a run cannot approve or reject it: a second operator must$/m)
    answers = [problem(409, 'approve is not allowed when the run is queued', { state: 'queued' })]
    const conflict = await cli(['approve', runId])
    expect(conflict.code).toBe(2)
    expect(conflict.stderr).toMatch(new RegExp(`^hint: the run is queued: rcp run ${runId} shows it$`, 'm'))
    answers = [problem(423, 'the deployment is halted', { code: 'HALTED' })]
    const halted = await cli(['approve', runId])
    expect(halted.code).toBe(6)
    answers = [problem(404, `unknown run: ${runId}`)]
    const missing = await cli(['reject', runId, '--reason-code', 'INCIDENT', '--reason', 'not during the incident'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(new RegExp(`^error: no run ${runId}$`, 'm'))
  })

  it('approvals shows the setting; approvals set PUTs it; a value outside none|all_tenants|all is refused before any request', async () => {
    answers = [{ status: 200, body: { required: 'none', by: null, at: null } }]
    const shown = await cli(['approvals'])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toBe('Approvals: none: no start needs approval (the default)\n')
    answers = [{ status: 200, body: { required: 'all_tenants', by: { id: 'op_1', email: 'a@ops.test', name: 'Ann' }, at: '2026-01-01T09:00:00.000Z' } }]
    const set = await cli(['approvals', 'set', 'all_tenants'])
    expect(set.code, set.stderr).toBe(0)
    expect(set.stdout).toBe('Approvals: all_tenants: starts for all tenants need a second operator to approve (set by Ann <a@ops.test>, 2026-01-01 09:00:00Z)\n')
    const json = await cli(['--json', 'approvals'])
    expect(JSON.parse(json.stdout)).toMatchObject({ required: 'all_tenants' })
    expect(bodies()).toEqual([
      ['GET', '/api/settings/approvals', undefined],
      ['PUT', '/api/settings/approvals', { required: 'all_tenants' }],
      ['GET', '/api/settings/approvals', undefined],
    ])
    requests = []
    const bad = await cli(['approvals', 'set', 'some'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('expected none, all_tenants, all')
    expect(requests).toEqual([])
  })

  it('start answered awaiting_approval says who must act; run shows it', async () => {
    answers = [{ status: 202, body: { runId, status: 'awaiting_approval' } }]
    const started = await cli(['start', 'k', '--all-tenants', '--confirm', 'k', '--reason-code', 'INCIDENT', '--reason', 'not during the incident'])
    expect(started.code, started.stderr).toBe(0)
    expect(started.stdout).toContain(`Run ${runId} started (awaiting_approval)`)
    expect(started.stdout).toContain(`waiting for a second operator to approve: rcp approve ${runId}`)
    const json = await cli(['--json', 'start', 'k', '--all-tenants', '--confirm', 'k'])
    expect(JSON.parse(json.stdout)).toEqual({ runId, status: 'awaiting_approval' })

    answers = [{ status: 200, body: run() }]
    const shown = await cli(['run', runId])
    expect(shown.stdout).toMatch(/^Status\s+awaiting_approval$/m)
    expect(shown.stdout).toMatch(new RegExp(`^Approval\\s+waiting for a second operator to approve: rcp approve ${runId}`, 'm'))
  })

  it('start --follow keeps following while awaiting approval, and a rejected run exits 1', async () => {
    answers = [
      { status: 202, body: { runId, status: 'awaiting_approval' } },
      { status: 200, body: run() },
      { status: 200, body: run() },
      { status: 200, body: run({ status: 'completed', outcome: 'rejected', completedAt: '2026-01-01T09:10:00Z' }) },
    ]
    const result = await cli(['start', 'k', '--all-tenants', '--confirm', 'k', '--follow'])
    expect(result.code, result.stderr).toBe(1)
    expect(result.stdout.match(/waiting for a second operator to approve: rcp approve/g)?.length).toBe(1)
    expect(result.stdout).toContain(`Run ${runId} was not approved: rejected.`)
    expect(result.stdout).toContain(`Run ${runId} completed: rejected`)
    expect(requests.filter((r) => r.method === 'GET')).toHaveLength(3)
  }, 20_000)

  it('followRun notes the approval once, polls slowly meanwhile, then follows the approved run', async () => {
    answers = [
      { status: 200, body: run() },
      { status: 200, body: run() },
      { status: 200, body: run({ status: 'queued' }) },
      { status: 200, body: run({ status: 'completed', outcome: 'succeeded' }) },
    ]
    const notes: string[] = []
    const slept: number[] = []
    const reporter: ProgressReporter = { update() {}, note: (text) => void notes.push(text), stop() {} }
    const done = await followRun(new ApiClient({ baseUrl, token: 't' }), runId, reporter, {
      intervalMs: 1,
      pausedIntervalMs: 50,
      sleep: async (ms) => void slept.push(ms),
    })
    expect(done.outcome).toBe('succeeded')
    expect(notes).toEqual([
      `Run ${runId} is waiting for a second operator to approve: rcp approve ${runId} (or rcp reject ${runId} --reason-code CODE --reason TEXT); it does not start by itself.`,
      `Run ${runId} approved: queued.`,
    ])
    expect(slept).toEqual([50, 50, 1])
  })

  it('logout revokes the stored token (DELETE with it), then deletes the file', async () => {
    const file = join(folder, 'revoke.json')
    await writeFile(file, JSON.stringify({ url: baseUrl, email: 'a@ops.test', token: 'rcp_stored', savedAt: '', expiresAt: null }))
    answers = [{ status: 200, body: { revoked: true } }]
    const result = await cli(['logout'], { env: { RCP_CONFIG: file } })
    expect(result.code, result.stderr).toBe(0)
    expect(requests).toEqual([{ method: 'DELETE', path: '/api/auth/tokens/current', authorization: 'Bearer rcp_stored', body: undefined }])
    expect(result.stdout).toBe(`Logged out: the token is revoked; removed ${file}\n`)
    await expect(stat(file)).rejects.toThrow(/ENOENT/)

    // A token the service no longer knows (401): forgotten all the same, no warning.
    await writeFile(file, JSON.stringify({ url: baseUrl, email: 'a@ops.test', token: 'rcp_stored', savedAt: '', expiresAt: null }))
    answers = [problem(401, 'token invalid')]
    const stale = await cli(['logout'], { env: { RCP_CONFIG: file } })
    expect(stale.code).toBe(0)
    expect(stale.stdout).toContain('had already expired or been revoked')
    expect(stale.stderr).toBe('')

    const none = await cli(['logout'], { env: { RCP_CONFIG: file } })
    expect(none.stdout).toBe('Not logged in: no stored credentials\n')
  })

  it('logout with the service unreachable still forgets the token, and says it stays valid', async () => {
    const dead = 'http://127.0.0.1:9'
    const file = join(folder, 'unreachable.json')
    await writeFile(file, JSON.stringify({ url: dead, email: 'a@ops.test', token: 'rcp_stored', savedAt: '', expiresAt: null }))
    const result = await cli(['logout'], { env: { RCP_CONFIG: file } })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('the token could NOT be revoked')
    expect(result.stderr).toMatch(/^warning: cannot reach http:\/\/127.0.0.1:9: .*stays valid on http:\/\/127.0.0.1:9 until it expires$/m)
    expect(result.stdout + result.stderr).not.toContain('rcp_stored')
    await expect(readFile(file)).rejects.toThrow(/ENOENT/)
  })
})
