import { execFile, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { runIsSettled, serviceFlavours, testAdmin, waitUntil, type TestService } from '../support/service.js'
import { runCli } from './run-cli.js'

const runbookKey = 'findings.lifecycle.backfill'
const reasonArgs = ['--reason-code', 'DATA_REPAIR', '--reason', 'CLI test: repair lifecycle fields']
const RUN_ID = /[0-9A-HJKMNP-TV-Z]{26}/

/** A local port nothing listens on: one the system just handed out and that was closed again. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('rcp, the operator CLI, against a real service (embedded)', () => {
  let api: TestService
  let folder: string
  let configPath: string
  /** The service URL and a credentials file of this suite; no token. */
  let env: Record<string, string>
  /** `env` plus the admin's token in $RCP_TOKEN. */
  let asAdmin: Record<string, string>
  let tenants: Array<{ id: number; workspaceId: number; name: string }>
  const tenantNamed = (name: string) => tenants.find((t) => t.name === name)!

  beforeAll(async () => {
    api = await serviceFlavours()[0]!.start()
    folder = await mkdtemp(join(tmpdir(), 'rcp-cli-test-'))
    configPath = join(folder, 'config', 'rcp', 'credentials.json')
    env = { RCP_URL: api.baseUrl, RCP_CONFIG: configPath }
    asAdmin = { ...env, RCP_TOKEN: await api.token() }
    tenants = (await api.request('GET', '/api/tenants?limit=1000', { token: await api.token() })).body.items
  })

  afterAll(async () => {
    await api?.close()
    if (folder) await rm(folder, { recursive: true, force: true })
  })

  const apiGet = async (path: string) => {
    const response = await api.request('GET', path, { token: await api.token() })
    expect(response.status, response.text).toBe(200)
    return response.body
  }

  const apiPost = async (path: string, json: unknown) => {
    const response = await api.request('POST', path, { token: await api.token(), json })
    expect(response.status, response.text).toBe(200)
    return response.body
  }

  const runWhenCompleted = async (id: string) => {
    await waitUntil(async () => runIsSettled(await apiGet(`/api/runs/${id}`)), `run ${id} to complete`)
    return apiGet(`/api/runs/${id}`)
  }

  describe('login and logout', () => {
    it('logs in with the password on stdin, stores the token and URL in a 0600 file, and prints neither secret', async () => {
      const result = await runCli(['login', '--email', testAdmin.email, '--password-stdin'], { env, stdin: `${testAdmin.password}\n` })
      expect(result.code, result.stderr).toBe(0)

      const file = await stat(configPath)
      expect(file.mode & 0o777).toBe(0o600)
      expect((await stat(join(folder, 'config', 'rcp'))).mode & 0o777).toBe(0o700)
      const stored = JSON.parse(await readFile(configPath, 'utf8'))
      expect(stored).toMatchObject({ url: api.baseUrl, email: testAdmin.email, token: expect.stringMatching(/^rcp_/) })

      const printed = result.stdout + result.stderr
      expect(printed).toContain(configPath)
      expect(printed).not.toContain(stored.token)
      expect(printed).not.toContain(testAdmin.password)

      // The stored token is what the next command uses.
      const runbooks = await runCli(['runbooks'], { env })
      expect(runbooks.code, runbooks.stderr).toBe(0)
      expect(runbooks.stdout).toContain(runbookKey)
    })

    it('--json login prints the URL and file, never the token', async () => {
      const result = await runCli(['--json', 'login', '--email', testAdmin.email, '--password-stdin'], { env, stdin: testAdmin.password })
      expect(result.code, result.stderr).toBe(0)
      const printed = JSON.parse(result.stdout)
      expect(printed).toMatchObject({ url: api.baseUrl, email: testAdmin.email, credentialsFile: configPath })
      const stored = JSON.parse(await readFile(configPath, 'utf8'))
      expect(result.stdout + result.stderr).not.toContain(stored.token)
    })

    it('a wrong password exits 4, stores nothing and echoes nothing', async () => {
      const otherConfig = join(folder, 'wrong', 'credentials.json')
      const password = 'not the password at all'
      const result = await runCli(['login', '--email', testAdmin.email, '--password-stdin'], {
        env: { ...env, RCP_CONFIG: otherConfig },
        stdin: password,
      })
      expect(result.code).toBe(4)
      expect(result.stderr).toMatch(/^error: .*wrong password/m)
      expect(result.stdout + result.stderr).not.toContain(password)
      await expect(stat(otherConfig)).rejects.toThrow(/ENOENT/)
    })

    it('without --password-stdin and without a terminal it refuses to prompt (exit 2)', async () => {
      const result = await runCli(['login', '--email', testAdmin.email], { env: { ...env, RCP_CONFIG: join(folder, 'x.json') } })
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('--password-stdin')
    })

    it('logout deletes the file; the next command is 401 → exit 4 with a hint to log in', async () => {
      const result = await runCli(['logout'], { env })
      expect(result.code).toBe(0)
      await expect(stat(configPath)).rejects.toThrow(/ENOENT/)

      const runs = await runCli(['runs'], { env })
      expect(runs.code).toBe(4)
      expect(runs.stderr).toMatch(/^error: /m)
      expect(runs.stderr).toContain('rcp login')
    })

    it('a rejected $RCP_TOKEN exits 4 with the hint, without printing the token', async () => {
      const bogus = `rcp_${'A'.repeat(43)}`
      const result = await runCli(['runs'], { env: { ...env, RCP_TOKEN: bogus } })
      expect(result.code).toBe(4)
      expect(result.stderr).toContain('rcp login')
      expect(result.stdout + result.stderr).not.toContain(bogus)
    })

    it('a missing capability (403) exits 4 naming it', async () => {
      const viewOnly = await api.operatorToken(['platform.runbooks.view'])
      const result = await runCli(['runs'], { env: { ...env, RCP_TOKEN: viewOnly } })
      expect(result.code).toBe(4)
      expect(result.stderr).toContain('platform.ops.view')
      expect(result.stderr).toContain('rcp login')
    })
  })

  describe('catalog and preflight', () => {
    it('runbooks: a table, and with --json the API body as is', async () => {
      const text = await runCli(['runbooks'], { env: asAdmin })
      expect(text.code).toBe(0)
      expect(text.stdout).toMatch(/^KEY\s+LABEL/)
      expect(text.stdout).toContain('Findings lifecycle backfill')

      const json = await runCli(['runbooks', '--json'], { env: asAdmin })
      expect(json.code).toBe(0)
      expect(JSON.parse(json.stdout)).toEqual(await apiGet('/api/runbooks'))
    })

    it('tenants --q filters by name like the API', async () => {
      const json = await runCli(['--json', 'tenants', '--q', 'corp'], { env: asAdmin })
      expect(json.code).toBe(0)
      const expected = await apiGet('/api/tenants?q=corp')
      expect(expected.items.length).toBeGreaterThan(0)
      expect(JSON.parse(json.stdout)).toEqual(expected)

      const text = await runCli(['tenants', '--q', 'corp'], { env: asAdmin })
      expect(text.code).toBe(0)
      for (const tenant of expected.items) expect(text.stdout).toContain(tenant.name)
      expect(text.stdout).not.toContain('Acme Logistics')
    })

    it('tenants reads every page of a universe larger than one (1,000 tenants)', async () => {
      const [highest] = await api.sql<Array<{ top: string }>>`select coalesce(max(id), 0)::text as top from tenants`
      const first = Number(highest!.top) + 1
      await api.sql`
        insert into tenants (id, workspace_id, name)
        select ${first}::bigint + g, ${first}::bigint + g, 'Paging tenant ' || lpad(g::text, 4, '0')
        from generate_series(0, 1_049) g`
      try {
        const json = await runCli(['--json', 'tenants', '--q', 'Paging tenant'], { env: asAdmin })
        expect(json.code, json.stderr).toBe(0)
        const names = (JSON.parse(json.stdout) as { items: Array<{ name: string }> }).items.map((t) => t.name)
        expect(names).toEqual(Array.from({ length: 1_050 }, (_, g) => `Paging tenant ${String(g).padStart(4, '0')}`))
        // The API itself answers the first 1,000 and a cursor to the rest.
        const firstPage = await apiGet('/api/tenants?q=Paging%20tenant')
        expect(firstPage.items).toHaveLength(1_000)
        expect(firstPage.nextCursor).toEqual(expect.any(String))
      } finally {
        await api.sql`delete from tenants where id >= ${first}`
      }
    })

    it("preflight prints the API's numbers, for all tenants and for one", async () => {
      const all = await apiPost(`/api/runbooks/${runbookKey}/preflight`, { scope: 'all_tenants' })
      const allJson = await runCli(['preflight', runbookKey, '--all-tenants', '--json'], { env: asAdmin })
      expect(allJson.code, allJson.stderr).toBe(0)
      // Each preview is recorded anew: its own id, the same numbers.
      expect(JSON.parse(allJson.stdout)).toEqual({ ...all, preflightId: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/) })

      const allText = await runCli(['preflight', runbookKey, '--all-tenants'], { env: asAdmin })
      expect(allText.code).toBe(0)
      expect(allText.stdout).toMatch(new RegExp(`findings to update\\s+${all.affectedCount}\\n`))
      expect(allText.stdout).toMatch(new RegExp(`findings scanned\\s+${all.totalCount}\\n`))
      expect(allText.stdout).toMatch(new RegExp(`tenants\\s+${all.estimatedTenants}\\n`))

      const invalid = tenantNamed(DEMO_INVALID_TENANT_NAME)
      const one = await apiPost(`/api/runbooks/${runbookKey}/preflight`, { scope: 'single_tenant', tenantId: invalid.id })
      const oneJson = await runCli(['preflight', runbookKey, '--tenant', String(invalid.id), '--json'], { env: asAdmin })
      expect(oneJson.code).toBe(0)
      expect(JSON.parse(oneJson.stdout)).toEqual({ ...one, preflightId: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/) })
      expect(one.totalCount).toBeLessThan(all.totalCount)
    })

    it('an unknown runbook is 404 → exit 2', async () => {
      const result = await runCli(['preflight', 'no.such.runbook', '--all-tenants'], { env: asAdmin })
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/^error: .*no\.such\.runbook/m)
    })
  })

  describe('usage and validation errors (exit 2)', () => {
    it('a wrong confirmation is refused by the service; the message names the field and its option', async () => {
      const acme = tenantNamed('Acme Logistics')
      const eventsBefore = await api.eventCount()
      const result = await runCli(['start', runbookKey, '--tenant', String(acme.id), '--confirm', 'findings.lifecycle'], { env: asAdmin })
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/^error: /m)
      expect(result.stderr).toMatch(/^ {2}confirmation \(--confirm\): must be exactly/m)

      const json = await runCli(['--json', 'start', runbookKey, '--tenant', String(acme.id), '--confirm', 'nope'], { env: asAdmin })
      expect(json.code).toBe(2)
      expect(JSON.parse(json.stdout)).toMatchObject({ status: 422, errors: [expect.objectContaining({ field: 'confirmation' })] })
      expect(await api.eventCount()).toBe(eventsBefore)
    })

    it('an all-tenants start without a reason names the reason field', async () => {
      const result = await runCli(['start', runbookKey, '--all-tenants', '--confirm', runbookKey], { env: asAdmin })
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/^ {2}reason \(--reason-code and --reason\): is required/m)

      const short = await runCli(['start', runbookKey, '--all-tenants', '--confirm', runbookKey, '--reason-code', 'DATA_REPAIR', '--reason', 'short'], {
        env: asAdmin,
      })
      expect(short.code).toBe(2)
      expect(short.stderr).toMatch(/^ {2}reason\.text \(--reason\): /m)
    })

    it('argument mistakes exit 2 before any request', async () => {
      const noTarget = await runCli(['preflight', runbookKey], { env: asAdmin })
      expect(noTarget.code).toBe(2)
      expect(noTarget.stderr).toContain('--all-tenants or --tenant')

      const both = await runCli(['preflight', runbookKey, '--all-tenants', '--tenant', '2'], { env: asAdmin })
      expect(both.code).toBe(2)

      const badId = await runCli(['preflight', runbookKey, '--tenant', 'acme'], { env: asAdmin })
      expect(badId.code).toBe(2)
      expect(badId.stderr).toContain('--tenant must be a positive integer')

      const noConfirm = await runCli(['start', runbookKey, '--all-tenants'], { env: asAdmin })
      expect(noConfirm.code).toBe(2)
      expect(noConfirm.stderr).toContain('--confirm')

      const unknown = await runCli(['runs', '--colour'], { env: asAdmin })
      expect(unknown.code).toBe(2)

      const badUrl = await runCli(['runs', '--url', 'ftp://example.test'], { env: asAdmin })
      expect(badUrl.code).toBe(2)
    })

    it('an unknown run id is 404 → exit 2', async () => {
      const result = await runCli(['run', 'not-a-run-id'], { env: asAdmin })
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/^error: /m)
    })

    it('an unreachable service exits 5', async () => {
      const port = await closedPort()
      const result = await runCli(['runs', '--url', `http://127.0.0.1:${port}`], { env: asAdmin })
      expect(result.code).toBe(5)
      expect(result.stderr).toContain(`error: cannot reach http://127.0.0.1:${port}: ECONNREFUSED`)
      expect(result.stderr).not.toContain(asAdmin.RCP_TOKEN)
    })
  })

  describe('starting and following runs', () => {
    let followedRunId: string

    it('two identical starts at once: one prints its run id (exit 0), the other the same id as the active run (exit 3)', async () => {
      const globex = tenantNamed('Globex Retail')
      const args = ['start', runbookKey, '--tenant', String(globex.id), '--confirm', runbookKey]
      const results = await Promise.all([runCli(args, { env: asAdmin }), runCli(args, { env: asAdmin })])
      expect(results.map((r) => r.code).sort()).toEqual([0, 3])
      const started = results.find((r) => r.code === 0)!
      const conflict = results.find((r) => r.code === 3)!
      const runId = RUN_ID.exec(started.stdout)![0]
      expect(started.stdout).toBe(`Run ${runId} started (queued)\n`)
      expect(conflict.stdout).toBe(`${runId}\n`)
      expect(conflict.stderr).toContain('already active')

      const run = await runWhenCompleted(runId)
      expect(run.context).toMatchObject({ source: 'cli', scope: 'single_tenant', target_tenant_id: globex.id })
    })

    it('409 with --json prints the problem with the active run id', async () => {
      const hooli = tenantNamed('Hooli Cloud')
      const args = ['--json', 'start', runbookKey, '--tenant', String(hooli.id), '--confirm', runbookKey]
      const results = await Promise.all([runCli(args, { env: asAdmin }), runCli(args, { env: asAdmin })])
      expect(results.map((r) => r.code).sort()).toEqual([0, 3])
      const started = JSON.parse(results.find((r) => r.code === 0)!.stdout)
      expect(started).toEqual({ runId: expect.stringMatching(RUN_ID), status: 'queued' })
      expect(JSON.parse(results.find((r) => r.code === 3)!.stdout)).toMatchObject({ status: 409, runId: started.runId })
      await runWhenCompleted(started.runId)
    })

    it('start --all-tenants --follow polls to completion: exit 1 for partially_succeeded, counts and the invalid tenant named', async () => {
      const result = await runCli(['start', runbookKey, '--all-tenants', '--confirm', runbookKey, ...reasonArgs, '--follow'], { env: asAdmin })
      expect(result.code, result.stderr).toBe(1)
      followedRunId = RUN_ID.exec(result.stdout)![0]
      const run = await apiGet(`/api/runs/${followedRunId}`)
      expect(run).toMatchObject({ status: 'completed', outcome: 'partially_succeeded', context: { source: 'cli', scope: 'all_tenants' } })

      // Not a terminal: plain progress lines, no control sequences.
      expect(result.stdout).not.toContain('\u001b')
      expect(result.stdout).toMatch(new RegExp(`^run ${followedRunId}: completed, 24/24 tenants done, 1 failed$`, 'm'))
      expect(result.stdout).toContain(`Run ${followedRunId} completed: partially_succeeded`)
      const c = run.summaryCounts
      expect(result.stdout).toContain(
        `Counts: total ${c.total}, processed ${c.processed}, updated ${c.updated}, skipped ${c.skipped}, failed 1, tenants 24`,
      )
      const invalid = tenantNamed(DEMO_INVALID_TENANT_NAME)
      expect(result.stdout).toMatch(
        new RegExp(`^ {2}${DEMO_INVALID_TENANT_NAME.replace(/[()]/g, '\\$&')} \\(#${invalid.id}\\) {2}INVALID_DATA {2}.*finding \\d+`, 'm'),
      )
    })

    it('on a terminal --follow draws a progress bar; a succeeded run exits 0', async () => {
      const acme = tenantNamed('Acme Logistics')
      const result = await runCli(['start', runbookKey, '--tenant', String(acme.id), '--confirm', runbookKey, '--follow'], {
        env: asAdmin,
        stdoutIsTTY: true,
      })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toContain('\u001b[')
      expect(result.stdout).toMatch(/█+.* 1\/1 tenants \| completed \| failed 0/)
      expect(result.stdout).toContain('completed: succeeded')
      expect(result.stdout).toContain('Failures: none')
      // SPEC §11: --follow waits for the verification that follows completion.
      expect(result.stdout).toMatch(/^Verified: 0 remaining \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)$/m)
    })

    it('--json --follow prints the completed run exactly as the API answers it', async () => {
      const stark = tenantNamed('Stark Industries')
      const result = await runCli(['--json', 'start', runbookKey, '--tenant', String(stark.id), '--confirm', runbookKey, '--follow'], {
        env: asAdmin,
      })
      expect(result.code, result.stderr).toBe(0)
      const printed = JSON.parse(result.stdout)
      expect(printed).toMatchObject({ status: 'completed', outcome: 'succeeded', tenantId: stark.id })
      expect(printed).toEqual(await apiGet(`/api/runs/${printed.id}`))
      expect(printed.verification).toMatchObject({ remaining: 0, tenantsWithRemaining: [] }) // waited for
    })

    it('runs, run, events and audit print what the API answers', async () => {
      const runsJson = await runCli(['runs', '--json'], { env: asAdmin })
      expect(runsJson.code).toBe(0)
      expect(JSON.parse(runsJson.stdout)).toEqual(await apiGet('/api/runs'))

      const filtered = await runCli(['runs', '--json', '--outcome', 'partially_succeeded', '--runbook', runbookKey], { env: asAdmin })
      expect(JSON.parse(filtered.stdout).items.map((r: { id: string }) => r.id)).toEqual([followedRunId])

      const acme = tenantNamed('Acme Logistics')
      const byTenant = await runCli(['runs', '--json', '--tenant', String(acme.id)], { env: asAdmin })
      expect(JSON.parse(byTenant.stdout)).toEqual(await apiGet(`/api/runs?tenantId=${acme.id}`))

      const runsText = await runCli(['runs', '--limit', '1'], { env: asAdmin })
      expect(runsText.code).toBe(0)
      expect(runsText.stdout).toMatch(/^ID\s+RUNBOOK\s+SCOPE/)
      expect(runsText.stdout).toMatch(/More: repeat with --cursor \S+/)

      const badStatus = await runCli(['runs', '--status', 'sleeping'], { env: asAdmin })
      expect(badStatus.code).toBe(2)
      expect(badStatus.stderr).toMatch(/^ {2}status \(--status\): /m)

      await waitUntil(async () => (await apiGet(`/api/runs/${followedRunId}`)).verification !== null, `run ${followedRunId} verified`)
      const runJson = await runCli(['run', followedRunId, '--json'], { env: asAdmin })
      expect(JSON.parse(runJson.stdout)).toEqual(await apiGet(`/api/runs/${followedRunId}`))
      const runText = await runCli(['run', followedRunId], { env: asAdmin })
      expect(runText.code).toBe(0)
      expect(runText.stdout).toMatch(/^Verified: 0 remaining \(.+Z\)$/m) // SPEC §11
      expect(runText.stdout).toMatch(/^Outcome\s+partially_succeeded$/m)
      expect(runText.stdout).toMatch(/^Source\s+cli$/m)
      expect(runText.stdout).toMatch(/^Reason\s+DATA_REPAIR: CLI test: repair lifecycle fields$/m)
      expect(runText.stdout).toContain(DEMO_INVALID_TENANT_NAME)

      const eventsJson = await runCli(['events', followedRunId, '--json'], { env: asAdmin })
      expect(JSON.parse(eventsJson.stdout)).toEqual(await apiGet(`/api/runs/${followedRunId}/events`))
      const eventsText = await runCli(['events', followedRunId], { env: asAdmin })
      expect(eventsText.stdout).toMatch(/^0\s+\S+ \S+\s+RunRequested v\d/m)
      expect(eventsText.stdout).toMatch(/TenantProcessed v\d\s+.*failed INVALID_DATA/)
      expect(eventsText.stdout).toMatch(/RunCompleted v\d/)

      const auditJson = await runCli(['audit', '--json', '--action', 'platform.ops.runbooks.start', '--limit', '2'], { env: asAdmin })
      const audit = await apiGet('/api/audit?action=platform.ops.runbooks.start&limit=2')
      expect(JSON.parse(auditJson.stdout)).toEqual(audit)
      const auditText = await runCli(['audit', '--action', 'platform.ops.runbooks.start'], { env: asAdmin })
      expect(auditText.stdout).toMatch(/^OCCURRED\s+ACTION\s+ACTOR\s+RUN/)
      expect(auditText.stdout).toContain(`platform.ops.runbooks.start  ${testAdmin.email}  ${followedRunId}`)
    })
  })

  it('runs as a process: node --import tsx src/cli/main.ts runbooks --json', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'runbooks', '--json'], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, RCP_URL: api.baseUrl, RCP_TOKEN: asAdmin.RCP_TOKEN, RCP_CONFIG: join(folder, 'spawned.json') },
      timeout: 30_000,
    })
    expect(JSON.parse(stdout)).toEqual(await apiGet('/api/runbooks'))
  })

  it.each([['src/cli/main.ts'], ['src/cli/rcp.mjs']])('%s: output piped into a reader that stopped ends the CLI quietly (exit 0)', async (entry) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, 'runbooks'], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, RCP_URL: api.baseUrl, RCP_TOKEN: asAdmin.RCP_TOKEN, RCP_CONFIG: join(folder, 'spawned.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    // The reader is gone before the CLI writes anything: its first write meets a closed pipe (EPIPE).
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
  })
})
