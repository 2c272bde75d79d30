import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { expectProblem } from './problem-assertions.js'

/** SPEC §13 over the HTTP API: the second runbook, its parameters end to end, its capability granted by an admin. */

const SLA = 'findings.sla.recalculate'
const SLA_CAPABILITY = 'platform.runbooks.findings.sla_recalculate'
const runsPath = `/api/runbooks/${SLA}/runs`
const preflightPath = `/api/runbooks/${SLA}/preflight`

describe.each(serviceFlavours())('runbook parameters over the API: $name', (flavour) => {
  let api: TestService
  let admin: string
  let tenantId: number
  let invalidTenantId: number

  beforeAll(async () => {
    api = await flavour.start()
    admin = await api.token()
    const tenants = (await api.request('GET', '/api/tenants?limit=1000', { token: admin })).body.items as Array<{ id: number; name: string }>
    invalidTenantId = tenants.find((t) => t.name === DEMO_INVALID_TENANT_NAME)!.id
    // A tenant of the universe with open critical findings: the recalculation with critical = 1 day changes them.
    const [row] = await api.sql<Array<{ tenant_id: string }>>`
      select f.tenant_id from findings f join tenants t on t.id = f.tenant_id
      where f.severity = 'critical' and f.status in ('new', 'triaged', 'in_progress') and f.first_seen_at is not null
        and not t.is_platform and t.archived_at is null and f.tenant_id <> ${invalidTenantId}
      group by f.tenant_id order by count(*) desc, f.tenant_id limit 1`
    tenantId = Number(row!.tenant_id)
  })
  afterAll(async () => {
    await api?.close()
  })

  const send = (path: string, json: unknown, token = admin) => api.request('POST', path, { token, json })
  const single = (parameters?: unknown) => ({ scope: 'single_tenant', tenantId, confirmation: SLA, ...(parameters === undefined ? {} : { parameters }) })

  async function completed(runId: string): Promise<any> {
    let run: any
    await waitUntil(async () => {
      run = (await api.request('GET', `/api/runs/${runId}`, { token: admin })).body
      // Settled, not only completed: a verification appended later would land in another test's event count.
      return runIsSettled(run)
    }, `run ${runId} to complete and be verified`)
    return run
  }

  /** Open findings of the tenant whose due date is not first sighting + the rule's days. */
  async function mismatches(days: Record<'critical' | 'high' | 'medium' | 'low', number>): Promise<number> {
    const [row] = await api.sql<Array<{ n: number }>>`
      select count(*)::int as n from findings
      where tenant_id = ${tenantId} and status in ('new', 'triaged', 'in_progress') and first_seen_at is not null
        and severity in ('critical', 'high', 'medium', 'low')
        and sla_due_at is distinct from first_seen_at + interval '1 hour' * 24 * case severity
          when 'critical' then ${days.critical}::int when 'high' then ${days.high}::int
          when 'medium' then ${days.medium}::int when 'low' then ${days.low}::int end`
    return row!.n
  }

  it('the catalog shows both runbooks with their unit and the SLA days as JSON Schema with defaults', async () => {
    const catalog = await api.request('GET', '/api/runbooks', { token: admin })
    expect(catalog.status).toBe(200)
    expect(catalog.body.items.map((r: any) => [r.key, r.unit])).toEqual([
      ['findings.lifecycle.backfill', 'findings'],
      [SLA, 'findings'],
    ])
    const sla = catalog.body.items[1]
    expect(sla).toMatchObject({ label: 'Findings SLA recalculation', requiredCapability: SLA_CAPABILITY })
    const days = sla.parameters.properties.slaDays.properties
    expect(Object.fromEntries(Object.entries(days).map(([k, v]: [string, any]) => [k, [v.default, v.minimum, v.maximum, v.type]]))).toEqual({
      critical: [3, 1, 365, 'integer'],
      high: [7, 1, 365, 'integer'],
      medium: [30, 1, 365, 'integer'],
      low: [90, 1, 365, 'integer'],
    })
    expect(catalog.body.items[0].parameters).toMatchObject({ type: 'object', properties: {}, additionalProperties: false })
  })

  it('refuses a value outside its schema with 422 naming parameters.<name>, and starts nothing', async () => {
    const before = await api.eventCount()
    expectProblem(await send(runsPath, single({ slaDays: { critical: 0 } })), 422, 'parameters.slaDays.critical')
    expectProblem(await send(runsPath, single({ slaDays: { high: 'soon' } })), 422, 'parameters.slaDays.high')
    expectProblem(await send(runsPath, single({ slaDays: { info: 2 } })), 422, 'parameters.slaDays.info')
    expectProblem(await send(runsPath, single({ dryRun: true })), 422, 'parameters.dryRun')
    expectProblem(await send(preflightPath, { scope: 'single_tenant', tenantId, parameters: { slaDays: { low: 400 } } }), 422, 'parameters.slaDays.low')
    expectProblem(await send(runsPath, single('critical=1')), 422, 'parameters')
    expectProblem(await send(runsPath, single([1])), 422, 'parameters')
    // A key no object may have is refused like any other, not dropped.
    expectProblem(await send(runsPath, single(JSON.parse('{"__proto__": {"slaDays": {"critical": 0}}}'))), 422, 'parameters.__proto__')
    expect(await api.eventCount()).toBe(before)
  })

  it('a preflight and a run with critical: 1 repair exactly what the rule says; the same start is 409 while active and updates 0 after', async () => {
    const days = { critical: 1, high: 7, medium: 30, low: 90 }
    const preview = await send(preflightPath, { scope: 'single_tenant', tenantId, parameters: { slaDays: { critical: 1 } } })
    expect(preview.status, preview.text).toBe(200)
    expect(preview.body.affectedCount).toBeGreaterThan(0)
    expect(preview.body.affectedCount).toBe(await mismatches(days))

    // Awaiting a second operator's approval keeps the run active (on every flavour) while the same start is tried again.
    const put = (required: string) => api.request('PUT', '/api/settings/approvals', { token: admin, json: { required } })
    expect((await put('all')).status).toBe(200)
    let started: Awaited<ReturnType<typeof send>>
    try {
      started = await send(runsPath, single({ slaDays: { critical: 1 } }))
      expect(started.status, started.text).toBe(202)
      expect(started.body.status).toBe('awaiting_approval')
      // The same values, a default spelled out: the same run.
      const again = await send(runsPath, single({ slaDays: { critical: 1, high: 7 } }))
      expectProblem(again, 409)
      expect(again.body.runId).toBe(started.body.runId)
    } finally {
      expect((await put('none')).status).toBe(200)
    }
    const approver = await api.operatorToken(['platform.ops.view', 'platform.runbooks.approve', SLA_CAPABILITY], 'approver@ops.test')
    const approved = await send(`/api/runs/${started.body.runId}/approve`, {}, approver)
    expect(approved.status, approved.text).toBe(202)
    const run = await completed(started.body.runId)
    expect(run.outcome).toBe('succeeded')
    expect(run.summaryCounts.updated).toBe(preview.body.affectedCount)
    expect(run.context.parameters).toEqual({ slaDays: days })
    expect(await mismatches(days)).toBe(0)
    // SPEC §11: the service scans the succeeded tenant again after completion; on unchanged data nothing is left.
    let verified: any
    await waitUntil(async () => {
      verified = (await api.request('GET', `/api/runs/${started.body.runId}`, { token: admin })).body
      return verified.verification !== null
    }, 'the run to be verified')
    expect(verified.verification).toEqual({ remaining: 0, tenantsWithRemaining: [], verifiedAt: expect.any(String) })

    const repeat = await send(runsPath, single({ slaDays: { critical: 1 } }))
    expect(repeat.status, repeat.text).toBe(202)
    const second = await completed(repeat.body.runId)
    expect(second.summaryCounts.updated).toBe(0)
  })

  it('fails a tenant with an unknown severity (INVALID_DATA) and changes nothing in it', async () => {
    const before = await api.sql`select id, sla_due_at, updated_at from findings where tenant_id = ${invalidTenantId} order by id`
    const started = await send(runsPath, { scope: 'single_tenant', tenantId: invalidTenantId, confirmation: SLA })
    expect(started.status, started.text).toBe(202)
    const run = await completed(started.body.runId)
    expect(run.outcome).toBe('failed')
    expect(run.failureSummary).toEqual([expect.objectContaining({ tenant_id: invalidTenantId, reason_code: 'INVALID_DATA' })])
    expect(await api.sql`select id, sla_due_at, updated_at from findings where tenant_id = ${invalidTenantId} order by id`).toEqual(before)
  })

  it('the admin grants the new runbook’s capability through operator administration; without it, 403', async () => {
    const without = await api.operatorToken(['platform.runbooks.view', 'platform.runbooks.run', 'platform.ops.view'])
    expectProblem(await send(preflightPath, { scope: 'single_tenant', tenantId }, without), 403)
    const created = await send('/api/operators', {
      email: 'sla.operator@ops.test',
      name: 'SLA operator',
      password: 'a long enough password',
      capabilities: ['platform.runbooks.view', SLA_CAPABILITY],
    })
    expect(created.status, created.text).toBe(201)
    expect(created.body.capabilities).toContain(SLA_CAPABILITY)
    const token = await api.token({ email: 'sla.operator@ops.test', password: 'a long enough password' })
    const preview = await send(preflightPath, { scope: 'single_tenant', tenantId }, token)
    expect(preview.status, preview.text).toBe(200)
  })
})
