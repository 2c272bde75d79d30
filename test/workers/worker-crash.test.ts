import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { connect, type NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { JobConsumer, TenantJob } from '../../src/queue/job-queue.js'
import { NatsJobQueue, type NatsJobQueueOptions } from '../../src/queue/nats-job-queue.js'
import { createDispatcher } from '../../src/workers/dispatcher.js'
import { TenantWorker } from '../../src/workers/tenant-worker.js'
import { readFindings } from '../runbooks/findings-fixture.js'
import { freshPostgresDatabase, TEST_NATS_URL, TEST_POSTGRES_URL } from '../support/databases.js'
import {
  countingRunbook,
  dispatchRuns,
  openWorkBed,
  preflightOf,
  startAllTenantsRun,
  tenantJobResults,
  tenantProcessedEvents,
  tenants,
  universe,
  waitFor,
  waitForRunCompleted,
  type WorkBed,
} from './work-path-bed.js'

/** Parses the child's stdout as JSON lines, collecting them as they arrive. */
function childLines(child: ChildProcess): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = []
  let buffered = ''
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline).trim()
      buffered = buffered.slice(newline + 1)
      if (line) lines.push(JSON.parse(line) as Record<string, unknown>)
    }
  })
  return lines
}

describe.runIf(TEST_POSTGRES_URL && TEST_NATS_URL)('a worker process killed mid-job (PostgreSQL + NATS JetStream)', () => {
  let admin: NatsConnection
  const streams: string[] = []

  beforeAll(async () => {
    admin = await connect({ servers: TEST_NATS_URL })
  })

  afterAll(async () => {
    const jsm = await admin.jetstreamManager()
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => false)
    await admin.close()
  })

  it('leaves no trace of its uncommitted repair; the redelivery repairs the tenant once and counts it once', async () => {
    const id = randomUUID().replaceAll('-', '').slice(0, 16)
    const nats: NatsJobQueueOptions = {
      url: TEST_NATS_URL,
      stream: `TEST_WORK_${id}`,
      subject: `test.work.${id}`,
      durable: 'test-tenant-workers',
      ackWaitMs: 2_000,
      pullExpiresMs: 1_000,
    }
    streams.push(nats.stream!)
    const bed: WorkBed = await openWorkBed(freshPostgresDatabase)
    const queue = await NatsJobQueue.connect<TenantJob>(nats)
    let child: ChildProcess | undefined
    let consumer: JobConsumer | undefined
    try {
      const preflight = await preflightOf(bed.sql, universe)
      const mixedBefore = await readFindings(bed.sql, tenants.mixed)
      const runId = await startAllTenantsRun(bed)
      const deps = { sql: bed.sql, log: bed.log, queue, logger: bed.logger }
      await dispatchRuns(createDispatcher(deps), bed.log, [runId])

      const fixture = fileURLToPath(new URL('./fixtures/worker-dies-mid-repair.ts', import.meta.url))
      child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify({ databaseUrl: bed.db.url, nats })], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()))
      const lines = childLines(child)
      await waitFor(() => lines.some((line) => 'holdingRepair' in line), 30_000, 'the child to hold a repair')
      // Jobs are published in tenant order, so the child holds the first: the tenant with most to repair.
      const holding = lines.find((line) => 'holdingRepair' in line)!
      expect(holding).toEqual({ holdingRepair: tenants.mixed, repaired: { total: 4, updated: 3 } })
      child.kill('SIGKILL')
      await exited

      const runbook = countingRunbook()
      consumer = await new TenantWorker(
        { ...deps, catalog: { find: (key: string) => (key === runbook.key ? runbook : undefined) } },
        { retryDelayMs: 50 },
      ).start(2)
      const completed = await waitForRunCompleted(bed.log, runId, 30_000)

      const processed = await tenantProcessedEvents(bed.log, runId)
      expect(processed.map((p) => p.tenantId).sort((a, b) => a - b)).toEqual(universe)
      const mixed = processed.find((p) => p.tenantId === tenants.mixed)!
      expect(mixed.attempt).toBeGreaterThanOrEqual(2)
      expect(mixed.result).toEqual({ status: 'succeeded', total: 4, updated: preflight.get(tenants.mixed)!.affected })
      expect(completed.summaryCounts).toEqual({ total: 6, processed: 6, updated: 3, skipped: 3, failed: 1, tenants: 3 })
      expect(runbook.executions.filter((t) => t === tenants.mixed)).toEqual([tenants.mixed])
      const mixedRow = (await tenantJobResults(bed.sql, runId)).find((r) => Number(r.tenant_id) === tenants.mixed)
      expect(mixedRow).toMatchObject({ status: 'succeeded', updated: 3, attempt: mixed.attempt })

      // Repaired by one transaction: the changed findings share its now(), the untouched one keeps its time.
      const mixedAfter = await readFindings(bed.sql, tenants.mixed)
      const changed = mixedAfter.filter((row, i) => row.updatedAt !== mixedBefore[i]!.updatedAt)
      expect(changed.map((row) => row.id)).toEqual([101, 102, 103])
      expect(new Set(changed.map((row) => row.updatedAt)).size).toBe(1)
      expect(mixedAfter.find((row) => row.id === 102)).toMatchObject({ status: 'resolved', resolvedReason: 'duplicate', duplicateOfId: 103 })
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await consumer?.stop()
      await queue.close()
      await bed.close()
    }
  })
})
