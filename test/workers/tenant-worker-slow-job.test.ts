import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { JobDelivery, TenantJob } from '../../src/queue/job-queue.js'
import { TenantWorker, type TenantWorkerDeps } from '../../src/workers/tenant-worker.js'

/**
 * A job's heartbeat keeps it from being delivered again for as long as its handler runs, so a handler that
 * never ends would hold its job silently: the worker says which step such a job is at.
 */
describe('a tenant job that does not end', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  function stalledWorker(lines: Array<Record<string, unknown>>) {
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
    // Units only: a database whose transaction never answers (what a driver that lost a reply looks like).
    const deps = {
      sql: { reserve: () => new Promise(() => {}) },
      log: { store: {} },
      queue: {},
      catalog: { find: () => ({ key: 'stalled.runbook' }) },
      logger,
    } as unknown as TenantWorkerDeps
    return new TenantWorker(deps, { heartbeatMs: 1_000, slowJobLogMs: 5_000 })
  }

  function delivery(heartbeats: { count: number }): JobDelivery<TenantJob> {
    return {
      job: { runId: 'run-1', runbookKey: 'stalled.runbook', tenantIds: [7], generation: 1 },
      deliveryCount: 1,
      ack: async () => {},
      retryLater: async () => {},
      working: async () => void heartbeats.count++,
    }
  }

  it('keeps its heartbeat and logs the step it is at once per slowJobLogMs, with the run and tenant', async () => {
    const lines: Array<Record<string, unknown>> = []
    const heartbeats = { count: 0 }
    void stalledWorker(lines).handle(delivery(heartbeats))

    await vi.advanceTimersByTimeAsync(4_000)
    expect(lines.filter((line) => line.msg === 'tenant job still under way')).toEqual([])

    await vi.advanceTimersByTimeAsync(7_000)
    const slow = lines.filter((line) => line.msg === 'tenant job still under way')
    expect(slow.map(({ runId, tenantId, step, runningMs }) => ({ runId, tenantId, step, runningMs }))).toEqual([
      { runId: 'run-1', tenantId: 7, step: 'repair', runningMs: 5_000 },
      { runId: 'run-1', tenantId: 7, step: 'repair', runningMs: 10_000 },
    ])
    expect(heartbeats.count).toBe(11)
  })
})
