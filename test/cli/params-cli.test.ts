import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { runCli } from './run-cli.js'

/** SPEC §13: runbook parameters from the command line (`--param`, `--params-file`), against a real service. */

const slaKey = 'findings.sla.recalculate'
const slaCapability = 'platform.runbooks.findings.sla_recalculate'
const RUN_ID = /[0-9A-HJKMNP-TV-Z]{26}/

describe('rcp --param and --params-file against a real service (embedded)', () => {
  let api: TestService
  let folder: string
  /** The service URL and the token of an operator holding what the SLA runbook needs. */
  let env: Record<string, string>
  let tenants: Array<{ id: number; name: string }>
  const tenantNamed = (name: string) => tenants.find((t) => t.name === name)!

  beforeAll(async () => {
    api = await serviceFlavours()[0]!.start()
    folder = await mkdtemp(join(tmpdir(), 'rcp-params-cli-'))
    // The bootstrap admin holds every capability of the catalog; an operator made for the purpose says what is needed.
    const token = await api.operatorToken(['platform.runbooks.view', 'platform.runbooks.run', 'platform.ops.view', slaCapability])
    env = { RCP_URL: api.baseUrl, RCP_CONFIG: join(folder, 'credentials.json'), RCP_TOKEN: token }
    tenants = (await api.request('GET', '/api/tenants?limit=1000', { token })).body.items
  })

  afterAll(async () => {
    await api?.close()
    if (folder) await rm(folder, { recursive: true, force: true })
  })

  const apiPost = async (path: string, json: unknown) => {
    const response = await api.request('POST', path, { token: env.RCP_TOKEN, json })
    expect(response.status, response.text).toBe(200)
    return response.body
  }

  it("rcp runbooks shows the SLA runbook's unit and parameters; --json is the API's body", async () => {
    const text = await runCli(['runbooks'], { env })
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^KEY\s+LABEL\s+UNIT\s+/m)
    expect(text.stdout).toMatch(/^findings\.sla\.recalculate\s+Findings SLA recalculation\s+findings\s+/m)
    expect(text.stdout).toMatch(/^ {2}slaDays\.critical\s+integer\s+3\s+1\.\.365\s+/m)
    expect(text.stdout).toMatch(/^ {2}slaDays\.low\s+integer\s+90\s+1\.\.365\s+/m)
    expect(text.stdout).toContain('Parameters of findings.lifecycle.backfill: none')

    const json = await runCli(['--json', 'runbooks'], { env })
    expect(json.code).toBe(0)
    const catalog = (await api.request('GET', '/api/runbooks', { token: env.RCP_TOKEN })).body
    expect(JSON.parse(json.stdout)).toEqual(catalog)
  })

  it('preflight --param slaDays.critical=1 is accepted and counts what the API counts for those parameters', async () => {
    const acme = tenantNamed('Acme Logistics')
    const expected = await apiPost(`/api/runbooks/${slaKey}/preflight`, {
      scope: 'single_tenant',
      tenantId: acme.id,
      parameters: { slaDays: { critical: 1 } },
    })
    const json = await runCli(['--json', 'preflight', slaKey, '--tenant', String(acme.id), '--param', 'slaDays.critical=1'], { env })
    expect(json.code, json.stderr).toBe(0)
    // Each preview is recorded anew: its own id, the same numbers.
    expect(JSON.parse(json.stdout)).toEqual({ ...expected, preflightId: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/) })

    const text = await runCli(['preflight', slaKey, '--tenant', String(acme.id), '--param', 'slaDays.critical=1'], { env })
    expect(text.code, text.stderr).toBe(0)
    // The unit comes from the catalog.
    expect(text.stdout).toMatch(new RegExp(`findings to update\\s+${expected.affectedCount}\\n`))
    expect(text.stdout).toMatch(new RegExp(`findings scanned\\s+${expected.totalCount}\\n`))
  })

  it('start --param slaDays.critical=1 (over a params file on stdin) starts a run that records the parameters, defaults filled in', async () => {
    const acme = tenantNamed('Acme Logistics')
    const result = await runCli(
      ['start', slaKey, '--tenant', String(acme.id), '--confirm', slaKey, '--params-file', '-', '--param', 'slaDays.critical=1'],
      { env, stdin: JSON.stringify({ slaDays: { critical: 9, high: 5 } }) },
    )
    expect(result.code, result.stderr).toBe(0)
    const runId = result.stdout.match(RUN_ID)?.[0]
    expect(runId, result.stdout).toBeDefined()

    const get = async () => (await api.request('GET', `/api/runs/${runId}`, { token: env.RCP_TOKEN })).body
    // Settled, not only completed: its verification is appended after, and the next test counts events.
    await waitUntil(async () => runIsSettled(await get()), `run ${runId} to complete and be verified`)
    const run = await get()
    expect(run.type).toBe(slaKey)
    expect(run.outcome).toBe('succeeded')
    expect(run.context.parameters).toEqual({ slaDays: { critical: 1, high: 5, medium: 30, low: 90 } })

    // The repair used them: an open critical finding is due a day after its first sighting.
    const rows = await api.sql<{ due_ok: boolean }[]>`
      select sla_due_at = first_seen_at + interval '1 day' as due_ok from findings
      where tenant_id = ${acme.id} and severity = 'critical' and status in ('new', 'triaged', 'in_progress') and first_seen_at is not null`
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) expect(row.due_ok).toBe(true)
  })

  it('--param slaDays.critical=0 is refused by the service: 422 naming parameters.slaDays.critical, exit 2, nothing recorded', async () => {
    const other = tenants.find((t) => t.name !== 'Acme Logistics')!
    const eventsBefore = await api.eventCount()
    const preflight = await runCli(['preflight', slaKey, '--tenant', String(other.id), '--param', 'slaDays.critical=0'], { env })
    expect(preflight.code).toBe(2)
    expect(preflight.stderr).toMatch(/^error: /m)
    expect(preflight.stderr).toMatch(/^ {2}parameters\.slaDays\.critical \(--param slaDays\.critical\): /m)

    const start = await runCli(['start', slaKey, '--tenant', String(other.id), '--confirm', slaKey, '--param', 'slaDays.critical=0'], { env })
    expect(start.code).toBe(2)
    expect(start.stderr).toMatch(/^ {2}parameters\.slaDays\.critical \(--param slaDays\.critical\): /m)

    const json = await runCli(['--json', 'start', slaKey, '--tenant', String(other.id), '--confirm', slaKey, '--param', 'slaDays.critical=0'], { env })
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 422, errors: [expect.objectContaining({ field: 'parameters.slaDays.critical' })] })

    const unknown = await runCli(['preflight', slaKey, '--tenant', String(other.id), '--param', 'urgent=1'], { env })
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^ {2}parameters\.urgent \(--param urgent\): /m)
    expect(await api.eventCount()).toBe(eventsBefore)
  })

  it('a malformed --param or params file is a usage error (exit 2) before any request', async () => {
    const acme = tenantNamed('Acme Logistics')
    // An unreachable URL: had a request been made, the exit code would be 5.
    const offline = { ...env, RCP_URL: 'http://127.0.0.1:9' }
    const noEquals = await runCli(['preflight', slaKey, '--tenant', String(acme.id), '--param', 'slaDays.critical'], { env: offline })
    expect(noEquals.code).toBe(2)
    expect(noEquals.stderr).toMatch(/^error: --param "slaDays\.critical": expected name=value/m)

    const emptyName = await runCli(['start', slaKey, '--tenant', String(acme.id), '--confirm', slaKey, '--param', '=1'], { env: offline })
    expect(emptyName.code).toBe(2)
    expect(emptyName.stderr).toMatch(/name before = is empty/)

    const missing = await runCli(['preflight', slaKey, '--tenant', String(acme.id), '--params-file', join(folder, 'nope.json')], { env: offline })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/--params-file .*nope\.json: cannot read it/)

    const array = join(folder, 'array.json')
    await writeFile(array, '[1, 2]')
    const notObject = await runCli(['start', slaKey, '--tenant', String(acme.id), '--confirm', slaKey, '--params-file', array], { env: offline })
    expect(notObject.code).toBe(2)
    expect(notObject.stderr).toMatch(/must hold a JSON object/)
  })
})
