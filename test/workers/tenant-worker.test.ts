import { z } from 'zod'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import type { JobConsumer, TenantJob } from '../../src/queue/job-queue.js'
import { findingsLifecycleBackfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import { RunbookDataError, type Runbook } from '../../src/runbooks/runbook.js'
import { countFailedAttempt } from '../../src/db/tenant-results.js'
import { EventLog } from '../../src/store/event-log.js'
import type { EventStore } from '../../src/store/event-store.js'
import { createDispatcher } from '../../src/workers/dispatcher.js'
import { TenantWorker, type TenantWorkerOptions } from '../../src/workers/tenant-worker.js'
import { readFindings } from '../runbooks/findings-fixture.js'
import { databaseFlavours } from '../support/databases.js'
import {
  countingRunbook,
  dispatchRuns,
  fakeDelivery,
  jobFor,
  LosingJobQueue,
  openWorkBed,
  runCompletedEvents,
  startSingleTenantRun,
  tenantJobResults,
  tenantProcessedEvents,
  tenants,
  waitForRunCompleted,
  type WorkBed,
} from './work-path-bed.js'

/** The event store, except that the first append fails as if the worker's process died right before it. */
function appendFailsOnce(store: EventStore): EventStore & { failures: number } {
  let failures = 0
  return {
    get failures() {
      return failures
    },
    append: (streamId, events, options) => {
      if (failures === 0) {
        failures++
        return Promise.reject(new Error('the worker died before recording'))
      }
      return store.append(streamId, events, options)
    },
    appendMany: (appends) => store.appendMany(appends),
    atomicMultiStreamAppend: store.atomicMultiStreamAppend,
    readStream: (streamId, options) => store.readStream(streamId, options),
    readAll: (options) => store.readAll(options),
    onAppended: (listener) => store.onAppended(listener),
    close: () => store.close(),
  }
}

/** Tenant 10 ("mixed"): 4 findings, 3 of which the repair updates. */
const mixedRepair = { status: 'succeeded', total: 4, updated: 3 } as const

describe.each(databaseFlavours())('the tenant worker on $name', ({ open }) => {
  let bed: WorkBed
  let queue: InProcessJobQueue<TenantJob>
  let consumer: JobConsumer | undefined

  beforeEach(async () => {
    bed = await openWorkBed(open)
    queue = new InProcessJobQueue<TenantJob>()
    consumer = undefined
  })

  afterEach(async () => {
    await consumer?.stop()
    await queue.close()
    await bed.close()
  })

  /** Starts a single-tenant run and lets the dispatcher mark it running; its job goes nowhere. */
  async function runningSingleTenantRun(tenantId: number): Promise<string> {
    const runId = await startSingleTenantRun(bed, tenantId)
    const lost = new LosingJobQueue()
    await dispatchRuns(createDispatcher({ sql: bed.sql, log: bed.log, queue: lost, logger: bed.logger }), bed.log, [runId])
    expect(lost.lost.map((l) => l.job)).toEqual([{ ...jobFor(runId, tenantId), causationId: expect.any(String) }])
    return runId
  }

  function workerWith(runbook: Runbook, options: Partial<TenantWorkerOptions> = {}, log: EventLog = bed.log): TenantWorker {
    return new TenantWorker(
      {
        sql: bed.sql,
        log,
        // The store under `log` may be a wrapper of the bed's: reads inside the repair go to the bed's own.
        logIn: (tx) => new EventLog(bed.store.readingIn(tx)),
        queue,
        logger: bed.logger,
        catalog: { find: (key: string) => (key === runbook.key ? runbook : undefined) },
      },
      { retryDelayMs: 5, ...options },
    )
  }

  it('a run whose parameters this release’s runbook no longer accepts fails the tenant for good (INVALID_DATA), repairing nothing', async () => {
    const runId = await runningSingleTenantRun(tenants.mixed)
    const before = await readFindings(bed.sql, tenants.mixed)
    // The run was started with `{}`; this worker's version of the runbook requires a parameter.
    const stricter: Runbook = { ...findingsLifecycleBackfill, parameters: z.strictObject({ mode: z.enum(['strict']) }) }
    const delivery = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    await workerWith(stricter).handle(delivery.delivery)
    expect(delivery.settled).toEqual([{ kind: 'ack' }])
    const [processed] = await tenantProcessedEvents(bed.log, runId)
    expect(processed!.result).toMatchObject({ status: 'failed', reasonCode: 'INVALID_DATA' })
    expect(await readFindings(bed.sql, tenants.mixed)).toEqual(before)
  })

  it('a tenant that fails for good is timed from its repair transaction to the stored failure', async () => {
    const runId = await runningSingleTenantRun(tenants.mixed)
    // The repair takes 50 ms before the data refuses it: its start is when it took its slot, not when the failure was stored.
    const slowToFail: Runbook = {
      ...findingsLifecycleBackfill,
      executeTenant: async (tx) => {
        await tx`select pg_sleep(0.05)`
        throw new RunbookDataError('finding 1 cannot be repaired')
      },
    }
    const delivery = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    await workerWith(slowToFail).handle(delivery.delivery)
    expect(delivery.settled).toEqual([{ kind: 'ack' }])
    const [processed] = await tenantProcessedEvents(bed.log, runId)
    expect(processed!.result).toMatchObject({ status: 'failed', reasonCode: 'INVALID_DATA' })
    expect(Date.parse(processed!.completedAt!) - Date.parse(processed!.startedAt!)).toBeGreaterThanOrEqual(50)
  })

  it('a job delivered twice at once counts the tenant once and repairs it once', async () => {
    const runId = await runningSingleTenantRun(tenants.mixed)
    const runbook = countingRunbook()
    const worker = workerWith(runbook)

    const first = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    const second = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    await Promise.all([worker.handle(first.delivery), worker.handle(second.delivery)])
    const repaired = await readFindings(bed.sql, tenants.mixed)
    // A third, late delivery (e.g. a re-dispatch) after everything was recorded.
    const late = fakeDelivery(jobFor(runId, tenants.mixed, 1), 3)
    await worker.handle(late.delivery)

    expect(runbook.executions).toEqual([tenants.mixed])
    for (const { settled } of [first, second, late]) expect(settled).toEqual([{ kind: 'ack' }])
    expect(await readFindings(bed.sql, tenants.mixed)).toEqual(repaired)
    const processed = await tenantProcessedEvents(bed.log, runId)
    expect(processed).toHaveLength(1)
    expect(processed[0]!.result).toEqual(mixedRepair)
    const completed = await runCompletedEvents(bed.log, runId)
    expect(completed).toHaveLength(1)
    expect(completed[0]!.summaryCounts).toEqual({ total: 4, processed: 4, updated: 3, skipped: 1, failed: 0 })
    expect(await tenantJobResults(bed.sql, runId)).toHaveLength(1)
  })

  it('a job published twice under two dedupe ids counts the tenant once and repairs it once', async () => {
    const runId = await runningSingleTenantRun(tenants.mixed)
    const runbook = countingRunbook()
    const before = await readFindings(bed.sql, tenants.mixed)
    consumer = await workerWith(runbook).start(2)
    await queue.publish(jobFor(runId, tenants.mixed), 'copy-a')
    await queue.publish(jobFor(runId, tenants.mixed), 'copy-b')
    const completed = await waitForRunCompleted(bed.log, runId)
    await consumer.stop()
    consumer = undefined

    expect(runbook.executions).toEqual([tenants.mixed])
    expect(completed.summaryCounts).toEqual({ total: 4, processed: 4, updated: 3, skipped: 1, failed: 0 })
    expect(await tenantProcessedEvents(bed.log, runId)).toHaveLength(1)
    // One repair, one transaction: every changed finding carries the same updated_at, the rest their old one.
    const after = await readFindings(bed.sql, tenants.mixed)
    const changed = after.filter((row, i) => row.updatedAt !== before[i]!.updatedAt)
    expect(changed.map((row) => row.id)).toEqual([101, 102, 103])
    expect(new Set(changed.map((row) => row.updatedAt)).size).toBe(1)
  })

  it('a worker that dies after the repair committed but before recording: the redelivery records the stored result without repairing again', async () => {
    const runId = await runningSingleTenantRun(tenants.mixed)
    const runbook = countingRunbook()
    const dying = workerWith(runbook, {}, new EventLog(appendFailsOnce(bed.store)))

    const firstDelivery = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    await dying.handle(firstDelivery.delivery)
    expect(firstDelivery.settled).toEqual([{ kind: 'retryLater', delayMs: 5 }])
    expect(await tenantProcessedEvents(bed.log, runId)).toEqual([])
    const [stored] = await tenantJobResults(bed.sql, runId)
    expect(stored).toMatchObject({ status: 'succeeded', total: 4, updated: 3, attempt: 1 })
    const repaired = await readFindings(bed.sql, tenants.mixed)

    const redelivery = fakeDelivery(jobFor(runId, tenants.mixed), 2)
    await workerWith(runbook).handle(redelivery.delivery)

    expect(redelivery.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([tenants.mixed])
    expect(await readFindings(bed.sql, tenants.mixed)).toEqual(repaired)
    const processed = await tenantProcessedEvents(bed.log, runId)
    expect(processed).toHaveLength(1)
    expect(processed[0]).toMatchObject({ tenantId: tenants.mixed, attempt: 1, result: mixedRepair })
    const [completed] = await runCompletedEvents(bed.log, runId)
    expect(completed!.summaryCounts).toEqual({ total: 4, processed: 4, updated: 3, skipped: 1, failed: 0 })
    expect(completed!.outcome).toBe('succeeded')
  })

  it('a record that fails on the last allowed attempt still records the committed repair, not a failure', async () => {
    const runId = await runningSingleTenantRun(tenants.mixed)
    const runbook = countingRunbook()
    const flakyStore = appendFailsOnce(bed.store)
    const worker = workerWith(runbook, { maxAttempts: 2 }, new EventLog(flakyStore))
    // One failed attempt already counted: the failure below is the last one allowed.
    await countFailedAttempt(bed.sql, runId, tenants.mixed, 'transient')

    const last = fakeDelivery(jobFor(runId, tenants.mixed), 2)
    await worker.handle(last.delivery)

    expect(flakyStore.failures).toBe(1)
    expect(last.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([tenants.mixed])
    const processed = await tenantProcessedEvents(bed.log, runId)
    expect(processed.map((p) => p.result)).toEqual([mixedRepair])
    expect((await tenantJobResults(bed.sql, runId)).map((r) => r.status)).toEqual(['succeeded'])
  })

  it('a tenant archived between the request and the execution fails TENANT_NOT_ALLOWED and blocks a single-tenant run', async () => {
    const runId = await runningSingleTenantRun(tenants.mixed)
    const before = await readFindings(bed.sql, tenants.mixed)
    await bed.sql`update tenants set archived_at = now() where id = ${tenants.mixed}`
    const runbook = countingRunbook()

    const delivery = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    await workerWith(runbook).handle(delivery.delivery)

    expect(delivery.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([])
    expect(await readFindings(bed.sql, tenants.mixed)).toEqual(before)
    const processed = await tenantProcessedEvents(bed.log, runId)
    expect(processed).toHaveLength(1)
    expect(processed[0]!.result).toMatchObject({ status: 'failed', reasonCode: 'TENANT_NOT_ALLOWED' })
    const [completed] = await runCompletedEvents(bed.log, runId)
    expect(completed!.outcome).toBe('blocked')
    expect(completed!.summaryCounts).toEqual({ total: 0, processed: 0, updated: 0, skipped: 0, failed: 1 })
    expect(completed!.failureSummary).toEqual([
      { tenantId: tenants.mixed, reasonCode: 'TENANT_NOT_ALLOWED', message: expect.stringContaining(`tenant ${tenants.mixed}`) },
    ])
  })

  it('waiting for another run\'s lock does not use up the retries of real failures', async () => {
    const runId = await runningSingleTenantRun(tenants.mixed)
    // The job already waited three times for another run's repair of this tenant.
    for (let wait = 0; wait < 3; wait++) await countFailedAttempt(bed.sql, runId, tenants.mixed, 'lock_wait')
    const failing = countingRunbook({
      ...findingsLifecycleBackfill,
      async executeTenant() {
        throw Object.assign(new Error('connection reset'), { code: 'XX000' })
      },
    })
    const delivery = fakeDelivery(jobFor(runId, tenants.mixed), 4)
    await workerWith(failing, { maxAttempts: 2, maxLockedAttempts: 10 }).handle(delivery.delivery)
    // First real failure of two allowed, on the fourth delivery: retried, not failed for good.
    expect(delivery.settled).toEqual([{ kind: 'retryLater', delayMs: 5 }])
    expect(await tenantProcessedEvents(bed.log, runId)).toEqual([])
  })

  it('a transient failure is retried up to maxAttempts, then fails DB_ERROR with a sanitized message everywhere', async () => {
    const runId = await runningSingleTenantRun(tenants.mixed)
    const before = await readFindings(bed.sql, tenants.mixed)
    const secrets = ['postgres://user:secret@host/db', 'password=hunter2']
    const failing = countingRunbook({
      ...findingsLifecycleBackfill,
      async executeTenant(tx, tenantId) {
        // Repairs first, so the test also sees that the failed attempt's changes were rolled back.
        await findingsLifecycleBackfill.executeTenant(tx, tenantId, {})
        throw Object.assign(new Error(`could not reach postgres://user:secret@host/db (password=hunter2)\n    at repair (/srv/x.ts:1:1)`), {
          code: 'XX000',
        })
      },
    })
    consumer = await workerWith(failing, { maxAttempts: 3 }).start(1)
    await queue.publish(jobFor(runId, tenants.mixed), `${runId}:${tenants.mixed}:0`)
    const completed = await waitForRunCompleted(bed.log, runId)

    expect(failing.executions).toHaveLength(3)
    expect(await readFindings(bed.sql, tenants.mixed)).toEqual(before)
    const processed = await tenantProcessedEvents(bed.log, runId)
    expect(processed).toHaveLength(1)
    expect(processed[0]).toMatchObject({ attempt: 3, result: { status: 'failed', reasonCode: 'DB_ERROR' } })
    expect(completed.outcome).toBe('failed')
    expect(completed.failureSummary).toHaveLength(1)
    const [row] = await tenantJobResults(bed.sql, runId)
    expect(row).toMatchObject({ status: 'failed', reason_code: 'DB_ERROR', attempt: 3 })

    const places = {
      event: JSON.stringify(processed[0]),
      failureSummary: JSON.stringify(completed.failureSummary),
      tenantJobResults: row!.message ?? '',
    }
    for (const [place, text] of Object.entries(places)) {
      for (const secret of [...secrets, 'secret', 'hunter2', '/srv/x.ts']) {
        expect(text, `${place} must not carry "${secret}"`).not.toContain(secret)
      }
    }
  })
})
