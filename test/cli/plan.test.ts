import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { PlanTenant } from '../../src/cli/api-client.js'
import { formatPlan, formatPreflight } from '../../src/cli/format.js'
import { runCli } from './run-cli.js'

/** SPEC §11 "Per-tenant plan" in the CLI: the text of `rcp preflight` and `rcp plan`, and how `rcp plan` pages. */

const preflightId = '01J9Z3NDEKTSV4RRFFQ69G5FAV'
const counts = { affectedCount: 7, totalCount: 40, estimatedTenants: 3 }
const tenant = (tenantId: number, extra: Partial<PlanTenant> = {}): PlanTenant => ({
  tenantId,
  tenantName: `Tenant ${tenantId}`,
  affected: tenantId,
  total: tenantId * 10,
  wouldFail: null,
  message: null,
  ...extra,
})
const failing = (tenantId: number, message = `finding ${tenantId} has a severity outside the vocabulary`) =>
  tenant(tenantId, { wouldFail: 'INVALID_DATA', message })

describe('formatPreflight: the preview id and the tenants that would fail', () => {
  it('names the preview and how to see its plan; no would-fail section when none would fail', () => {
    const text = formatPreflight('k.x', 'all tenants', { ...counts, preflightId, wouldFailTenants: [] }, 'findings')
    expect(text).toMatch(/^ {2}tenants\s+3\n {2}preflight\s+01J9Z3NDEKTSV4RRFFQ69G5FAV$/m)
    expect(text).not.toContain('Would fail')
    expect(text).toContain(`Per tenant: rcp plan ${preflightId} (kept 24 hours)`)
  })

  it('lists each tenant that would fail with its name, reason code and message, in the order of wouldFailTenants', () => {
    const text = formatPreflight('k.x', 'all tenants', { ...counts, preflightId, wouldFailTenants: [4, 9] }, 'findings', [
      failing(4),
      failing(9, 'bad\u001b[2Jrow'),
    ])
    const lines = text.split('\n')
    const at = lines.indexOf('Would fail (2):')
    expect(at).toBeGreaterThan(0)
    expect(lines[at + 1]).toBe('  Tenant 4 (#4)  INVALID_DATA  finding 4 has a severity outside the vocabulary')
    // A message from the service cannot drive the terminal.
    expect(lines[at + 2]).toBe('  Tenant 9 (#9)  INVALID_DATA  bad [2Jrow')
  })

  it('lists the ids alone, with how to get the reasons, when the plan could not be fetched', () => {
    const text = formatPreflight('k.x', 'tenant #4', { ...counts, preflightId, wouldFailTenants: [4] }, 'findings', null)
    expect(text).toMatch(/^Would fail \(1\):\n {2}#4\n {2}\(reasons unavailable: rcp plan 01J9Z3NDEKTSV4RRFFQ69G5FAV --would-fail\)$/m)
  })

  it("an earlier release's answer (no preview id, no wouldFailTenants) prints the counts as before", () => {
    const text = formatPreflight('k.x', 'tenant #1', counts)
    expect(text).toBe('Preflight of k.x for tenant #1:\n  rows to update  7\n  rows scanned    40\n  tenants         3')
  })
})

describe('formatPlan', () => {
  it('one row per tenant in the given order, "-" where nothing would fail, and a count', () => {
    const text = formatPlan([failing(4), tenant(1, { tenantName: null }), tenant(2)])
    const lines = text.split('\n')
    expect(lines[0]).toMatch(/^TENANT\s+NAME\s+AFFECTED\s+TOTAL\s+WOULD FAIL\s+MESSAGE$/)
    expect(lines[1]).toMatch(/^4\s+Tenant 4\s+4\s+40\s+INVALID_DATA\s+finding 4 has a severity outside the vocabulary$/)
    expect(lines[2]).toMatch(/^1\s+-\s+1\s+10\s+-\s+-$/)
    expect(lines[3]).toMatch(/^2\s+Tenant 2\s+2\s+20\s+-\s+-$/)
    expect(lines[4]).toBe('3 tenants, 1 would fail.')
  })

  it('says so when there is nothing to list', () => {
    expect(formatPlan([])).toBe('No tenants.')
    expect(formatPlan([], { wouldFailOnly: true })).toBe('No tenant would fail.')
    expect(formatPlan([failing(4)], { wouldFailOnly: true }).split('\n').at(-1)).toBe('1 tenant would fail.')
  })
})

interface Recorded {
  method: string
  path: string
  query: Record<string, string>
}

interface Answer {
  status: number
  body: unknown
}

describe('rcp plan and rcp preflight against a stand-in service', () => {
  let server: Server
  let env: Record<string, string>
  let requests: Recorded[]
  /** The answers to the next requests, in order; the last one repeats. */
  let answers: Answer[]

  beforeAll(async () => {
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      request.resume()
      request.on('end', () => {
        const url = new URL(request.url ?? '/', 'http://x')
        requests.push({ method: request.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams) })
        // The catalog (for the unit) is best effort: answer it with an empty one.
        const answer = url.pathname === '/api/runbooks' ? { status: 200, body: { items: [] } } : answers.length > 1 ? answers.shift()! : answers[0]!
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
    answers = []
  })

  const cli = (argv: string[]) => runCli(argv, { env })
  const planPath = `/api/preflights/${preflightId}/tenants`
  const page = (items: PlanTenant[], nextCursor: string | null = null): Answer => ({ status: 200, body: { items, nextCursor } })

  it('pages through every page with the given page size; --json prints the items array', async () => {
    answers = [page([failing(4), tenant(1)], 'c1'), page([tenant(2), tenant(3)], 'c2'), page([tenant(5)])]
    const result = await cli(['plan', preflightId, '--limit', '2'])
    expect(result.code, result.stderr).toBe(0)
    expect(requests).toEqual([
      { method: 'GET', path: planPath, query: { limit: '2' } },
      { method: 'GET', path: planPath, query: { limit: '2', cursor: 'c1' } },
      { method: 'GET', path: planPath, query: { limit: '2', cursor: 'c2' } },
    ])
    expect(result.stdout.trim().split('\n').slice(1, -1).map((line) => line.split(/\s+/)[0])).toEqual(['4', '1', '2', '3', '5'])
    expect(result.stdout).toContain('5 tenants, 1 would fail.')

    requests = []
    answers = [page([failing(4), tenant(1)], 'c1'), page([tenant(2)])]
    const json = await cli(['--json', 'plan', preflightId])
    expect(json.code, json.stderr).toBe(0)
    expect(requests.map((r) => r.query)).toEqual([{}, { cursor: 'c1' }])
    expect(JSON.parse(json.stdout)).toEqual([failing(4), tenant(1), tenant(2)])
  })

  it('--would-fail stops at the first tenant that would not fail', async () => {
    answers = [page([failing(4), failing(6)], 'c1'), page([failing(8), tenant(1)], 'c2'), page([tenant(2)])]
    const result = await cli(['--json', 'plan', preflightId, '--would-fail', '--limit', '2'])
    expect(result.code, result.stderr).toBe(0)
    expect(requests).toHaveLength(2)
    expect(JSON.parse(result.stdout)).toEqual([failing(4), failing(6), failing(8)])

    requests = []
    answers = [page([tenant(1), tenant(2)], 'c1')]
    const none = await cli(['plan', preflightId, '--would-fail'])
    expect(none.code, none.stderr).toBe(0)
    expect(requests).toHaveLength(1)
    expect(none.stdout).toBe('No tenant would fail.\n')
  })

  it('an unknown or expired preview is exit 2 with a hint; a bad --limit is refused before any request', async () => {
    answers = [{ status: 404, body: { type: 'about:blank', title: 'Not Found', status: 404, detail: `unknown preflight: ${preflightId}` } }]
    const missing = await cli(['plan', preflightId])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain(`error: unknown preflight: ${preflightId}`)
    expect(missing.stderr).toMatch(/^hint: no such preview, or it expired \(previews are kept 24 hours\)/m)

    requests = []
    const zero = await cli(['plan', preflightId, '--limit', '0'])
    expect(zero.code).toBe(2)
    expect(zero.stderr).toContain('--limit must be a positive integer')
    const noId = await cli(['plan'])
    expect(noId.code).toBe(2)
    expect(requests).toEqual([])

    answers = [{ status: 403, body: { status: 403, detail: 'missing capability', missingCapabilities: ['platform.runbooks.findings.lifecycle_backfill'] } }]
    const forbidden = await cli(['plan', preflightId])
    expect(forbidden.code).toBe(4)
  })

  it('preflight fetches the would-fail tenants from the plan: one page just past their number', async () => {
    answers = [{ status: 200, body: { ...counts, preflightId, wouldFailTenants: [4, 6] } }, page([failing(4), failing(6), tenant(1)], 'c1')]
    const result = await cli(['preflight', 'k.x', '--all-tenants'])
    expect(result.code, result.stderr).toBe(0)
    expect(requests.filter((r) => r.path === planPath)).toEqual([{ method: 'GET', path: planPath, query: { limit: '3' } }])
    expect(result.stdout).toMatch(/^ {2}preflight\s+01J9Z3NDEKTSV4RRFFQ69G5FAV$/m)
    expect(result.stdout).toContain('Would fail (2):\n  Tenant 4 (#4)  INVALID_DATA  finding 4 has a severity outside the vocabulary\n  Tenant 6 (#6)')

    // None would fail: no plan request at all. --json is the answer as it came.
    requests = []
    answers = [{ status: 200, body: { ...counts, preflightId, wouldFailTenants: [] } }]
    const json = await cli(['--json', 'preflight', 'k.x', '--all-tenants'])
    expect(json.code, json.stderr).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual({ ...counts, preflightId, wouldFailTenants: [] })
    expect(requests.map((r) => r.path)).toEqual(['/api/runbooks/k.x/preflight'])
  })

  it('preflight still prints its numbers, and the ids, when the plan cannot be fetched', async () => {
    answers = [
      { status: 200, body: { ...counts, preflightId, wouldFailTenants: [4] } },
      { status: 500, body: { status: 500, detail: 'boom' } },
    ]
    const result = await cli(['preflight', 'k.x', '--all-tenants'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain(`Would fail (1):\n  #4\n  (reasons unavailable: rcp plan ${preflightId} --would-fail)`)
  })
})
