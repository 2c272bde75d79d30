import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client'
import type { Sql } from '../db/database.js'
import type { JobQueue, QueueDepth } from '../queue/job-queue.js'
import type { EventStore } from '../store/event-store.js'
import { readProjectionLag, type ProjectionLag } from './projection-lag.js'
import { readModelFigures, type ReadModelFigures } from './read-model-figures.js'
import { REPAIR_DURATION_BUCKETS } from '../projections/repair-durations.js'
import { ScrapedHistogram } from './scraped-histogram.js'

/** Every family this service serves starts with it (the Grafana dashboard and the README list them). */
export const METRIC_PREFIX = 'ops_'

/**
 * Node's own figures (CPU, memory, event loop lag, GC) belong to the process, not to a service: one registry
 * per process, made once, so that a process composing several services (tests) starts one event-loop monitor
 * and one GC observer, not one per service that nobody stops.
 */
let processRegistry: Registry | null = null
function processFigures(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry, prefix: METRIC_PREFIX })
  }
  return processRegistry
}

/** Request durations: an API read takes milliseconds, a live stream minutes. */
const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/** Where the business figures come from: shared by every process of the deployment. */
export interface MetricSources {
  sql: Sql
  store: EventStore
  /** The events live in `sql`'s database (PostgreSQL/PGlite event store): the lag is counted in SQL. */
  storeInDatabase: boolean
  /** The job queue (queue-wide depth); null when this process has none to ask. */
  queue: Pick<JobQueue<unknown>, 'depth'> | null
}

/** What one scrape read; a source that failed is null (its families are left empty, `ops_metrics_source_up` 0). */
interface Scrape {
  readModels: ReadModelFigures | null
  lag: ProjectionLag | null
  queue: QueueDepth | null
}

export interface ServiceMetrics {
  readonly contentType: string
  /** Process-local: one HTTP request answered, labelled by its route pattern (never the raw path). */
  requestAnswered(request: { method: string; route: string; status: number; seconds: number }): void
  /** Process-local: an append this process made to the event store. */
  eventsAppended(appended: { streams: number; events: number }): void
  /** The Prometheus text of a scrape: the business figures read now, the process's own counters. */
  render(): Promise<string>
}

/**
 * One registry per service (not prom-client's global one: tests run several services in one process).
 * Business families are gauges/counters whose `collect()` sets them from a scrape's reads, made once per
 * scrape for all of them; process-local families (HTTP, appends) count in this service, Node's own figures
 * come from the process's registry (`processFigures`).
 */
export function createServiceMetrics(sources: MetricSources): ServiceMetrics {
  const registry = new Registry()

  let scrape: Promise<Scrape> = Promise.resolve({ readModels: null, lag: null, queue: null })
  const current = () => scrape

  const settled = async <T>(read: () => Promise<T>): Promise<T | null> => {
    try {
      return await read()
    } catch {
      return null
    }
  }
  const readScrape = async (): Promise<Scrape> => {
    const [readModels, lag, queue] = await Promise.all([
      settled(() => readModelFigures(sources.sql)),
      settled(() => readProjectionLag(sources)),
      sources.queue?.depth ? settled(() => sources.queue!.depth!()) : Promise.resolve(null),
    ])
    return { readModels, lag, queue }
  }

  new Gauge({
    name: `${METRIC_PREFIX}metrics_source_up`,
    help: 'Whether a source of the business figures answered this scrape (1) or not (0): read_models, projection_lag, queue.',
    labelNames: ['source'],
    registers: [registry],
    async collect() {
      const read = await current()
      this.reset()
      this.set({ source: 'read_models' }, read.readModels ? 1 : 0)
      this.set({ source: 'projection_lag' }, read.lag ? 1 : 0)
      if (sources.queue?.depth) this.set({ source: 'queue' }, read.queue ? 1 : 0)
    },
  })

  new Gauge({
    name: `${METRIC_PREFIX}runs`,
    help: 'Runs by runbook, status and outcome (from the read model).',
    labelNames: ['runbook', 'status', 'outcome'],
    registers: [registry],
    async collect() {
      const figures = (await current()).readModels
      this.reset()
      for (const row of figures?.runs ?? []) this.set({ runbook: row.runbook, status: row.status, outcome: row.outcome }, row.runs)
    },
  })

  new Counter({
    name: `${METRIC_PREFIX}tenants_processed_total`,
    help: 'Tenants processed by runs, by runbook and result (succeeded, failed, cancelled), over every run.',
    labelNames: ['runbook', 'result'],
    registers: [registry],
    async collect() {
      const figures = (await current()).readModels
      this.reset()
      for (const row of figures?.tenants ?? []) {
        this.inc({ runbook: row.runbook, result: 'succeeded' }, row.succeeded)
        this.inc({ runbook: row.runbook, result: 'failed' }, row.failed)
        this.inc({ runbook: row.runbook, result: 'cancelled' }, row.cancelled)
      }
    },
  })

  new Gauge({
    name: `${METRIC_PREFIX}tenants_pending`,
    help: 'Targeted tenants of runs not yet completed that have no result yet, by runbook.',
    labelNames: ['runbook'],
    registers: [registry],
    async collect() {
      const figures = (await current()).readModels
      this.reset()
      for (const row of figures?.tenants ?? []) this.set({ runbook: row.runbook }, row.pending)
    },
  })

  new Counter({
    name: `${METRIC_PREFIX}findings_updated_total`,
    help: "Findings updated by runs (the runs' summaryCounts.updated), by runbook, over every run.",
    labelNames: ['runbook'],
    registers: [registry],
    async collect() {
      const figures = (await current()).readModels
      this.reset()
      for (const row of figures?.tenants ?? []) this.inc({ runbook: row.runbook }, row.updated)
    },
  })

  registry.registerMetric(
    new ScrapedHistogram(
      `${METRIC_PREFIX}tenant_repair_duration_seconds`,
      "How long tenant repairs took (each tenant's started to completed time in its run), over every run.",
      REPAIR_DURATION_BUCKETS,
      async () => (await current()).readModels?.repairDurations ?? null,
    ) as unknown as Metric,
  )

  new Gauge({
    name: `${METRIC_PREFIX}projection_lag_events`,
    help: "Events in the event store the read-model projection has not applied yet (behind the store's head).",
    labelNames: ['projection'],
    registers: [registry],
    async collect() {
      const lag = (await current()).lag
      this.reset()
      if (lag) this.set({ projection: lag.projection }, lag.events)
    },
  })

  new Gauge({
    name: `${METRIC_PREFIX}projection_lag_seconds`,
    help: 'How long the oldest event the read-model projection has not applied yet has waited (0 when caught up).',
    labelNames: ['projection'],
    registers: [registry],
    async collect() {
      const lag = (await current()).lag
      this.reset()
      if (lag) this.set({ projection: lag.projection }, lag.seconds)
    },
  })

  new Gauge({
    name: `${METRIC_PREFIX}queue_jobs`,
    help: 'Tenant jobs in the job queue, queue-wide: waiting for a worker, or in flight (handed out, not yet acknowledged).',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const depth = (await current()).queue
      this.reset()
      if (depth) {
        this.set({ state: 'waiting' }, depth.waiting)
        this.set({ state: 'in_flight' }, depth.inFlight)
      }
    },
  })

  const httpRequests = new Counter({
    name: `${METRIC_PREFIX}http_requests_total`,
    help: 'HTTP requests this process answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  })
  const httpDurations = new Histogram({
    name: `${METRIC_PREFIX}http_request_duration_seconds`,
    help: 'How long this process took to answer HTTP requests (to the answer, not the end of a stream), by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'],
    buckets: HTTP_DURATION_BUCKETS,
    registers: [registry],
  })
  const appends = new Counter({
    name: `${METRIC_PREFIX}event_store_appends_total`,
    help: 'Appends this process made to the event store (one per stream written).',
    registers: [registry],
  })
  const appendedEvents = new Counter({
    name: `${METRIC_PREFIX}event_store_appended_events_total`,
    help: 'Events this process appended to the event store.',
    registers: [registry],
  })

  const served = Registry.merge([processFigures(), registry])
  return {
    contentType: served.contentType,
    requestAnswered({ method, route, status, seconds }) {
      const labels = { method, route, status: String(status) }
      httpRequests.inc(labels)
      httpDurations.observe(labels, seconds)
    },
    eventsAppended({ streams, events }) {
      appends.inc(streams)
      appendedEvents.inc(events)
    },
    async render() {
      scrape = readScrape()
      await scrape
      return served.metrics()
    },
  }
}
