import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { expectProblem } from './problem-assertions.js'

/** SPEC §11 "Per-tenant plan": a preview is recorded with an id, names the tenants that would fail, and its plan is paged. */

const KEY = 'findings.lifecycle.backfill'

describe.each(serviceFlavours())('per-tenant preflight plans over the API: $name', (flavour) => {
  let api: TestService
  let admin: string
  let invalidTenantId: number

  beforeAll(async () => {
    api = await flavour.start()
    admin = await api.token()
    const tenants = (await api.request('GET', '/api/tenants?limit=1000', { token: admin })).body.items as Array<{ id: number; name: string }>
    invalidTenantId = tenants.find((t) => t.name === DEMO_INVALID_TENANT_NAME)!.id
  })
  afterAll(async () => {
    await api?.close()
  })

  const preflight = (json: unknown, token = admin) => api.request('POST', `/api/runbooks/${KEY}/preflight`, { token, json })
  const plan = (id: string, query = '', token = admin) => api.request('GET', `/api/preflights/${id}/tenants${query}`, { token })

  it('names the tenant that would fail before anything runs, and pages the plan with it first', async () => {
    const answer = await preflight({ scope: 'all_tenants' })
    expect(answer.status, answer.text).toBe(200)
    expect(answer.body.preflightId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/)
    expect(answer.body.wouldFailTenants).toEqual([invalidTenantId])

    const items: any[] = []
    let cursor: string | null = null
    do {
      const page = await plan(answer.body.preflightId, `?limit=7${cursor ? `&cursor=${cursor}` : ''}`)
      expect(page.status, page.text).toBe(200)
      items.push(...page.body.items)
      cursor = page.body.nextCursor
    } while (cursor)
    expect(items).toHaveLength(answer.body.estimatedTenants)
    expect(items[0]).toMatchObject({ tenantId: invalidTenantId, tenantName: DEMO_INVALID_TENANT_NAME, wouldFail: 'INVALID_DATA', message: expect.stringMatching(/^finding \d+ has a severity outside/) })
    const rest = items.slice(1)
    expect(rest.every((t) => t.wouldFail === null && t.message === null)).toBe(true)
    expect(rest.map((t) => t.tenantId)).toEqual([...rest.map((t) => t.tenantId)].sort((a, b) => a - b))
    // The answer's sums are over the tenants that would succeed (SPEC §2); the rows show every tenant's own.
    expect(items.filter((t) => t.wouldFail === null).reduce((sum, t) => sum + t.affected, 0)).toBe(answer.body.affectedCount)
    expect(items.filter((t) => t.wouldFail === null).reduce((sum, t) => sum + t.total, 0)).toBe(answer.body.totalCount)
  })

  it('answers 404 for an unknown, malformed or expired preview and 400 for a cursor it did not give out', async () => {
    expectProblem(await plan('01ARZ3NDEKTSV4RRFFQ69G5FAV'), 404)
    expectProblem(await plan('not-a-preview'), 404)
    const answer = await preflight({ scope: 'single_tenant', tenantId: invalidTenantId })
    expect(answer.body.wouldFailTenants).toEqual([invalidTenantId])
    expectProblem(await plan(answer.body.preflightId, '?cursor=zzz'), 400)
    expectProblem(await plan(answer.body.preflightId, '?limit=0'), 400)
    await api.sql`update preflight_plans set recorded_at = now() - interval '25 hours' where preflight_id = ${answer.body.preflightId}`
    expectProblem(await plan(answer.body.preflightId), 404)
  })

  it('shows a plan only to operators who may preview its runbook', async () => {
    const answer = await preflight({ scope: 'single_tenant', tenantId: invalidTenantId })
    const viewer = await api.operatorToken(['platform.runbooks.view', 'platform.ops.view'])
    expectProblem(await plan(answer.body.preflightId, '', viewer), 403)
    const none = await api.operatorToken(['platform.ops.view'])
    expectProblem(await plan(answer.body.preflightId, '', none), 403)
  })

  describe('a start pinned to a preview (SPEC §11 "Pinned plan and drift")', () => {
    const start = (json: Record<string, unknown>) => api.request('POST', `/api/runbooks/${KEY}/runs`, { token: admin, json: { confirmation: KEY, ...json } })
    /** A tenant of the universe with findings the backfill would change. */
    async function tenantWithWork(exclude: number[]): Promise<number> {
      const tenants = (await api.request('GET', '/api/tenants?limit=1000', { token: admin })).body.items as Array<{ id: number }>
      for (const { id } of tenants) {
        if (id === invalidTenantId || exclude.includes(id)) continue
        const answer = await preflight({ scope: 'single_tenant', tenantId: id })
        if (answer.body.affectedCount >= 3) return id
      }
      throw new Error('no tenant with work left')
    }
    const used: number[] = []

    it('refuses 409 PLAN_DRIFTED with the tenant that changed when the data moved beyond the tolerance, appending nothing', async () => {
      const tenantId = await tenantWithWork(used)
      used.push(tenantId)
      const pinned = await preflight({ scope: 'single_tenant', tenantId })
      // A legacy finding arrives after the preview: the plan moved by one finding.
      await api.sql`
        insert into findings (id, tenant_id, fingerprint, severity, status, created_at, updated_at)
        select max(id) + 1000, ${tenantId}, 'drift-probe', 'low', 'open', now(), now() from findings`
      const now = await preflight({ scope: 'single_tenant', tenantId })
      expect(now.body.affectedCount).toBe(pinned.body.affectedCount + 1)
      const before = await api.eventCount()
      const refused = await start({ scope: 'single_tenant', tenantId, preflightId: pinned.body.preflightId, maxDriftPercent: 0 })
      expectProblem(refused, 409)
      expect(refused.body).toMatchObject({
        code: 'PLAN_DRIFTED',
        pinned: { affectedCount: pinned.body.affectedCount },
        current: { affectedCount: pinned.body.affectedCount + 1 },
        tenants: [{ tenantId, pinned: { affected: pinned.body.affectedCount }, current: { affected: pinned.body.affectedCount + 1 } }],
      })
      expect(await api.eventCount()).toBe(before)
      // Within a tolerance that covers one finding, the same pinned start is accepted and records the pin.
      const accepted = await start({ scope: 'single_tenant', tenantId, preflightId: pinned.body.preflightId, maxDriftPercent: 100 })
      expect(accepted.status, accepted.text).toBe(202)
      let run: any
      await waitUntil(async () => {
        run = (await api.request('GET', `/api/runs/${accepted.body.runId}`, { token: admin })).body
        // Verified too: its RunVerified must not land in the next test's count of appended events.
        return run.status === 'completed' && run.verification !== null
      }, 'the pinned run to complete and be verified')
      expect(run.context.preflight.preflight_id).toBe(pinned.body.preflightId)
    })

    it('refuses a tenant that would now fail, whatever the tolerance', async () => {
      const tenantId = await tenantWithWork(used)
      used.push(tenantId)
      const pinned = await preflight({ scope: 'single_tenant', tenantId })
      expect(pinned.body.wouldFailTenants).toEqual([])
      await api.sql`update findings set severity = 'urgent' where id = (select min(id) from findings where tenant_id = ${tenantId})`
      try {
        const refused = await start({ scope: 'single_tenant', tenantId, preflightId: pinned.body.preflightId, maxDriftPercent: 100 })
        expectProblem(refused, 409)
        expect(refused.body.code).toBe('PLAN_DRIFTED')
        expect(refused.body.tenants).toEqual([expect.objectContaining({ tenantId, current: expect.objectContaining({ wouldFail: 'INVALID_DATA' }) })])
      } finally {
        await api.sql`update findings set severity = 'high' where tenant_id = ${tenantId} and severity = 'urgent'`
      }
    })

    it('refuses 422 naming preflightId an unknown or expired preview, one of another runbook, scope or tenant, and a bad tolerance', async () => {
      const tenantId = await tenantWithWork(used)
      const otherTenant = await tenantWithWork([...used, tenantId])
      const before = await api.eventCount()
      const single = { scope: 'single_tenant', tenantId }
      expectProblem(await start({ ...single, preflightId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }), 422, 'preflightId')
      expectProblem(await start({ ...single, preflightId: 'nope' }), 422, 'preflightId')
      const all = await preflight({ scope: 'all_tenants' })
      expectProblem(await start({ ...single, preflightId: all.body.preflightId }), 422, 'preflightId')
      const other = await api.request('POST', '/api/runbooks/findings.sla.recalculate/preflight', { token: admin, json: single })
      expectProblem(await start({ ...single, preflightId: other.body.preflightId }), 422, 'preflightId')
      const elsewhere = await preflight({ scope: 'single_tenant', tenantId: otherTenant })
      expectProblem(await start({ ...single, preflightId: elsewhere.body.preflightId }), 422, 'preflightId')
      const slaStart = (json: Record<string, unknown>) =>
        api.request('POST', '/api/runbooks/findings.sla.recalculate/runs', { token: admin, json: { confirmation: 'findings.sla.recalculate', ...single, ...json } })
      const critical1 = await api.request('POST', '/api/runbooks/findings.sla.recalculate/preflight', { token: admin, json: { ...single, parameters: { slaDays: { critical: 1 } } } })
      expectProblem(await slaStart({ preflightId: critical1.body.preflightId, parameters: { slaDays: { critical: 2 } } }), 422, 'preflightId')
      const mine = await preflight(single)
      expectProblem(await start({ ...single, preflightId: mine.body.preflightId, maxDriftPercent: 101 }), 422, 'maxDriftPercent')
      expectProblem(await start({ ...single, preflightId: mine.body.preflightId, maxDriftPercent: -1 }), 422, 'maxDriftPercent')
      expectProblem(await start({ ...single, preflightId: mine.body.preflightId, maxDriftPercent: 'ten' }), 400)
      expectProblem(await start({ ...single, maxDriftPercent: 5 }), 422, 'maxDriftPercent')
      await api.sql`update preflight_plans set recorded_at = now() - interval '25 hours' where preflight_id = ${mine.body.preflightId}`
      expectProblem(await start({ ...single, preflightId: mine.body.preflightId }), 422, 'preflightId')
      // The five previews above are recorded (audited); none of the starts is.
      expect((await api.eventCount()) - before).toBe(5)
    })
  })
})
