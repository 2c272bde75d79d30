import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { runCli } from './run-cli.js'

/**
 * `rcp start --canary-*` and `rcp revert` (SPEC §11) against a stand-in service that records each request
 * and answers what the test scripts: what is sent, what is refused before any request, and how each
 * refusal maps to output and exit code.
 */

const runbookKey = 'findings.lifecycle.backfill'
const runId = '01ARZ3NDEKTSV4RRFFQ69G5FAV'
const revertId = '01ARZ3NDEKTSV4RRFFQ69G5FAR'
const reason = { code: 'INCIDENT', text: 'the repair looks wrong' }
const reasonArgs = ['--reason-code', reason.code, '--reason', reason.text]
const startArgs = ['start', runbookKey, '--all-tenants', '--confirm', runbookKey, ...reasonArgs]

interface Recorded {
  method: string
  path: string
  body: unknown
}

interface Answer {
  status: number
  body: unknown
}

const problem = (status: number, detail: string, extra: Record<string, unknown> = {}): Answer => ({
  status,
  body: { type: 'about:blank', title: 'x', status, detail, ...extra },
})

describe('canary and revert options against a stand-in service', () => {
  let server: Server
  let env: Record<string, string>
  let requests: Recorded[]
  let answer: Answer

  beforeAll(async () => {
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        requests.push({ method: request.method ?? '', path: new URL(request.url ?? '/', 'http://x').pathname, body: text === '' ? undefined : JSON.parse(text) })
        response.writeHead(answer.status, { 'content-type': answer.status >= 400 ? 'application/problem+json' : 'application/json' })
        response.end(JSON.stringify(answer.body))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    env = { RCP_URL: `http://127.0.0.1:${port}`, RCP_TOKEN: 'rcp_test', RCP_CONFIG: '/nonexistent/rcp/credentials.json' }
  })

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
  })

  beforeEach(() => {
    requests = []
    answer = { status: 202, body: { runId: revertId, status: 'queued' } }
  })

  const cli = (argv: string[], options: { stdin?: string; stdinIsTTY?: boolean } = {}) => runCli(argv, { env, ...options })

  describe('start with a canary', () => {
    it('sends canary {count} or {tenantIds} with autoPromote, and says what the canary does', async () => {
      const byCount = await cli([...startArgs, '--canary-count', '2'])
      expect(byCount.code, byCount.stderr).toBe(0)
      expect(byCount.stdout).toBe(
        `Run ${revertId} started (queued): canary first (the 2 with the fewest findings), then it pauses (CANARY_COMPLETE) until rcp resume ${revertId}\n`,
      )
      const byIds = await cli([...startArgs, '--canary-tenants', '11,12', '--auto-promote'])
      expect(byIds.code, byIds.stderr).toBe(0)
      expect(byIds.stdout).toContain('canary first (tenants 11, 12), then the others')
      const none = await cli(startArgs)
      expect(none.code, none.stderr).toBe(0)
      expect(requests.map((r) => (r.body as { canary?: unknown }).canary)).toEqual([
        { count: 2, autoPromote: false },
        { tenantIds: [11, 12], autoPromote: true },
        undefined,
      ])
    })

    it('refuses both ways at once, a bad count or id list, and --auto-promote alone before any request (exit 2)', async () => {
      const refusals: Array<[string[], string]> = [
        [['--canary-count', '2', '--canary-tenants', '11'], "option '--canary-count <n>' cannot be used with option '--canary-tenants <ids>'"],
        [['--canary-tenants', '11', '--canary-count', '2'], 'cannot be used with'],
        [['--canary-count', '0'], '--canary-count must be a positive integer'],
        [['--canary-count', 'two'], '--canary-count must be a positive integer'],
        [['--canary-tenants', '11,x'], '--canary-tenants must be tenant ids separated by commas'],
        [['--auto-promote'], '--auto-promote needs a canary'],
      ]
      for (const [argv, message] of refusals) {
        const refused = await cli([...startArgs, ...argv])
        expect(refused.code, argv.join(' ')).toBe(2)
        expect(refused.stderr, argv.join(' ')).toContain(message)
      }
      expect(requests).toEqual([])
    })

    it("the service's refusal of a canary names the option to fix (422 → 2)", async () => {
      answer = problem(422, 'invalid values', { errors: [{ field: 'canary.count', message: "must be at most 24, the run's number of target tenants" }] })
      const refused = await cli([...startArgs, '--canary-count', '99'])
      expect(refused.code).toBe(2)
      expect(refused.stderr).toMatch(/^ {2}canary\.count \(--canary-count\): must be at most 24/m)
      answer = problem(422, 'invalid values', { errors: [{ field: 'canary.tenantIds', message: 'not targets of this run: 99' }] })
      expect((await cli([...startArgs, '--canary-tenants', '99'])).stderr).toMatch(/^ {2}canary\.tenantIds \(--canary-tenants\): not targets/m)
    })
  })

  describe('revert', () => {
    const revertArgs = ['revert', runId, ...reasonArgs]
    const revertRequest = (confirmation: string) => ({
      method: 'POST',
      path: `/api/runs/${runId}/revert`,
      body: { confirmation, reason, source: 'cli' },
    })

    it('--yes sends "revert RUN"; a terminal is asked for it and what is typed is sent as typed', async () => {
      const yes = await cli([...revertArgs, '--yes'])
      expect(yes.code, yes.stderr).toBe(0)
      expect(yes.stdout).toBe(`Run ${revertId} started (queued): reverts ${runId}\n`)
      expect(yes.stderr).toBe('')
      const typed = await cli(revertArgs, { stdinIsTTY: true, stdin: `  revert ${runId} \n` })
      expect(typed.code, typed.stderr).toBe(0)
      expect(typed.stderr).toContain(`Type "revert ${runId}" to confirm: `)
      const json = await cli(['--json', ...revertArgs, '--yes'])
      expect(JSON.parse(json.stdout)).toEqual({ runId: revertId, status: 'queued' })
      expect(requests).toEqual([revertRequest(`revert ${runId}`), revertRequest(`revert ${runId}`), revertRequest(`revert ${runId}`)])
    })

    it('without a terminal and without --yes, or without a reason, nothing is sent (exit 2)', async () => {
      const noTerminal = await cli(revertArgs, { stdin: `revert ${runId}\n` })
      expect(noTerminal.code).toBe(2)
      expect(noTerminal.stderr).toContain('revert needs a confirmation: pass --yes')
      const nothingTyped = await cli(revertArgs, { stdinIsTTY: true, stdin: '' })
      expect(nothingTyped.code).toBe(2)
      const noReason = await cli(['revert', runId, '--yes'])
      expect(noReason.code).toBe(2)
      expect(noReason.stderr).toContain("required option '--reason-code <code>'")
      expect(requests).toEqual([])
    })

    it('a wrong confirmation goes to the service, whose 422 names it (exit 2)', async () => {
      answer = problem(422, 'invalid values', { errors: [{ field: 'confirmation', message: `must be exactly "revert ${runId}"` }] })
      const wrong = await cli(revertArgs, { stdinIsTTY: true, stdin: 'revert something-else\n' })
      expect(wrong.code).toBe(2)
      expect(wrong.stderr).toContain(`  confirmation (the typed confirmation): must be exactly "revert ${runId}"`)
      expect(requests).toEqual([revertRequest('revert something-else')])
    })

    it('maps the refusals: 404 no run, 409 state, 409 active run (exit 3, its id), 422 runId, 423 halted', async () => {
      answer = problem(404, 'run not found')
      const unknown = await cli([...revertArgs, '--yes'])
      expect([unknown.code, unknown.stderr]).toEqual([2, `error: no run ${runId}\nhint: rcp runs lists the runs\n`])

      answer = problem(409, `revert is not allowed when the run is completed and already reverted by run ${revertId}`, {
        state: `completed and already reverted by run ${revertId}`,
      })
      const twice = await cli([...revertArgs, '--yes'])
      expect(twice.code).toBe(2)
      expect(twice.stderr).toContain(`hint: the run is completed and already reverted by run ${revertId}: rcp run ${runId} shows it`)

      answer = problem(409, 'an identical run is already active', { runId: revertId })
      const active = await cli([...revertArgs, '--yes'])
      expect(active.code).toBe(3)
      expect(active.stdout).toBe(`${revertId}\n`)
      expect(active.stderr).toContain(`a run of the same runbook and target is active: ${revertId}; nothing was started`)

      answer = problem(422, 'invalid values', { errors: [{ field: 'runId', message: "the run's before-images expired" }] })
      const expired = await cli([...revertArgs, '--yes'])
      expect(expired.code).toBe(2)
      expect(expired.stderr).toContain("  runId (RUN): the run's before-images expired")

      answer = problem(423, 'the deployment is halted', { code: 'HALTED' })
      const halted = await cli([...revertArgs, '--yes'])
      expect(halted.code).toBe(6)
      expect(halted.stderr).toContain('hint: rcp halt status')
    })
  })

  it('the help lists revert and the canary options', async () => {
    const help = await cli(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^ {2}revert \[options\] <run>/m)
    expect(help.stdout).toContain('revert: a run of the same runbook and target is')
    const revertHelp = await cli(['revert', '--help'])
    for (const option of ['--reason-code <code>', '--reason <text>', '--yes', '--follow']) expect(revertHelp.stdout).toContain(option)
    expect(revertHelp.stdout).toContain('Asks to type "revert RUN"')
    const startHelp = await cli(['start', '--help'])
    for (const option of ['--canary-count <n>', '--canary-tenants <ids>', '--auto-promote']) expect(startHelp.stdout).toContain(option)
  })
})
