import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceFlavours, testAdmin, type TestService } from '../support/service.js'
import { consoleLogin, consoleRequest } from './console/console-client.js'
import { runsPath } from './problem-assertions.js'
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../../src/http/dependency-unavailable.js'

/**
 * SPEC §7: a run the service accepted is never "unknown". With the projector stopped (or far behind), the
 * run's read model row never comes; past the bounded read-your-writes wait, `GET /api/runs/{id}` answers the
 * run from its own stream (as `/state` does), and its tenants' page, past the same wait, says it is not readable yet (503).
 */
describe('reading a run while the projector does not project it', () => {
  let api: TestService
  let token: string
  let tenantId: number

  beforeAll(async () => {
    api = await serviceFlavours()[0]!.start()
    token = await api.token()
    tenantId = (await api.request('GET', '/api/tenants', { token })).body.items[0].id
    await api.service.projector!.stop()
  })
  afterAll(async () => {
    await api?.close()
  })

  it('answers GET /api/runs/{id} from the run stream, and its tenants 503 with Retry-After; an unknown run stays 404', async () => {
    const started = await api.request('POST', runsPath, {
      token,
      json: { scope: 'single_tenant', tenantId, confirmation: 'findings.lifecycle.backfill' },
    })
    expect(started.status, started.text).toBe(202)
    const runId = started.body.runId as string
    const read = await api.request('GET', `/api/runs/${runId}`, { token })
    expect(read.status, read.text).toBe(200)
    expect(read.body).toMatchObject({ id: runId, type: 'findings.lifecycle.backfill', context: { target_tenant_id: tenantId } })
    // The workers go on without the projector: the stream's run moves on, and the read follows it.
    expect(['queued', 'running', 'completed']).toContain(read.body.status)
    const tenants = await api.request('GET', `/api/runs/${runId}/tenants`, { token })
    expect(tenants.status).toBe(503)
    expect(tenants.headers.get('retry-after')).toBe(String(UNAVAILABLE_RETRY_AFTER_SECONDS))
    expect(tenants.body).toMatchObject({ status: 503, retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS })
    expect(tenants.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    // The console's run page alike.
    const session = await consoleLogin(api, testAdmin)
    const page = await consoleRequest(api, 'GET', `/system/ops/runs/${runId}`, { cookies: session.cookies })
    expect(page.status).toBe(200)
    expect(page.text).toContain(`<code>${runId}</code>`)
    expect((await api.request('GET', '/api/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV', { token })).status).toBe(404)
    expect((await api.request('GET', '/api/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/tenants', { token })).status).toBe(404)
  }, 30_000)
})
