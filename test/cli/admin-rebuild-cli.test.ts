import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exitCodes } from '../../src/cli/exit-codes.js'
import { rebuiltReadModelTables } from '../../src/projections/read-model-projections.js'
import { serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { runCli } from './run-cli.js'

/** SPEC §12 through `rcp admin rebuild` against a real service (embedded: the rebuild runs inside the service). */
describe('rcp admin rebuild against a real service (embedded)', () => {
  let api: TestService
  let folder: string
  let env: Record<string, string>

  beforeAll(async () => {
    api = await serviceFlavours()[0]!.start()
    folder = await mkdtemp(join(tmpdir(), 'rcp-admin-test-'))
    env = { RCP_URL: api.baseUrl, RCP_CONFIG: join(folder, 'admin.json'), RCP_TOKEN: await api.token() }
    await waitUntil(
      async () => (await api.sql`select count(*)::int as n from audit_log where action = 'platform.ops.login.succeeded'`)[0]!.n > 0,
      'the login audited',
    )
  })

  afterAll(async () => {
    await api?.close()
    if (folder) await rm(folder, { recursive: true, force: true })
  })

  it('prints each table with its checksum before and after and that they match; exit 0', async () => {
    const result = await runCli(['admin', 'rebuild'], { env })
    expect(result.code, result.stderr).toBe(exitCodes.ok)
    for (const table of rebuiltReadModelTables) {
      expect(result.stdout).toMatch(new RegExp(`^  ${table} +before \\d+ rows [0-9a-f]{32}  after \\d+ rows [0-9a-f]{32}  same$`, 'm'))
    }
    expect(result.stdout).toContain('checksums match')
  })

  it('names the tables that differed when a row was edited by hand, and repairs them', async () => {
    await api.sql`update audit_log set actor_email = 'someone.else@ops.test' where sequence = 1`
    const result = await runCli(['--json', 'admin', 'rebuild'], { env })
    expect(result.code, result.stderr).toBe(exitCodes.ok)
    const report = JSON.parse(result.stdout)
    expect(report.same).toBe(false)
    expect(report.tables.filter((t: { same: boolean }) => !t.same).map((t: { table: string }) => t.table)).toEqual(['audit_log'])
    expect((await api.request('GET', '/api/audit/verify', { token: env.RCP_TOKEN! })).body.ok).toBe(true)
  })

  it('is audited: who rebuilt, and which tables held rows the event store does not give', async () => {
    const audited = async () =>
      (await api.request('GET', '/api/audit?action=platform.ops.read_models.rebuilt', { token: env.RCP_TOKEN! })).body.items as Array<{
        actorEmail: string | null
        context: { changed_tables: string[]; same: boolean; events: number }
      }>
    await waitUntil(async () => (await audited()).length === 2, 'both rebuilds audited')
    const [repairing, first] = await audited() // newest first
    expect(first).toMatchObject({ actorEmail: 'admin@ops.test', context: { same: true, changed_tables: [] } })
    expect(repairing).toMatchObject({ actorEmail: 'admin@ops.test', context: { same: false, changed_tables: ['audit_log'] } })
    expect(repairing!.context.events).toBeGreaterThan(first!.context.events)
    expect((await api.request('GET', '/api/audit/verify', { token: env.RCP_TOKEN! })).body.ok).toBe(true)
  })

  it('exits 4 without platform.operators.manage', async () => {
    const token = await api.operatorToken(['platform.ops.view'])
    const result = await runCli(['admin', 'rebuild'], { env: { ...env, RCP_TOKEN: token } })
    expect(result.code).toBe(exitCodes.access)
  })
})
