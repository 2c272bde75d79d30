import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../../src/db/demo-seed.js'
import { serviceFlavours, type TestService } from '../../support/service.js'
import { consoleLogin, consoleRequest, createConsoleOperator, type ConsoleResponse, type ConsoleSession } from './console-client.js'

/**
 * SPEC §11 "Per-tenant plan" in the console: the runbooks page's script pages a preview's plan through
 * GET /system/ops/preflights/:preflightId/tenants, which answers as GET /api/preflights/{preflightId}/tenants
 * does (runbooks.view, then 404 for an unknown, malformed or expired preview, then the capability of the
 * preview's runbook), with problem JSON and never cached.
 */

const runbookKey = 'findings.lifecycle.backfill'
const runbookCapability = 'platform.runbooks.findings.lifecycle_backfill'
const runbooksView = 'platform.runbooks.view'

describe.each(serviceFlavours())('console per-tenant preflight plans: $name', (flavour) => {
  let service: TestService
  let admin: ConsoleSession
  let invalidTenantId: number

  beforeAll(async () => {
    service = await flavour.start()
    admin = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view', runbooksView, runbookCapability]))
    const tenants = (await service.request('GET', '/api/tenants?limit=1000', { token: await service.token() })).body.items as Array<{ id: number; name: string }>
    invalidTenantId = tenants.find((tenant) => tenant.name === DEMO_INVALID_TENANT_NAME)!.id
  })

  afterAll(async () => {
    await service?.close()
  })

  /** A preview as the page's script records it: the console's own preflight route. */
  async function consolePreflight(json: object): Promise<{ preflightId: string; estimatedTenants: number; affectedCount: number; totalCount: number; wouldFailTenants: number[] }> {
    const response = await consoleRequest(service, 'POST', `/system/ops/runbooks/${runbookKey}/preflight`, {
      cookies: admin.cookies,
      json,
      headers: { accept: 'application/json', 'x-csrf-token': admin.csrf },
    })
    expect(response.status, response.text).toBe(200)
    return JSON.parse(response.text)
  }

  const plan = (preflightId: string, query = '', session: ConsoleSession = admin) =>
    consoleRequest(service, 'GET', `/system/ops/preflights/${preflightId}/tenants${query}`, { cookies: session.cookies, headers: { accept: 'application/json' } })

  function expectProblem(response: ConsoleResponse, status: number) {
    const what = `${response.status} ${response.text.slice(0, 300)}`
    expect(response.status, what).toBe(status)
    expect(response.headers.get('content-type'), what).toMatch(/^application\/problem\+json/)
    expect(JSON.parse(response.text), what).toMatchObject({ status, detail: expect.any(String) })
    expect(response.headers.get('cache-control'), what).toBe('no-store')
  }

  it('pages the plan of a preview, the tenant that would fail first, as the API does', async () => {
    const preview = await consolePreflight({ scope: 'all_tenants' })
    expect(preview.wouldFailTenants).toEqual([invalidTenantId])
    const items: Array<{ tenantId: number; tenantName: string | null; affected: number; total: number; wouldFail: string | null; message: string | null }> = []
    let cursor: string | null = null
    let pages = 0
    do {
      const query: string = `?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
      const response = await plan(preview.preflightId, query)
      expect(response.status, response.text).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^application\/json/)
      expect(response.headers.get('cache-control')).toBe('no-store')
      const body = JSON.parse(response.text)
      const api = await service.request('GET', `/api/preflights/${preview.preflightId}/tenants${query}`, { token: await service.token() })
      expect(body).toEqual(api.body)
      items.push(...body.items)
      cursor = body.nextCursor
      pages++
    } while (cursor)
    expect(pages).toBe(Math.ceil(preview.estimatedTenants / 10))
    expect(items).toHaveLength(preview.estimatedTenants)
    expect(items[0]).toMatchObject({ tenantId: invalidTenantId, tenantName: DEMO_INVALID_TENANT_NAME, wouldFail: 'INVALID_DATA', message: expect.any(String) })
    expect(items.slice(1).every((item) => item.wouldFail === null)).toBe(true)
    // The answer's sums are over the tenants that would succeed (SPEC §2); the rows show every tenant's own.
    expect(items.filter((item) => item.wouldFail === null).reduce((sum, item) => sum + item.affected, 0)).toBe(preview.affectedCount)
    expect(items.filter((item) => item.wouldFail === null).reduce((sum, item) => sum + item.total, 0)).toBe(preview.totalCount)
    // Default page size: the API's (50), so the demo's plan is one page.
    const whole = JSON.parse((await plan(preview.preflightId)).text)
    expect(whole.items).toHaveLength(preview.estimatedTenants)
    expect(whole.nextCursor).toBeNull()
  })

  it('answers 404 for an unknown, malformed or expired preview, and 400 for a cursor or limit it does not take', async () => {
    expectProblem(await plan('01ARZ3NDEKTSV4RRFFQ69G5FAV'), 404)
    expectProblem(await plan('not-a-preview'), 404)
    expectProblem(await plan('01arz3ndektsv4rrffq69g5fav'), 404)
    const preview = await consolePreflight({ scope: 'single_tenant', tenantId: invalidTenantId })
    expect((await plan(preview.preflightId)).status).toBe(200)
    expectProblem(await plan(preview.preflightId, '?cursor=zzz'), 400)
    expectProblem(await plan(preview.preflightId, '?limit=0'), 400)
    expectProblem(await plan(preview.preflightId, '?limit=201'), 400)
    await service.sql`update preflight_plans set recorded_at = now() - interval '25 hours' where preflight_id = ${preview.preflightId}`
    expectProblem(await plan(preview.preflightId), 404)
  })

  it("shows a plan only to operators who may preview its runbook: 403 without the runbook's capability or runbooks.view", async () => {
    const preview = await consolePreflight({ scope: 'single_tenant', tenantId: invalidTenantId })
    const viewOnly = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view', runbooksView]))
    const refused = await plan(preview.preflightId, '', viewOnly)
    expectProblem(refused, 403)
    expect(JSON.parse(refused.text).missingCapabilities).toEqual([runbookCapability])
    expect(refused.text).not.toContain(DEMO_INVALID_TENANT_NAME)
    // An unknown preview is 404 before the runbook's capability is asked for, as in the API.
    expectProblem(await plan('01ARZ3NDEKTSV4RRFFQ69G5FAV', '', viewOnly), 404)

    const noView = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view', runbookCapability]))
    const refusedToo = await plan(preview.preflightId, '', noView)
    expect(refusedToo.status).toBe(403)
    expect(JSON.parse(refusedToo.text).missingCapabilities).toEqual([runbooksView])
    expect(refusedToo.text).not.toContain(DEMO_INVALID_TENANT_NAME)

    const none = await consoleRequest(service, 'GET', `/system/ops/preflights/${preview.preflightId}/tenants`, { headers: { accept: 'application/json' } })
    expect(none.status).toBe(401)
  })
})
