import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedBenchTenants } from '../../src/db/demo-seed.js'
import { readModelChecksums, rebuildReadModels } from '../../src/projections/read-model-rebuild.js'
import { rebuiltReadModelTables } from '../../src/projections/read-model-projections.js'
import { runbookKey, runsPath } from '../http/problem-assertions.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../support/service.js'

/**
 * SPEC §12 "Projection rebuild" under load: the service rebuilds its read models (POST
 * /api/admin/rebuild-projections) while a run is executing and tenants are being recorded; readers keep
 * getting 200s throughout, and once the run has finished the tables equal a fresh from-zero projection and
 * the audit chain verifies.
 */
describe.each(serviceFlavours())('projection rebuild during a run on $name', ({ start }) => {
  let api: TestService
  let token: string

  beforeAll(async () => {
    api = await start()
    token = await api.token()
    await seedBenchTenants(api.sql, { tenants: 400, findingsPerTenant: 10 })
  })
  afterAll(async () => {
    await api?.close()
  })

  const tenantResults = async () =>
    (await api.sql<Array<{ n: number }>>`select count(*)::int as n from event_store_events where type = 'TenantProcessed'`)[0]!.n
  const lastPosition = async () =>
    BigInt((await api.sql<Array<{ p: string }>>`select coalesce(max(global_position), 0)::text as p from event_store_events`)[0]!.p)

  it('switches to rebuilt tables while the run goes on; readers only see 200s; the result equals a from-zero projection', async () => {
    const started = await api.request('POST', runsPath, {
      token,
      json: { scope: 'all_tenants', confirmation: runbookKey, reason: { code: 'INCIDENT', text: 'rebuild under load' }, limits: { maxConcurrency: 2 } },
    })
    expect(started.status, started.text).toBe(202)
    const runId = started.body.runId as string
    await waitUntil(async () => (await tenantResults()) >= 10, 'the run under way')

    // A reader hitting the run resource throughout the rebuild, and an operator changing the run's limits
    // throughout it: events keep coming while it rebuilds, whether or not a tenant's result lands meanwhile (a
    // job of 16 small tenants records them when it ends, and the rebuild may be the quicker).
    const statuses: number[] = []
    const limitChanges: number[] = []
    let busy = true
    const positionBefore = await lastPosition()
    const reader = (async () => {
      while (busy) statuses.push((await api.request('GET', `/api/runs/${runId}`, { token })).status)
    })()
    const limitsChanger = (async () => {
      for (let maxConcurrency = 3; busy; maxConcurrency = 5 - maxConcurrency) {
        const status = (await api.request('PATCH', `/api/runs/${runId}/limits`, { token, json: { maxConcurrency } })).status
        limitChanges.push(status)
        // 409 once the run has completed: its limits no longer change.
        if (status !== 200) break
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    let rebuilt: Awaited<ReturnType<TestService['request']>>
    let positionAfter: bigint
    try {
      rebuilt = await api.request('POST', '/api/admin/rebuild-projections', { token })
      positionAfter = await lastPosition()
    } finally {
      busy = false
      await Promise.all([reader, limitsChanger])
    }
    expect(rebuilt.status, rebuilt.text).toBe(200)
    // Events were appended while it rebuilt: the live projector and the rebuild both had to follow them.
    expect(positionAfter).toBeGreaterThan(positionBefore)
    expect(limitChanges).toContain(200)
    expect(limitChanges.slice(0, -1).filter((s) => s !== 200)).toEqual([])
    expect([200, 409]).toContain(limitChanges.at(-1))
    expect(rebuilt.body.same).toBe(true)
    expect(rebuilt.body.tables.map((t: { table: string }) => t.table)).toEqual([...rebuiltReadModelTables])
    for (const table of rebuilt.body.tables) expect(table.after).toEqual(table.before)
    expect(rebuilt.body.tables.find((t: { table: string }) => t.table === 'operation_run_tenants').after.rows).toBeGreaterThanOrEqual(400)
    expect(statuses.length).toBeGreaterThan(0)
    expect(statuses.filter((s) => s !== 200)).toEqual([])

    // The run finishes on the switched-to tables.
    await waitUntil(async () => runIsSettled((await api.request('GET', `/api/runs/${runId}`, { token })).body), 'the run settled', 120_000)
    const run = (await api.request('GET', `/api/runs/${runId}`, { token })).body
    // The demo data holds one tenant the repair refuses (DEMO_INVALID_TENANT_NAME).
    expect(['succeeded', 'partially_succeeded']).toContain(run.outcome)
    await api.service.projector!.waitUntilCaughtUp()

    // A fresh projection from zero (a second rebuild's new tables) equals what the live projector left.
    const live = await readModelChecksums(api.sql)
    const fromZero = await rebuildReadModels({ sql: api.sql, store: api.service.store, consoleBaseUrl: api.service.config.publicUrl })
    expect(fromZero.same).toBe(true)
    for (const table of fromZero.tables) expect(table.after).toEqual(live.get(table.table))
    const [{ n: tenantRows } = { n: 0 }] = await api.sql<Array<{ n: number }>>`
      select count(*)::int as n from operation_run_tenants where run_id = ${runId} and status = 'succeeded'`
    expect(tenantRows).toBeGreaterThanOrEqual(400)

    const verified = await api.request('GET', '/api/audit/verify', { token })
    expect(verified.status).toBe(200)
    expect(verified.body).toMatchObject({ ok: true, firstBrokenSequence: null })
  })

  it('needs platform.operators.manage, checked before the body (403 whatever is sent); 401 without a token', async () => {
    const viewer = await api.operatorToken(['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.run'])
    // Its login is audited: projected before the tables are compared.
    await api.service.projector!.waitUntilCaughtUp()
    const before = await readModelChecksums(api.sql)
    for (const body of [undefined, '{not json', JSON.stringify({ anything: 1 })]) {
      const refused = await api.request('POST', '/api/admin/rebuild-projections', { token: viewer, ...(body === undefined ? {} : { body }) })
      expect(refused.status, refused.text).toBe(403)
      expect(refused.headers.get('content-type')).toContain('application/problem+json')
    }
    expect((await api.request('POST', '/api/admin/rebuild-projections')).status).toBe(401)
    const schemas = await api.sql`select nspname from pg_namespace where nspname like 'rebuild\\_%'`
    expect(schemas).toEqual([])
    expect(await readModelChecksums(api.sql)).toEqual(before)
  })
})
