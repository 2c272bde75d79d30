import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { serviceFlavours, type TestService } from '../support/service.js'
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
    expect(items.reduce((sum, t) => sum + t.affected, 0)).toBe(answer.body.affectedCount)
    expect(items.reduce((sum, t) => sum + t.total, 0)).toBe(answer.body.totalCount)
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
})
