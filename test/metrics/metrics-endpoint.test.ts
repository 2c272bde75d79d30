import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServiceMetrics } from '../../src/metrics/service-metrics.js'
import { getRun } from '../../src/projections/queries.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { histogramOf, parseScrape, sampleValue, samplesOf } from './scrape.js'

const runbookKey = 'findings.lifecycle.backfill'

/**
 * SPEC §12 "Metrics": /metrics after a real run, parsed as Prometheus text, tells what the run resource says.
 * The service listens on 127.0.0.1, so the scrape is a loopback client's (no METRICS_TOKEN set).
 */
describe.each(serviceFlavours())('GET /metrics after a run: $name', (flavour) => {
  let api: TestService
  let token: string
  let runId: string
  let run: any

  const scrape = async () => {
    const response = await fetch(`${api.baseUrl}/metrics`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    return parseScrape(await response.text())
  }

  beforeAll(async () => {
    api = await flavour.start()
    token = await api.token()
    const started = await api.request('POST', `/api/runbooks/${runbookKey}/runs`, {
      token,
      json: { scope: 'all_tenants', confirmation: runbookKey, reason: { code: 'DATA_REPAIR', text: 'metrics after a real run' } },
    })
    expect(started.status, started.text).toBe(202)
    runId = started.body.runId
    await waitUntil(async () => runIsSettled((await getRun(api.sql, runId)) ?? undefined), `run ${runId} settled`)
    const resource = await api.request('GET', `/api/runs/${runId}`, { token })
    expect(resource.status).toBe(200)
    run = resource.body
  })

  afterAll(async () => {
    await api?.close()
  })

  it('counts the run by status and outcome, its tenants by result and the findings it updated, as the run resource says', async () => {
    const families = await scrape()
    expect(run.summaryCounts.updated).toBeGreaterThan(0)
    expect(sampleValue(families, 'ops_runs', { runbook: runbookKey, status: 'completed', outcome: run.outcome })).toBe(1)
    expect(samplesOf(families, 'ops_runs').reduce((sum, s) => sum + s.value, 0)).toBe(1)
    for (const result of ['succeeded', 'failed', 'cancelled'] as const) {
      expect(sampleValue(families, 'ops_tenants_processed_total', { runbook: runbookKey, result }), result).toBe(run.tenantCounts[result])
    }
    expect(sampleValue(families, 'ops_tenants_pending', { runbook: runbookKey })).toBe(0)
    expect(sampleValue(families, 'ops_findings_updated_total', { runbook: runbookKey })).toBe(run.summaryCounts.updated)
    expect(families.get('ops_tenants_processed_total')?.type).toBe('COUNTER')
    expect(families.get('ops_runs')?.type).toBe('GAUGE')
  })

  it("has one repair duration per tenant repaired (a failed one's repair rolled back), as the run's tenants list them", async () => {
    const tenants = await api.request('GET', `/api/runs/${runId}/tenants?limit=200`, { token })
    expect(tenants.status).toBe(200)
    expect(tenants.body.nextCursor).toBeNull()
    const items = tenants.body.items as Array<{ status: string; startedAt: string | null; completedAt: string | null }>
    expect(items.some((t) => t.status === 'failed' && t.startedAt)).toBe(true)
    const ran = items.filter((t) => t.status === 'succeeded' && t.startedAt && t.completedAt)
    expect(ran.length).toBeGreaterThan(0)
    const histogram = histogramOf(await scrape(), 'ops_tenant_repair_duration_seconds')
    expect(histogram).toBeDefined()
    expect(histogram!.count).toBe(ran.length)
    expect(histogram!.buckets['+Inf']).toBe(ran.length)
    // Each bucket and the sum, as the run's tenants list their times (the projection keeps them per run).
    const seconds = ran.map((t) => (Date.parse(t.completedAt!) - Date.parse(t.startedAt!)) / 1000)
    const bounds = Object.keys(histogram!.buckets).filter((le) => le !== '+Inf').map(Number).sort((a, b) => a - b)
    expect(bounds).toHaveLength(14)
    for (const bound of bounds) expect(histogram!.buckets[String(bound)], `le ${bound}`).toBe(seconds.filter((s) => s <= bound).length)
    expect(histogram!.sum).toBeCloseTo(seconds.reduce((sum, s) => sum + s, 0), 6)
  })

  it('shows the projection caught up with the event store and the queue drained once the service is idle', async () => {
    await waitUntil(async () => {
      const families = await scrape()
      return (
        sampleValue(families, 'ops_projection_lag_events', { projection: 'read-models' }) === 0 &&
        sampleValue(families, 'ops_projection_lag_seconds', { projection: 'read-models' }) === 0 &&
        sampleValue(families, 'ops_queue_jobs', { state: 'waiting' }) === 0 &&
        sampleValue(families, 'ops_queue_jobs', { state: 'in_flight' }) === 0
      )
    }, 'lag 0 and no jobs left')
    const families = await scrape()
    for (const source of ['read_models', 'projection_lag', 'queue']) expect(sampleValue(families, 'ops_metrics_source_up', { source }), source).toBe(1)
  })

  it('counts the lag of events the projection has not applied', async () => {
    await api.service.projector!.stop()
    try {
      await api.operatorToken(['platform.runbooks.view']) // an operator made and logged in: events the stopped projector leaves
      const families = await scrape()
      expect(sampleValue(families, 'ops_projection_lag_events', { projection: 'read-models' })).toBeGreaterThan(0)
      expect(sampleValue(families, 'ops_projection_lag_seconds', { projection: 'read-models' })).toBeGreaterThanOrEqual(0)
    } finally {
      api.service.projector!.start()
    }
  })

  it('counts HTTP requests by route pattern, never by the path asked', async () => {
    expect((await api.request('GET', `/api/runs/${runId}`, { token })).status).toBe(200)
    expect((await api.request('GET', `/api/no-such-thing/${runId}`, { token })).status).toBe(404)
    expect((await api.request('PUT', `/api/runs/${runId}`, { token, json: {} })).status).toBe(405)
    const families = await scrape()
    expect(sampleValue(families, 'ops_http_requests_total', { method: 'GET', route: '/api/runs/:id', status: '200' })).toBeGreaterThanOrEqual(2)
    expect(sampleValue(families, 'ops_http_requests_total', { method: 'POST', route: '/api/runbooks/:key/runs', status: '202' })).toBe(1)
    const routes = samplesOf(families, 'ops_http_requests_total').map((s) => s.labels.route!)
    expect(routes.filter((route) => route.includes(runId))).toEqual([])
    expect(routes).toContain('(unmatched)')
    // A method the path is not served with: no route answered it either (never a middleware's `/api/runs/*`).
    expect(sampleValue(families, 'ops_http_requests_total', { method: 'PUT', route: '(unmatched)', status: '405' })).toBe(1)
    expect(routes.filter((route) => route.endsWith('*'))).toEqual([])
    expect(families.get('ops_http_request_duration_seconds')?.type).toBe('HISTOGRAM')
  })

  it("counts this process's event store appends", async () => {
    const families = await scrape()
    const appended = sampleValue(families, 'ops_event_store_appended_events_total')
    expect(appended).toBeGreaterThan(0)
    expect(appended).toBeLessThanOrEqual(await api.eventCount())
    expect(sampleValue(families, 'ops_event_store_appends_total')).toBeGreaterThan(0)
  })

  it('tells the same business figures from another process over the same database (a worker or projector role)', async () => {
    const other = createServiceMetrics({ sql: api.sql, store: api.service.store, storeInDatabase: true, queue: api.service.queue })
    const elsewhere = parseScrape(await other.render())
    const here = await scrape()
    for (const name of ['ops_runs', 'ops_tenants_processed_total', 'ops_findings_updated_total']) {
      expect(samplesOf(elsewhere, name), name).toEqual(samplesOf(here, name))
    }
    expect(histogramOf(elsewhere, 'ops_tenant_repair_duration_seconds')).toEqual(histogramOf(here, 'ops_tenant_repair_duration_seconds'))
    expect(samplesOf(elsewhere, 'ops_http_requests_total')).toEqual([])
  })
})
