import { describe, expect, it } from 'vitest'
import { exitCodes } from '../../src/cli/exit-codes.js'
import { rebuiltReadModelTables } from '../../src/projections/read-model-projections.js'
import { waitUntil } from '../support/service.js'
import { useCliService } from './cli-service.js'
import { runCli } from './run-cli.js'

/** SPEC §12 through `rcp admin rebuild` against a real service (embedded: the rebuild runs inside the service). */
describe('rcp admin rebuild against a real service (embedded)', () => {
  const cli = useCliService('rcp-admin-test-')

  it('prints each table with its checksum before and after and that they match; exit 0', async () => {
    const result = await runCli(['admin', 'rebuild'], { env: cli.env })
    expect(result.code, result.stderr).toBe(exitCodes.ok)
    for (const table of rebuiltReadModelTables) {
      expect(result.stdout).toMatch(new RegExp(`^  ${table} +before \\d+ rows [0-9a-f]{32}  after \\d+ rows [0-9a-f]{32}  same$`, 'm'))
    }
    expect(result.stdout).toContain('checksums match')
  })

  it('names the tables that differed when a row was edited by hand, and repairs them', async () => {
    await cli.api.sql`update audit_log set actor_email = 'someone.else@ops.test' where sequence = 1`
    const result = await runCli(['--json', 'admin', 'rebuild'], { env: cli.env })
    expect(result.code, result.stderr).toBe(exitCodes.ok)
    const report = JSON.parse(result.stdout)
    expect(report.same).toBe(false)
    expect(report.tables.filter((t: { same: boolean }) => !t.same).map((t: { table: string }) => t.table)).toEqual(['audit_log'])
    expect((await cli.api.request('GET', '/api/audit/verify', { token: cli.env.RCP_TOKEN! })).body.ok).toBe(true)
  })

  it('is audited: who rebuilt, and which tables held rows the event store does not give', async () => {
    const audited = async () =>
      (await cli.api.request('GET', '/api/audit?action=platform.ops.read_models.rebuilt', { token: cli.env.RCP_TOKEN! })).body.items as Array<{
        actorEmail: string | null
        context: { changed_tables: string[]; same: boolean; events: number }
      }>
    await waitUntil(async () => (await audited()).length === 2, 'both rebuilds audited')
    const [repairing, first] = await audited() // newest first
    expect(first).toMatchObject({ actorEmail: 'admin@ops.test', context: { same: true, changed_tables: [] } })
    expect(repairing).toMatchObject({ actorEmail: 'admin@ops.test', context: { same: false, changed_tables: ['audit_log'] } })
    expect(repairing!.context.events).toBeGreaterThan(first!.context.events)
    expect((await cli.api.request('GET', '/api/audit/verify', { token: cli.env.RCP_TOKEN! })).body.ok).toBe(true)
  })

  it('exits 4 without platform.operators.manage', async () => {
    const token = await cli.api.operatorToken(['platform.ops.view'])
    const result = await runCli(['admin', 'rebuild'], { env: { ...cli.env, RCP_TOKEN: token } })
    expect(result.code).toBe(exitCodes.access)
  })
})
