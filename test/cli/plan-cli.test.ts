import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../support/service.js'
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
    // The answer's sums are over the tenants that would succeed (SPEC §2); the rows show every tenant's own.
    expect(items.filter((t) => t.wouldFail === null).reduce((sum, t) => sum + t.affected, 0)).toBe(preflight.affectedCount)
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

  // Last: it adds a finding and starts a run, which the tests above must not see.
  it('start --preflight ID --max-drift 0 after a finding arrived prints the drift report naming the tenant, exit 2, nothing started; --max-drift 100 starts it', async () => {
    const runner = await api.operatorToken(['platform.runbooks.view', 'platform.runbooks.run', 'platform.ops.view', 'platform.runbooks.findings.lifecycle_backfill'])
    const asRunner = { ...env, RCP_TOKEN: runner }
    const tenants = (await api.request('GET', '/api/tenants?limit=1000', { token: runner })).body.items as Array<{ id: number; name: string }>
    let tenant: { id: number; name: string } | undefined
    for (const candidate of tenants) {
      if (candidate.id === invalid.id) continue
      const answer = await api.request('POST', `/api/runbooks/${KEY}/preflight`, { token: runner, json: { scope: 'single_tenant', tenantId: candidate.id } })
      if (answer.body.affectedCount >= 1) {
        tenant = candidate
        break
      }
    }
    expect(tenant, 'a tenant with work').toBeDefined()
    const { id: tenantId, name } = tenant!

    const preview = await runCli(['preflight', KEY, '--tenant', String(tenantId)], { env: asRunner })
    expect(preview.code, preview.stderr).toBe(0)
    const id = preview.stdout.match(PREFLIGHT_ID)![1]!
    const pinned = Number(preview.stdout.match(/^ {2}findings to update\s+(\d+)$/m)![1])
    // The last line: how to start pinned to this preview, the target repeated.
    expect(preview.stdout.trimEnd().split('\n').at(-1)).toBe(`start pinned: rcp start ${KEY} --tenant ${tenantId} --preflight ${id}`)
    const startPinned = ['start', KEY, '--tenant', String(tenantId), '--preflight', id, '--confirm', KEY]

    // A legacy finding arrives after the preview: the plan moved by one finding.
    await api.sql`
      insert into findings (id, tenant_id, fingerprint, severity, status, created_at, updated_at)
      select max(id) + 1000, ${tenantId}, 'drift-probe', 'low', 'open', now(), now() from findings`

    const before = await api.eventCount()
    const refused = await runCli([...startPinned, '--max-drift', '0'], { env: asRunner })
    expect(refused.code).toBe(2)
    expect(refused.stdout).toBe('')
    expect(refused.stderr).toMatch(new RegExp(`^error: the data changed since preview ${id} beyond --max-drift 0%`))
    expect(refused.stderr).toMatch(new RegExp(`^ {2}findings to update\\s+${pinned}\\s+${pinned + 1}\\s+\\+1`, 'm'))
    expect(refused.stderr).toMatch(/^Tenants that changed \(1\):$/m)
    expect(refused.stderr).toMatch(new RegExp(`^ {2}${escape(name)} \\(#${tenantId}\\)\\s+${pinned} → ${pinned + 1}\\s+-$`, 'm'))
    expect(refused.stderr).toMatch(new RegExp(`^hint: preview again \\(rcp preflight ${escape(KEY)} --tenant ${tenantId}\\) and start from the new plan$`, 'm'))
    expect(await api.eventCount()).toBe(before)

    const json = await runCli(['--json', ...startPinned, '--max-drift', '0'], { env: asRunner })
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 409, code: 'PLAN_DRIFTED', tenants: [{ tenantId }] })
    expect(await api.eventCount()).toBe(before)

    const accepted = await runCli([...startPinned, '--max-drift', '100'], { env: asRunner })
    expect(accepted.code, accepted.stderr).toBe(0)
    const runId = accepted.stdout.match(/^Run (\S+) started/)![1]!
    const run = (await api.request('GET', `/api/runs/${runId}`, { token: runner })).body
    expect(run.context.preflight.preflight_id).toBe(id)
    await waitUntil(async () => runIsSettled((await api.request('GET', `/api/runs/${runId}`, { token: runner })).body), 'the pinned run completes and is verified')
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
