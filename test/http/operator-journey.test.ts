import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_ARCHIVED_TENANT_ID, DEMO_INVALID_TENANT_NAME, DEMO_PLATFORM_TENANT_ID } from '../../src/db/demo-seed.js'
import { listAlertDeliveries } from '../../src/projections/queries.js'
import { serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { expectProblem, preflightPath, runbookKey, runsPath, validReason } from './problem-assertions.js'

interface Tenant {
  id: number
  workspaceId: number
  name: string
}

interface Preflight {
  affectedCount: number
  totalCount: number
  estimatedTenants: number
}

describe.each(serviceFlavours())('operator journey over HTTP: $name', (flavour) => {
  let api: TestService
  let token: string
  let tenants: Tenant[]
  let invalidTenant: Tenant

  beforeAll(async () => {
    api = await flavour.start()
    token = await api.token()
  })

  afterAll(async () => {
    await api?.close()
  })

  const get = (path: string) => api.request('GET', path, { token })
  const post = (path: string, json: unknown) => api.request('POST', path, { token, json })

  async function runWhenCompleted(runId: string): Promise<any> {
    let run: any
    await waitUntil(
      async () => {
        const response = await get(`/api/runs/${runId}`)
        expect(response.status).toBe(200)
        run = response.body
        return run.status === 'completed'
      },
      `run ${runId} to complete`,
    )
    return run
  }

  async function invalidTenantFindings(): Promise<unknown[]> {
    return [...(await api.sql`select * from findings where tenant_id = ${invalidTenant.id} order by id`)]
  }

  async function auditActions(): Promise<string[]> {
    const response = await get('/api/audit?limit=200')
    expect(response.status).toBe(200)
    return (response.body.items as Array<{ action: string }>).map((entry) => entry.action)
  }

  describe('the journey, in order', () => {
    let allPreflight: Preflight
    let invalidPreflight: Preflight
    let firstRunId: string
    let secondRunId: string
    let singleRunId: string

    it('lists the runbook catalog', async () => {
      const response = await get('/api/runbooks')
      expect(response.status).toBe(200)
      expect(response.body.items).toEqual([
        expect.objectContaining({
          key: runbookKey,
          label: 'Findings lifecycle backfill',
          requiredCapability: 'platform.runbooks.findings.lifecycle_backfill',
          description: expect.any(String),
          unit: 'findings',
          estimatedDuration: expect.any(String),
          parameters: expect.objectContaining({ type: 'object' }),
        }),
        expect.objectContaining({ key: 'findings.sla.recalculate', label: 'Findings SLA recalculation', unit: 'findings' }),
      ])
    })

    it('lists only the allowed universe: no platform tenant, no archived tenant; q filters by name', async () => {
      const response = await get('/api/tenants')
      expect(response.status).toBe(200)
      tenants = response.body.items
      const ids = tenants.map((t) => t.id)
      expect(ids).toHaveLength(24)
      expect(ids).not.toContain(DEMO_PLATFORM_TENANT_ID)
      expect(ids).not.toContain(DEMO_ARCHIVED_TENANT_ID)
      const [universe] = await api.sql<{ count: number }[]>`
        select count(*)::int as count from tenants where not is_platform and archived_at is null`
      expect(ids).toHaveLength(universe!.count)
      expect(response.body.nextCursor).toBeNull()
      // Page by page, by name then id, every tenant once.
      const paged: Array<{ id: number }> = []
      let cursor: string | null = null
      do {
        const page = await get(`/api/tenants?limit=5${cursor ? `&cursor=${cursor}` : ''}`)
        expect(page.status, page.text).toBe(200)
        expect(page.body.items.length).toBeLessThanOrEqual(5)
        paged.push(...page.body.items)
        cursor = page.body.nextCursor
      } while (cursor)
      expect(paged).toEqual(tenants)
      invalidTenant = tenants.find((t) => t.name === DEMO_INVALID_TENANT_NAME)!
      expect(invalidTenant).toBeDefined()

      const filtered = await get('/api/tenants?q=CORP')
      expect(filtered.status).toBe(200)
      const expected = tenants.filter((t) => t.name.toLowerCase().includes('corp'))
      expect(expected.length).toBeGreaterThan(0)
      expect(expected.length).toBeLessThan(tenants.length)
      expect(filtered.body.items).toEqual(expect.arrayContaining(expected))
      expect(filtered.body.items).toHaveLength(expected.length)

      const archivedByName = await get('/api/tenants?q=Initech')
      expect(archivedByName.body.items).toEqual([])
      const platformByName = await get('/api/tenants?q=Platform%20Operations')
      expect(platformByName.body.items).toEqual([])
    })

    it('preflights all tenants and the invalid tenant alone', async () => {
      const all = await post(preflightPath, { scope: 'all_tenants' })
      expect(all.status, all.text).toBe(200)
      allPreflight = all.body
      expect(allPreflight.estimatedTenants).toBe(24)
      expect(allPreflight.affectedCount).toBeGreaterThan(0)
      expect(allPreflight.totalCount).toBeGreaterThanOrEqual(allPreflight.affectedCount)

      const single = await post(preflightPath, { scope: 'single_tenant', tenantId: invalidTenant.id })
      expect(single.status, single.text).toBe(200)
      invalidPreflight = single.body
      // Its repair would fail and change nothing: it would update none of its findings, and a run over it
      // counts none (SPEC §2: a run's counts equal its preflight's), as the all-tenants preview leaves it out.
      expect(invalidPreflight.estimatedTenants).toBe(1)
      expect(single.body.wouldFailTenants).toEqual([invalidTenant.id])
      expect([invalidPreflight.affectedCount, invalidPreflight.totalCount]).toEqual([0, 0])
    })

    it('starts an all-tenants run (202), readable at once, completing partially_succeeded without touching the invalid tenant', async () => {
      const before = await invalidTenantFindings()
      const started = await post(runsPath, { scope: 'all_tenants', confirmation: runbookKey, reason: validReason })
      expect(started.status, started.text).toBe(202)
      expect(started.body).toEqual({ runId: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/), status: 'queued' })
      firstRunId = started.body.runId
      expect(started.headers.get('location')).toBe(`/api/runs/${firstRunId}`)

      // Read-your-writes: the very next request sees the run, whatever the projector's progress.
      const immediately = await get(`/api/runs/${firstRunId}`)
      expect(immediately.status, immediately.text).toBe(200)
      expect(immediately.body.id).toBe(firstRunId)
      expect(['queued', 'running', 'completed']).toContain(immediately.body.status)

      const run = await runWhenCompleted(firstRunId)
      expect(run).toMatchObject({
        id: firstRunId,
        type: runbookKey,
        status: 'completed',
        outcome: 'partially_succeeded',
        tenantId: null,
        workspaceId: 1,
        startedAt: expect.any(String),
        completedAt: expect.any(String),
        createdAt: expect.any(String),
        runIdentityHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      })
      expect(run.summaryCounts).toEqual({
        total: allPreflight.totalCount - invalidPreflight.totalCount,
        processed: allPreflight.totalCount - invalidPreflight.totalCount,
        updated: allPreflight.affectedCount - invalidPreflight.affectedCount,
        skipped:
          allPreflight.totalCount - invalidPreflight.totalCount - (allPreflight.affectedCount - invalidPreflight.affectedCount),
        failed: 1,
        tenants: 24,
      })
      expect(run.failureSummary).toEqual([
        { tenant_id: invalidTenant.id, reason_code: 'INVALID_DATA', message: expect.stringMatching(/finding \d+/) },
      ])
      expect(run.context).toMatchObject({
        runbook: { key: runbookKey },
        parameters: {},
        scope: 'all_tenants',
        target_tenant_id: null,
        source: 'api',
        preflight: { affected_count: allPreflight.affectedCount, total_count: allPreflight.totalCount, estimated_tenants: 24 },
        reason: { reason_code: 'DATA_REPAIR', reason_text: validReason.text },
        platform_initiator: { email: 'admin@ops.test', is_break_glass: false },
      })
      expect(await invalidTenantFindings()).toEqual(before)
      // SPEC §5: a partially succeeded run raises operations.run.failed to the platform workspace's destinations.
      const deliveries = await listAlertDeliveries(api.sql, { runId: firstRunId })
      expect(deliveries).toEqual([
        expect.objectContaining({
          alertKey: 'operations.run.failed',
          runId: firstRunId,
          workspaceId: 1,
          payload: expect.objectContaining({ run_id: firstRunId, scope: 'all_tenants', console_url: expect.stringContaining(`/system/ops/runs/${firstRunId}`) }),
        }),
      ])
    })

    it("lists the run's stream in order with full metadata", async () => {
      const response = await get(`/api/runs/${firstRunId}/events`)
      expect(response.status).toBe(200)
      const items = response.body.items as Array<any>
      expect(items.map((e) => e.revision)).toEqual(items.map((_, index) => index))
      // The reconciler may add a redispatch event on a slow machine, and the verification follows the
      // completion (SPEC §11) once the verifier has seen it; nothing else may appear.
      const types = items.map((e) => e.type).filter((type) => type !== 'TenantJobsRedispatched')
      const expected = ['RunRequested', 'RunStarted', ...Array(24).fill('TenantProcessed'), 'RunCompleted']
      expect(types).toEqual(types.at(-1) === 'RunVerified' ? [...expected, 'RunVerified'] : expected)
      const processedTenants = items.filter((e) => e.type === 'TenantProcessed').map((e) => e.data.tenantId)
      expect([...processedTenants].sort((a, b) => a - b)).toEqual(tenants.map((t) => t.id).sort((a, b) => a - b))
      for (const event of items) {
        expect(event).toMatchObject({
          version: expect.any(Number),
          position: expect.any(String),
          recordedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
          data: expect.objectContaining({ runId: firstRunId }),
          metadata: {
            eventId: expect.stringMatching(/^[0-9a-f-]{36}$/),
            correlationId: firstRunId,
            initiator: expect.objectContaining({ kind: expect.any(String) }),
            occurredAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
          },
        })
        expect(event.metadata).toHaveProperty('causationId')
      }
      expect(items[0].metadata.initiator).toMatchObject({ kind: 'operator', email: 'admin@ops.test' })
      // RunRequested is caused by the identity claim, which is not in the run's stream.
      expect(items[0].metadata.causationId).toEqual(expect.any(String))
      expect(new Set(items.map((e) => e.metadata.eventId)).size).toBe(items.length)
    })

    it("names each event the service appended on its own by the event it answered, earlier in the run's stream", async () => {
      const items = (await get(`/api/runs/${firstRunId}/events`)).body.items as Array<any>
      const earlier = (index: number) => new Set(items.slice(0, index).map((e) => e.metadata.eventId))
      const byType = (type: string) => items.filter((e) => e.type === type)
      // RunStarted answers the request; every TenantProcessed the event that dispatched its tenant's job.
      expect(byType('RunStarted')[0].metadata.causationId).toBe(items[0].metadata.eventId)
      for (const [index, event] of items.entries()) {
        if (event.type !== 'TenantProcessed') continue
        expect(earlier(index).has(event.metadata.causationId), `TenantProcessed of tenant ${event.data.tenantId}`).toBe(true)
      }
      // The completion names the result that completed the run: the last one before it.
      const completed = items.findIndex((e) => e.type === 'RunCompleted')
      const lastResult = items.slice(0, completed).filter((e) => e.type === 'TenantProcessed').at(-1)
      expect(items[completed].metadata.causationId).toBe(lastResult.metadata.eventId)
      // The verification answers the completion (SPEC §11), once the verifier has seen it.
      await waitUntil(async () => (await get(`/api/runs/${firstRunId}`)).body.verification !== null, 'the run verified')
      const verified = ((await get(`/api/runs/${firstRunId}/events`)).body.items as Array<any>).find((e) => e.type === 'RunVerified')
      expect(verified.metadata.causationId).toBe(items[completed].metadata.eventId)
    })

    it('a second identical run updates nothing (idempotent backfill)', async () => {
      const started = await post(runsPath, { scope: 'all_tenants', confirmation: runbookKey, reason: validReason })
      expect(started.status, started.text).toBe(202)
      secondRunId = started.body.runId
      expect(secondRunId).not.toBe(firstRunId)
      const run = await runWhenCompleted(secondRunId)
      expect(run.outcome).toBe('partially_succeeded')
      expect(run.summaryCounts.updated).toBe(0)
      expect(run.summaryCounts.failed).toBe(1)
      expect(run.summaryCounts.total).toBe(allPreflight.totalCount - invalidPreflight.totalCount)
    })

    it('a single-tenant run carries the tenant and its workspace', async () => {
      const acme = tenants.find((t) => t.name === 'Acme Logistics')!
      const started = await post(runsPath, { scope: 'single_tenant', tenantId: acme.id, confirmation: runbookKey })
      expect(started.status, started.text).toBe(202)
      singleRunId = started.body.runId
      const run = await runWhenCompleted(singleRunId)
      expect(run).toMatchObject({ tenantId: acme.id, workspaceId: acme.workspaceId, outcome: 'succeeded' })
      expect(run.summaryCounts.updated).toBe(0)
      expect(run.summaryCounts).not.toHaveProperty('tenants')
    })

    it('lists runs newest first, filtered, keyset-paginated', async () => {
      const all = await get('/api/runs')
      expect(all.status).toBe(200)
      expect(all.body.items.map((r: { id: string }) => r.id)).toEqual([singleRunId, secondRunId, firstRunId])
      expect(all.body.nextCursor).toBeNull()

      const ids = async (query: string) => {
        const response = await get(`/api/runs?${query}`)
        expect(response.status, response.text).toBe(200)
        return response.body.items.map((r: { id: string }) => r.id)
      }
      expect(await ids('status=completed')).toEqual([singleRunId, secondRunId, firstRunId])
      expect(await ids('status=queued')).toEqual([])
      expect(await ids('outcome=partially_succeeded')).toEqual([secondRunId, firstRunId])
      expect(await ids('outcome=succeeded')).toEqual([singleRunId])
      expect(await ids(`runbook=${runbookKey}`)).toEqual([singleRunId, secondRunId, firstRunId])
      expect(await ids('runbook=some.other.runbook')).toEqual([])
      const acme = tenants.find((t) => t.name === 'Acme Logistics')!
      expect(await ids(`tenantId=${acme.id}`)).toEqual([singleRunId])
      expect(await ids(`tenantId=${invalidTenant.id}`)).toEqual([])
      expect(await ids('status=completed&outcome=partially_succeeded&limit=1')).toEqual([secondRunId])

      const paged: string[] = []
      let cursor: string | null = null
      for (let page = 0; page < 10; page++) {
        const response = await get(`/api/runs?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
        expect(response.status, response.text).toBe(200)
        expect(response.body.items.length).toBeLessThanOrEqual(1)
        paged.push(...response.body.items.map((r: { id: string }) => r.id))
        cursor = response.body.nextCursor
        if (cursor === null) break
      }
      expect(paged).toEqual([singleRunId, secondRunId, firstRunId])
    })

    it('the audit log has the preflight, start, completion and login entries', async () => {
      await waitUntil(async () => {
        const actions = await auditActions()
        return actions.filter((a) => a === 'platform.ops.runbooks.completed').length === 3
      }, 'three completion audit entries')
      const response = await get('/api/audit?limit=200')
      const entries = response.body.items as Array<any>
      const actions = entries.map((e) => e.action)
      expect(actions.filter((a) => a === 'platform.ops.runbooks.preflight')).toHaveLength(2)
      expect(actions.filter((a) => a === 'platform.ops.runbooks.start')).toHaveLength(3)
      expect(actions).toContain('platform.ops.login.succeeded')
      const start = entries.find((e) => e.action === 'platform.ops.runbooks.start' && e.operationRunId === firstRunId)
      expect(start).toMatchObject({
        actorEmail: 'admin@ops.test',
        context: {
          runbook_key: runbookKey,
          scope: 'all_tenants',
          affected_count: allPreflight.affectedCount,
          operation_run_id: firstRunId,
          email: 'admin@ops.test',
          ip: expect.stringMatching(/127\.0\.0\.1/),
          user_agent: expect.any(String),
        },
      })
      const times = entries.map((e) => Date.parse(e.occurredAt))
      expect(times).toEqual([...times].sort((a, b) => b - a))

      const onlyStarts = await get('/api/audit?action=platform.ops.runbooks.start')
      expect(onlyStarts.body.items.map((e: { action: string }) => e.action)).toEqual(Array(3).fill('platform.ops.runbooks.start'))
      const firstPage = await get('/api/audit?limit=1')
      expect(firstPage.body.items).toHaveLength(1)
      expect(firstPage.body.nextCursor).toEqual(expect.any(String))
      const secondPage = await get(`/api/audit?limit=1&cursor=${encodeURIComponent(firstPage.body.nextCursor)}`)
      expect(secondPage.body.items[0].id).toBe(entries[1].id)
    })
  })

  describe('sixteen concurrent identical starts', () => {
    it('answer exactly one 202 and fifteen 409 carrying its run id; one RunRequested is stored', async () => {
      // Its own tenant list, and no run of the journey still active on the tenant: this test stands alone.
      const universe: Tenant[] = (await get('/api/tenants')).body.items
      const globex = universe.find((t) => t.name === 'Globex Retail')!
      await waitUntil(
        async () => (await get('/api/runs?limit=100')).body.items.every((run: { status: string }) => run.status === 'completed'),
        'every earlier run completed',
      )
      // The run waits for an approval until all sixteen are answered: a run that completed meanwhile would
      // rightly let a later start through (one ACTIVE run per identity), which a loaded machine allows.
      const put = (required: string) => api.request('PUT', '/api/settings/approvals', { token, json: { required } })
      expect((await put('all')).status).toBe(200)
      const body = { scope: 'single_tenant', tenantId: globex.id, confirmation: runbookKey }
      const responses = await Promise.all(Array.from({ length: 16 }, () => post(runsPath, body))).finally(() => put('none'))
      const accepted = responses.filter((r) => r.status === 202)
      const conflicts = responses.filter((r) => r.status === 409)
      expect(
        responses.map((r) => r.status).sort(),
        responses.map((r) => r.text).join('\n'),
      ).toEqual([202, ...Array(15).fill(409)])
      const runId = accepted[0]!.body.runId as string
      for (const conflict of conflicts) {
        expectProblem(conflict, 409)
        expect(conflict.body.runId).toBe(runId)
      }
      expect(accepted[0]!.body.status).toBe('awaiting_approval')
      const cancelled = await api.request('POST', `/api/runs/${runId}/cancel`, { token, json: { reason: { code: 'SUPPORT', text: 'only the concurrency mattered' } } })
      expect(cancelled.status, cancelled.text).toBe(202)
      const run = await runWhenCompleted(runId)
      const [stored] = await api.sql<{ count: number }[]>`
        select count(*)::int as count from event_store_events
         where type = 'RunRequested' and data ->> 'runIdentityHash' = ${run.runIdentityHash}`
      expect(stored!.count).toBe(1)
    })
  })
})
