import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { InvalidArgumentError } from 'commander'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { PlanDriftedProblem } from '../../src/cli/api-client.js'
import {
  driftPercent,
  formatPlanDrift,
  pinnedStartHint,
  pinOf,
  previewAgainCommand,
  shellWord,
} from '../../src/cli/commands/pinned-plan.js'
import { UsageError } from '../../src/cli/exit-codes.js'
import { runCli } from './run-cli.js'

/** SPEC §11 "Pinned plan and drift" in the CLI: `start --preflight ID [--max-drift P]`, the drift report, the hint of `rcp preflight`. */

const preflightId = '01J9Z3NDEKTSV4RRFFQ69G5FAV'
const runId = '01ARZ3NDEKTSV4RRFFQ69G5FAA'
const KEY = 'findings.lifecycle.backfill'

const drifted = (extra: Partial<PlanDriftedProblem> = {}): PlanDriftedProblem => ({
  type: 'about:blank',
  title: 'Conflict',
  status: 409,
  detail: 'the data changed since the pinned preview beyond the tolerance: preview again and start from the new plan',
  code: 'PLAN_DRIFTED',
  pinned: { affectedCount: 12, totalCount: 40, estimatedTenants: 2 },
  current: { affectedCount: 14, totalCount: 42, estimatedTenants: 2 },
  tenants: [
    { tenantId: 2, pinned: { affected: 10, total: 30, wouldFail: null }, current: { affected: 11, total: 31, wouldFail: null } },
    { tenantId: 7, pinned: { affected: 2, total: 10, wouldFail: null }, current: { affected: 3, total: 11, wouldFail: 'INVALID_DATA' } },
  ],
  tenantsChanged: 2,
  ...extra,
})

describe('the pin options', () => {
  it('--max-drift takes a percentage from 0 to 100; anything else is a usage error', () => {
    expect(driftPercent('0')).toBe(0)
    expect(driftPercent('10')).toBe(10)
    expect(driftPercent('2.5')).toBe(2.5)
    expect(driftPercent('100')).toBe(100)
    for (const bad of ['', '-1', '101', '100.5', 'ten', '1e1', '5%', ' 5', '0x10', 'Infinity', 'NaN']) {
      expect(() => driftPercent(bad), bad).toThrow(InvalidArgumentError)
    }
  })

  it('pinOf sends the preview id and the tolerance; --max-drift without --preflight is a usage error', () => {
    expect(pinOf({})).toEqual({})
    expect(pinOf({ preflight: preflightId })).toEqual({ preflightId })
    expect(pinOf({ preflight: preflightId, maxDrift: 0 })).toEqual({ preflightId, maxDriftPercent: 0 })
    expect(() => pinOf({ maxDrift: 5 })).toThrow(UsageError)
    expect(() => pinOf({ maxDrift: 5 })).toThrow(/--max-drift needs --preflight ID/)
    expect(() => pinOf({ preflight: ' ' })).toThrow(UsageError)
    expect(() => pinOf({ preflight: preflightId, maxDrift: 101 })).toThrow(UsageError)
  })

  it("rcp preflight's hint repeats the target and parameter flags, quoted for a shell", () => {
    expect(pinnedStartHint(KEY, { tenant: 2 }, preflightId)).toBe(`start pinned: rcp start ${KEY} --tenant 2 --preflight ${preflightId}`)
    expect(pinnedStartHint(KEY, { allTenants: true, param: ['slaDays.critical=1', 'note=two words'] }, preflightId)).toBe(
      `start pinned: rcp start ${KEY} --all-tenants --param slaDays.critical=1 --param 'note=two words' --preflight ${preflightId}`,
    )
    expect(previewAgainCommand(KEY, { tenant: 3, paramsFile: 'sla.json' })).toBe(`rcp preflight ${KEY} --tenant 3 --params-file sla.json`)
    expect(shellWord(`it's`)).toBe(`'it'\\''s'`)
    expect(shellWord('a\u001b[2Jb')).toBe(`'a [2Jb'`)
  })
})

describe('formatPlanDrift: a start refused because the pinned plan drifted', () => {
  const context = { preflightId, maxDriftPercent: 0, unit: 'findings', previewCommand: `rcp preflight ${KEY} --all-tenants` }

  it('prints the pinned and current counts, the tenants that changed with their names, and how to go on', () => {
    const text = formatPlanDrift(drifted(), { ...context, names: new Map([[2, 'Acme Logistics']]) })
    const lines = text.split('\n')
    expect(lines[0]).toBe(`error: the data changed since preview ${preflightId} beyond --max-drift 0%, or a tenant would now fail: nothing was started`)
    expect(lines[1]).toMatch(/^ {2}\s+PINNED\s+NOW\s+CHANGE$/)
    expect(lines[2]).toMatch(/^ {2}findings to update\s+12\s+14\s+\+2 \(\+16\.7%\)$/)
    expect(lines[3]).toMatch(/^ {2}findings scanned\s+40\s+42\s+\+2 \(\+5%\)$/)
    expect(lines[4]).toMatch(/^ {2}tenants\s+2\s+2\s+0$/)
    expect(lines[5]).toBe('Tenants that changed (2):')
    expect(lines[6]).toMatch(/^ {2}TENANT\s+AFFECTED\s+WOULD FAIL$/)
    expect(lines[7]).toMatch(/^ {2}Acme Logistics \(#2\)\s+10 → 11\s+-$/)
    expect(lines[8]).toMatch(/^ {2}#7\s+2 → 3\s+ok → INVALID_DATA$/)
    expect(lines[9]).toBe(`hint: preview again (rcp preflight ${KEY} --all-tenants) and start from the new plan`)
    expect(lines).toHaveLength(10)
  })

  it('a tenant that joined or left the targets shows "-" on that side; the default tolerance is named as such', () => {
    const text = formatPlanDrift(
      drifted({
        pinned: { affectedCount: 0, totalCount: 5, estimatedTenants: 1 },
        current: { affectedCount: 3, totalCount: 5, estimatedTenants: 2 },
        tenants: [
          { tenantId: 9, pinned: null, current: { affected: 3, total: 3, wouldFail: null } },
          { tenantId: 4, pinned: { affected: 0, total: 2, wouldFail: 'INVALID_DATA' }, current: null },
          { tenantId: 5, pinned: { affected: 1, total: 2, wouldFail: 'INVALID_DATA' }, current: { affected: 1, total: 2, wouldFail: 'INVALID_DATA' } },
        ],
      }),
      { preflightId, previewCommand: 'rcp preflight k --tenant 9' },
    )
    expect(text).toContain('beyond the default tolerance')
    // Counted in rows when the unit is unknown; no percentage of a pinned 0.
    expect(text).toMatch(/^ {2}rows to update\s+0\s+3\s+\+3$/m)
    expect(text).toMatch(/^ {2}#9\s+- → 3\s+-$/m)
    expect(text).toMatch(/^ {2}#4\s+0 → -\s+INVALID_DATA → -$/m)
    expect(text).toMatch(/^ {2}#5\s+1 → 1\s+INVALID_DATA$/m)
  })

  it('text from the service cannot drive the terminal', () => {
    const text = formatPlanDrift(drifted({ tenants: [{ tenantId: 2, pinned: null, current: { affected: 1, total: 1, wouldFail: 'BAD\u001b[2J' } }] }), {
      ...context,
      names: new Map([[2, 'Evil\u001b]0;x\u0007Corp']]),
    })
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/)
    expect(text).toContain('Evil ]0;x Corp (#2)')
    expect(text).toContain('- → BAD [2J')
  })
})

interface Recorded {
  method: string
  path: string
  body: unknown
}

describe('rcp start --preflight against a stand-in service', () => {
  let server: Server
  let env: Record<string, string>
  let requests: Recorded[]
  /** The answer to `POST …/runs`; the catalog and the tenants answer by themselves. */
  let startAnswer: { status: number; body: unknown }
  /** The tenants listing refused (an operator without platform.runbooks.view). */
  let tenantsRefused: boolean

  beforeAll(async () => {
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        const path = new URL(request.url ?? '/', 'http://x').pathname
        const text = Buffer.concat(chunks).toString('utf8')
        requests.push({ method: request.method ?? '', path, body: text === '' ? undefined : JSON.parse(text) })
        const answer =
          path === '/api/tenants' && tenantsRefused
            ? { status: 403, body: { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'no', missingCapabilities: ['platform.runbooks.view'] } }
            : path === '/api/tenants'
            ? { status: 200, body: { items: [{ id: 2, name: 'Acme Logistics' }, { id: 7, name: 'Globex' }], nextCursor: null } }
            : path === '/api/runbooks'
              ? { status: 200, body: { items: [{ key: KEY, unit: 'findings' }], nextCursor: null } }
              : startAnswer
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
    startAnswer = { status: 202, body: { runId, status: 'queued' } }
    tenantsRefused = false
  })

  const start = (...extra: string[]) => runCli(['start', KEY, '--tenant', '2', '--confirm', KEY, ...extra], { env })
  const starts = () => requests.filter((r) => r.method === 'POST')

  it('sends preflightId and maxDriftPercent; without them the body has neither', async () => {
    expect((await start('--preflight', preflightId, '--max-drift', '2.5')).code).toBe(0)
    expect((await start('--preflight', preflightId)).code).toBe(0)
    expect((await start()).code).toBe(0)
    expect(starts().map((r) => r.body)).toEqual([
      { scope: 'single_tenant', tenantId: 2, confirmation: KEY, source: 'cli', preflightId, maxDriftPercent: 2.5 },
      { scope: 'single_tenant', tenantId: 2, confirmation: KEY, source: 'cli', preflightId },
      { scope: 'single_tenant', tenantId: 2, confirmation: KEY, source: 'cli' },
    ])
    expect(starts()[0]!.path).toBe(`/api/runbooks/${KEY}/runs`)
  })

  it('a bad --max-drift, or --max-drift without --preflight, exits 2 before any request', async () => {
    for (const argv of [['--preflight', preflightId, '--max-drift', '101'], ['--preflight', preflightId, '--max-drift', 'lots'], ['--preflight', preflightId, '--max-drift', '-5'], ['--max-drift', '5']]) {
      const refused = await start(...argv)
      expect(refused.code, argv.join(' ')).toBe(2)
      expect(refused.stdout).toBe('')
    }
    expect((await start('--max-drift', '5')).stderr).toBe(
      'error: --max-drift needs --preflight ID: the tolerance is against a pinned preview (rcp preflight prints its id)\n',
    )
    expect((await start('--preflight', preflightId, '--max-drift', '101')).stderr).toContain('--max-drift must be a percentage from 0 to 100')
    expect(requests).toEqual([])
  })

  it('409 PLAN_DRIFTED: the drift report with tenant names on stderr, exit 2; --json prints the problem', async () => {
    startAnswer = { status: 409, body: drifted() }
    const refused = await start('--preflight', preflightId, '--max-drift', '0')
    expect(refused.code).toBe(2)
    expect(refused.stdout).toBe('')
    expect(refused.stderr).toMatch(new RegExp(`^error: the data changed since preview ${preflightId} beyond --max-drift 0%`))
    expect(refused.stderr).toMatch(/^ {2}findings to update\s+12\s+14\s+\+2 \(\+16\.7%\)$/m)
    expect(refused.stderr).toMatch(/^ {2}Acme Logistics \(#2\)\s+10 → 11\s+-$/m)
    expect(refused.stderr).toMatch(/^ {2}Globex \(#7\)\s+2 → 3\s+ok → INVALID_DATA$/m)
    expect(refused.stderr).toMatch(new RegExp(`^hint: preview again \\(rcp preflight ${KEY} --tenant 2\\) and start from the new plan$`, 'm'))

    const json = await runCli(['--json', 'start', KEY, '--tenant', '2', '--confirm', KEY, '--preflight', preflightId], { env })
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toEqual(drifted())
  })

  it('the names are best effort: a refused tenants listing still prints the ids', async () => {
    startAnswer = { status: 409, body: drifted() }
    tenantsRefused = true
    const noNames = await start('--preflight', preflightId)
    expect(noNames.code).toBe(2)
    expect(noNames.stderr).toMatch(/^Tenants that changed \(2\):$/m)
    expect(noNames.stderr).toMatch(/^ {2}#2\s+10 → 11\s+-$/m)
    expect(requests.some((r) => r.path === '/api/tenants')).toBe(true)
  })

  it('the other 409 of a start (an identical run is active) keeps its output and exit 3', async () => {
    startAnswer = { status: 409, body: { type: 'about:blank', title: 'Conflict', status: 409, detail: 'an identical run is active', runId } }
    const active = await start('--preflight', preflightId)
    expect(active.code).toBe(3)
    expect(active.stdout).toBe(`${runId}\n`)
    expect(active.stderr).toContain(`error: an identical run is already active (queued, running or paused): ${runId}; nothing was started`)
  })

  it('a 422 about the preview or the tolerance names the option to fix', async () => {
    startAnswer = {
      status: 422,
      body: { type: 'about:blank', title: 'Unprocessable', status: 422, detail: 'invalid request', errors: [{ field: 'preflightId', message: 'no such preview, or it expired' }] },
    }
    const unknown = await start('--preflight', preflightId)
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^ {2}preflightId \(--preflight\): no such preview, or it expired$/m)
  })
})
