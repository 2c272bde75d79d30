import { describe, expect, it } from 'vitest'
import { exitCodes } from '../../src/cli/exit-codes.js'
import { useCliService } from './cli-service.js'
import { runCli } from './run-cli.js'

/** SPEC §12 through `rcp audit verify` against a real service (embedded): 0 on an intact chain, 7 naming the entry on a broken one. */
describe('rcp audit verify against a real service (embedded)', () => {
  const cli = useCliService('rcp-audit-test-')

  it('exits 0 on an intact chain, then 7 naming the entry edited by hand; --json prints the object', async () => {
    const intact = await runCli(['audit', 'verify'], { env: cli.env })
    expect(intact.code, intact.stderr).toBe(exitCodes.ok)
    expect(intact.stdout).toMatch(/^Audit log intact: \d+ (entry|entries) verified\.$/m)
    const [head] = await cli.api.sql`select hash from audit_chain_head`
    expect(intact.stdout).toContain(`Head hash ${head!.hash}`)

    await cli.api.sql`update audit_log set context = jsonb_set(context, '{ip}', '"10.6.6.6"') where sequence = 1`
    const broken = await runCli(['audit', 'verify'], { env: cli.env })
    expect(broken.code).toBe(exitCodes.auditBroken)
    expect(exitCodes.auditBroken).not.toBe(exitCodes.ok)
    expect(broken.stdout).toMatch(/^Audit log BROKEN at entry 1: entry 1 was altered/m)

    const json = await runCli(['--json', 'audit', 'verify'], { env: cli.env })
    expect(json.code).toBe(exitCodes.auditBroken)
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, firstBrokenSequence: 1, headHash: head!.hash })
  })

  it('exits 4 without platform.ops.view', async () => {
    const token = await cli.api.operatorToken(['platform.runbooks.view'])
    const result = await runCli(['audit', 'verify'], { env: { ...cli.env, RCP_TOKEN: token } })
    expect(result.code).toBe(exitCodes.access)
  })

  it('lists the audit log as before (`rcp audit` keeps its own options)', async () => {
    const listed = await runCli(['audit', '--limit', '1'], { env: cli.env })
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout).toContain('platform.ops.login.succeeded')
  })

  it("filters by operator (id or email) and by run, as the console's audit page does", async () => {
    const [admin] = await cli.api.sql<Array<{ id: string; email: string }>>`
      select actor_user_id as id, actor_email as email from audit_log where actor_email is not null order by sequence limit 1`
    for (const operator of [admin!.id, admin!.email.toUpperCase()]) {
      const mine = await runCli(['--json', 'audit', '--operator', operator], { env: cli.env })
      expect(mine.code, mine.stderr).toBe(0)
      const items = JSON.parse(mine.stdout).items as Array<{ actorEmail: string }>
      expect(items.length).toBeGreaterThan(0)
      expect(items.every((item) => item.actorEmail === admin!.email)).toBe(true)
    }
    const nobody = await runCli(['--json', 'audit', '--operator', 'nobody@example.com'], { env: cli.env })
    expect(JSON.parse(nobody.stdout).items).toEqual([])
    const noRun = await runCli(['--json', 'audit', '--run', '01ARZ3NDEKTSV4RRFFQ69G5FAV'], { env: cli.env })
    expect(noRun.code, noRun.stderr).toBe(0)
    expect(JSON.parse(noRun.stdout).items).toEqual([])
  })
})
