import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { serviceFlavours, type TestService } from '../support/service.js'
import { runCli } from './run-cli.js'

/** SPEC §11 "Per-tenant plan" from the command line: `rcp preflight` names the tenants that would fail, `rcp plan` lists the plan. */

const KEY = 'findings.lifecycle.backfill'
const PREFLIGHT_ID = /^ {2}preflight\s+([0-9A-HJKMNP-TV-Z]{26})$/m

describe('rcp preflight and rcp plan against a real service (embedded)', () => {
  let api: TestService
  let folder: string
  let env: Record<string, string>
  let invalid: { id: number; name: string }
  let tenantCount: number

  beforeAll(async () => {
    api = await serviceFlavours()[0]!.start()
    folder = await mkdtemp(join(tmpdir(), 'rcp-plan-cli-'))
    const token = await api.operatorToken(['platform.runbooks.view', 'platform.ops.view', 'platform.runbooks.findings.lifecycle_backfill'])
    env = { RCP_URL: api.baseUrl, RCP_CONFIG: join(folder, 'credentials.json'), RCP_TOKEN: token }
    const tenants = (await api.request('GET', '/api/tenants?limit=1000', { token })).body.items as Array<{ id: number; name: string }>
    invalid = tenants.find((t) => t.name === DEMO_INVALID_TENANT_NAME)!
    tenantCount = tenants.length
  })

  afterAll(async () => {
    await api?.close()
    if (folder) await rm(folder, { recursive: true, force: true })
  })

  /** `rcp preflight KEY --all-tenants` and the preview id it printed. */
  const preflightAll = async () => {
    const result = await runCli(['preflight', KEY, '--all-tenants'], { env })
    expect(result.code, result.stderr).toBe(0)
    const id = result.stdout.match(PREFLIGHT_ID)?.[1]
    expect(id, result.stdout).toBeDefined()
    return { ...result, id: id! }
  }

  it('preflight names the preview and lists the tenant that would fail, with its reason', async () => {
    const { stdout, id } = await preflightAll()
    expect(stdout).toMatch(new RegExp(`^ {2}tenants\\s+${tenantCount}$`, 'm'))
    const section = stdout.slice(stdout.indexOf('Would fail (1):'))
    expect(stdout).toContain('Would fail (1):')
    expect(section.split('\n')[1]).toMatch(new RegExp(`^ {2}${escape(DEMO_INVALID_TENANT_NAME)} \\(#${invalid.id}\\) {2}INVALID_DATA {2}finding \\d+ has a severity outside`))
    expect(stdout).toContain(`Per tenant: rcp plan ${id}`)

    const json = await runCli(['--json', 'preflight', KEY, '--all-tenants'], { env })
    expect(json.code, json.stderr).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual({
      affectedCount: expect.any(Number),
      totalCount: expect.any(Number),
      estimatedTenants: tenantCount,
      preflightId: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/),
      wouldFailTenants: [invalid.id],
    })
  })

  it('plan --would-fail lists exactly that tenant; plan lists every tenant, it first; --json is the items', async () => {
    const { id } = await preflightAll()

    const wouldFail = await runCli(['plan', id, '--would-fail'], { env })
    expect(wouldFail.code, wouldFail.stderr).toBe(0)
    const failingRows = wouldFail.stdout.trim().split('\n')
    expect(failingRows[0]).toMatch(/^TENANT\s+NAME\s+AFFECTED\s+TOTAL\s+WOULD FAIL\s+MESSAGE$/)
    expect(failingRows.slice(1, -1)).toHaveLength(1)
    expect(failingRows[1]).toMatch(new RegExp(`^${invalid.id}\\s+${escape(DEMO_INVALID_TENANT_NAME)}\\s+\\d+\\s+\\d+\\s+INVALID_DATA\\s+finding \\d+ has a severity outside`))
    expect(failingRows.at(-1)).toBe('1 tenant would fail.')

    // Small pages: the CLI follows every cursor.
    const all = await runCli(['plan', id, '--limit', '3'], { env })
    expect(all.code, all.stderr).toBe(0)
    const rows = all.stdout.trim().split('\n').slice(1, -1)
    expect(rows).toHaveLength(tenantCount)
    expect(rows[0]).toMatch(new RegExp(`^${invalid.id}\\s`))
    expect(all.stdout.trim().split('\n').at(-1)).toBe(`${tenantCount} tenants, 1 would fail.`)

    const json = await runCli(['--json', 'plan', id], { env })
    expect(json.code, json.stderr).toBe(0)
    const items = JSON.parse(json.stdout) as Array<{ tenantId: number; wouldFail: string | null; affected: number }>
    expect(items).toHaveLength(tenantCount)
    expect(new Set(items.map((t) => t.tenantId)).size).toBe(tenantCount)
    expect(items.filter((t) => t.wouldFail !== null).map((t) => t.tenantId)).toEqual([invalid.id])
    const preflight = (await api.request('POST', `/api/runbooks/${KEY}/preflight`, { token: env.RCP_TOKEN, json: { scope: 'all_tenants' } })).body
    expect(items.reduce((sum, t) => sum + t.affected, 0)).toBe(preflight.affectedCount)
    expect(items).toHaveLength(preflight.estimatedTenants)
  })

  it('plan of an unknown preview exits 2 (not found), with a hint; a page size the service refuses exits 2 naming --limit', async () => {
    const unknown = await runCli(['plan', '01ARZ3NDEKTSV4RRFFQ69G5FAV'], { env })
    expect(unknown.code).toBe(2)
    expect(unknown.stdout).toBe('')
    expect(unknown.stderr).toMatch(/^error: .*01ARZ3NDEKTSV4RRFFQ69G5FAV/m)
    expect(unknown.stderr).toMatch(/^hint: no such preview, or it expired/m)

    const json = await runCli(['--json', 'plan', '01ARZ3NDEKTSV4RRFFQ69G5FAV'], { env })
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 404 })

    const { id } = await preflightAll()
    const tooBig = await runCli(['plan', id, '--limit', '201'], { env })
    expect(tooBig.code).toBe(2)
    expect(tooBig.stderr).toMatch(/^error: /m)
  })

  it('plan needs the runbook\'s own capability: exit 4', async () => {
    const { id } = await preflightAll()
    const viewer = await api.operatorToken(['platform.runbooks.view', 'platform.ops.view'])
    const result = await runCli(['plan', id], { env: { ...env, RCP_TOKEN: viewer } })
    expect(result.code).toBe(4)
    expect(result.stderr).toMatch(/^hint: this operator lacks a capability/m)
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
