import { describe, expect, it } from 'vitest'
import { createServiceMetrics } from '../../src/metrics/service-metrics.js'
import { parseScrape, sampleValue, samplesOf } from './scrape.js'

/** Sources that all fail, as when the database and the queue are down. */
function failingSources() {
  const down = () => {
    throw new Error('ECONNREFUSED')
  }
  const sql = Object.assign(down, { unsafe: down }) as never
  return {
    sql,
    store: { readAll: async () => down() } as never,
    storeInDatabase: true,
    queue: { depth: async () => down() },
  }
}

describe('the service metrics registry', () => {
  it("still serves the process's own figures when the shared sources fail, and says which failed", async () => {
    const metrics = createServiceMetrics(failingSources())
    metrics.requestAnswered({ method: 'GET', route: '/api/runs/:id', status: 200, seconds: 0.01 })
    metrics.eventsAppended({ streams: 2, events: 5 })
    const families = parseScrape(await metrics.render())
    for (const source of ['read_models', 'projection_lag', 'queue']) expect(sampleValue(families, 'ops_metrics_source_up', { source }), source).toBe(0)
    for (const name of ['ops_runs', 'ops_tenants_processed_total', 'ops_findings_updated_total', 'ops_projection_lag_events', 'ops_queue_jobs']) {
      expect(samplesOf(families, name), name).toEqual([])
    }
    expect(sampleValue(families, 'ops_http_requests_total', { method: 'GET', route: '/api/runs/:id', status: '200' })).toBe(1)
    expect(sampleValue(families, 'ops_event_store_appends_total')).toBe(2)
    expect(sampleValue(families, 'ops_event_store_appended_events_total')).toBe(5)
    expect([...families.keys()].some((name) => name.startsWith('ops_process_'))).toBe(true)
  })

  it('reports no queue source for a process without a queue to ask', async () => {
    const metrics = createServiceMetrics({ ...failingSources(), queue: null })
    const families = parseScrape(await metrics.render())
    expect(samplesOf(families, 'ops_metrics_source_up').map((s) => s.labels.source).sort()).toEqual(['projection_lag', 'read_models'])
  })
})
