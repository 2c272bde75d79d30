import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadRun } from '../../src/commands/run-execution.js'
import type { Sql } from '../../src/db/database.js'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import type { TenantJob } from '../../src/queue/job-queue.js'
import { findingsLifecycleBackfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import { findingsSlaRecalculate } from '../../src/runbooks/findings-sla-recalculate.js'
import { startRun } from '../../src/commands/start-run.js'
import { testCatalog } from '../support/catalog.js'
import type { Runbook } from '../../src/runbooks/runbook.js'
import { createDispatcher } from '../../src/workers/dispatcher.js'
import { TenantWorker, type TenantWorkerOptions } from '../../src/workers/tenant-worker.js'
import { readFindings } from '../runbooks/findings-fixture.js'
import { freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'
import {
  actor,
  countingRunbook,
  dispatchRuns,
  fakeDelivery,
  jobFor,
  LosingJobQueue,
  openWorkBed,
  runCompletedEvents,
  sleep,
  startAllTenantsRun,
  startSingleTenantRun,
  tenantProcessedEvents,
  tenants,
  waitFor,
  type WorkBed,
} from './work-path-bed.js'

/** The real runbook, except that its first repair stays inside its transaction until `release()`. */
function runbookHeldOpenOnce() {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let markInside!: () => void
  const inside = new Promise<void>((resolve) => (markInside = resolve))
  let held = false
  const runbook: Runbook = {
    ...findingsLifecycleBackfill,
    async executeTenant(tx, tenantId) {
      const repaired = await findingsLifecycleBackfill.executeTenant(tx, tenantId, {})
      if (!held) {
        held = true
        markInside()
        await released
      }
      return repaired
    },
  }
  return { runbook, inside, release }
}

/** Sessions of this database waiting for an advisory lock. */
async function advisoryLockWaiters(sql: Sql): Promise<number> {
  const [row] = await sql<Array<{ waiting: number }>>`
    select count(*)::integer as waiting from pg_locks
    where locktype = 'advisory' and not granted
      and database = (select oid from pg_database where datname = current_database())`
  return row!.waiting
}

/** Holds the tenant's repair lock in a transaction of the test's own until the returned function is called. */
async function holdTenantLock(sql: Sql, tenantId: number): Promise<() => Promise<void>> {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let markLocked!: () => void
  const locked = new Promise<void>((resolve) => (markLocked = resolve))
  const holder = sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended(${`tenant-repair:${tenantId}`}, 0))`
    markLocked()
    await released
  })
  await Promise.race([locked, holder])
  return async () => {
    release()
    await holder
  }
}

describe.runIf(TEST_POSTGRES_URL)('per-tenant exclusion on PostgreSQL', () => {
  let bed: WorkBed
  const queue = new InProcessJobQueue<TenantJob>()
  const cleanups: Array<() => Promise<void>> = []

  beforeEach(async () => {
    bed = await openWorkBed(freshPostgresDatabase)
  })

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    await bed.close()
  })

  function workerWith(runbook: Runbook, options: Partial<TenantWorkerOptions> = {}): TenantWorker {
    return new TenantWorker(
      { sql: bed.sql, log: bed.log, queue, logger: bed.logger, catalog: { find: (key: string) => (key === runbook.key ? runbook : undefined) } },
      { retryDelayMs: 7, ...options },
    )
  }

  async function dispatched(runIds: string[]): Promise<void> {
    await dispatchRuns(createDispatcher({ sql: bed.sql, log: bed.log, queue: new LosingJobQueue(), logger: bed.logger }), bed.log, runIds)
  }

  it("a repair its worker stopped serving (frozen, its host gone) is ended by the server: the tenant's lock is free, nothing of it commits", async () => {
    const runId = await startSingleTenantRun(bed, tenants.mixed)
    await dispatched([runId])
    const before = await readFindings(bed.sql)
    const held = runbookHeldOpenOnce()
    const stalled = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    const stalledDone = workerWith(held.runbook, { idleInTransactionMs: 300 }).handle(stalled.delivery)
    await held.inside
    // Its transaction sits idle, holding the tenant's lock, as a frozen process would leave it.
    const lockFree = async () =>
      bed.sql.begin(async (tx) => {
        const [row] = await tx<Array<{ free: boolean }>>`select pg_try_advisory_xact_lock(hashtextextended(${`tenant-repair:${tenants.mixed}`}, 0)) as free`
        return row!.free
      }) as Promise<boolean>
    expect(await lockFree()).toBe(false)
    await waitFor(lockFree, 10_000, "the server to end the idle repair and free the tenant's lock")
    // Thawed, the worker finds its transaction gone: the attempt fails and is retried; nothing was repaired.
    held.release()
    await stalledDone
    expect(stalled.settled).toEqual([{ kind: 'retryLater', delayMs: expect.any(Number) }])
    expect(await readFindings(bed.sql)).toEqual(before)
    expect(await tenantProcessedEvents(bed.log, runId)).toEqual([])
  })

  it('two runs on the same tenant at once: the later waits for the lock, both complete, the later updates nothing', async () => {
    const singleRunId = await startSingleTenantRun(bed, tenants.mixed)
    const allRunId = await startAllTenantsRun(bed)
    await dispatched([singleRunId, allRunId])
    const held = runbookHeldOpenOnce()
    const worker = workerWith(held.runbook) // the default lockWaitMs (10 s)

    const first = fakeDelivery(jobFor(singleRunId, tenants.mixed), 1)
    const firstDone = worker.handle(first.delivery)
    await held.inside
    const later = fakeDelivery(jobFor(allRunId, tenants.mixed), 1)
    const laterDone = worker.handle(later.delivery)
    await waitFor(async () => (await advisoryLockWaiters(bed.sql)) === 1, 10_000, 'the later run to wait for the tenant lock')
    await sleep(200)
    expect(later.settled).toEqual([])
    held.release()
    await Promise.all([firstDone, laterDone])
    expect(first.settled).toEqual([{ kind: 'ack' }])
    expect(later.settled).toEqual([{ kind: 'ack' }])

    for (const tenantId of [tenants.clean, tenants.invalid]) await worker.handle(fakeDelivery(jobFor(allRunId, tenantId), 1).delivery)

    const [single] = await runCompletedEvents(bed.log, singleRunId)
    expect(single!.outcome).toBe('succeeded')
    expect(single!.summaryCounts).toEqual({ total: 4, processed: 4, updated: 3, skipped: 1, failed: 0 })
    const [all] = await runCompletedEvents(bed.log, allRunId)
    expect(all!.summaryCounts).toEqual({ total: 6, processed: 6, updated: 0, skipped: 6, failed: 1, tenants: 3 })
    expect(all!.failureSummary.map((f) => [f.tenantId, f.reasonCode])).toEqual([[tenants.invalid, 'INVALID_DATA']])
    const laterMixed = (await tenantProcessedEvents(bed.log, allRunId)).find((p) => p.tenantId === tenants.mixed)
    expect(laterMixed!.result).toEqual({ status: 'succeeded', total: 4, updated: 0 })
  })

  it('runs of both runbooks on one tenant exclude each other: the SLA recalculation waits for the backfill’s repair (SPEC §13)', async () => {
    const backfillRunId = await startSingleTenantRun(bed, tenants.mixed)
    const { runId: slaRunId } = await startRun(bed, { ...actor, capabilities: [...actor.capabilities, findingsSlaRecalculate.requiredCapability] }, {
      runbookKey: findingsSlaRecalculate.key,
      scope: 'single_tenant',
      tenantId: tenants.mixed,
      confirmation: findingsSlaRecalculate.key,
      reason: null,
      source: 'cli',
      parameters: { slaDays: { critical: 1 } },
    })
    await dispatched([backfillRunId, slaRunId])
    const held = runbookHeldOpenOnce()
    const worker = new TenantWorker(
      { sql: bed.sql, log: bed.log, queue, logger: bed.logger, catalog: { find: (key: string) => (key === held.runbook.key ? held.runbook : testCatalog.find(key)) } },
      { retryDelayMs: 7 },
    )
    const backfill = fakeDelivery(jobFor(backfillRunId, tenants.mixed), 1)
    const backfillDone = worker.handle(backfill.delivery)
    await held.inside
    const sla = fakeDelivery({ ...jobFor(slaRunId, tenants.mixed), runbookKey: findingsSlaRecalculate.key }, 1)
    const slaDone = worker.handle(sla.delivery)
    await waitFor(async () => (await advisoryLockWaiters(bed.sql)) === 1, 10_000, 'the SLA repair to wait for the tenant lock')
    await sleep(200)
    expect(sla.settled).toEqual([])
    held.release()
    await Promise.all([backfillDone, slaDone])
    expect([backfill.settled, sla.settled]).toEqual([[{ kind: 'ack' }], [{ kind: 'ack' }]])
    const [slaCompleted] = await runCompletedEvents(bed.log, slaRunId)
    expect(slaCompleted!.outcome).toBe('succeeded')
  })

  it('a tenant whose lock another transaction holds is retried, then fails TENANT_LOCKED after maxLockedAttempts', async () => {
    const runId = await startSingleTenantRun(bed, tenants.mixed)
    await dispatched([runId])
    const before = await readFindings(bed.sql, tenants.mixed)
    const runbook = countingRunbook()
    cleanups.push(await holdTenantLock(bed.sql, tenants.mixed))

    const patient = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    await workerWith(runbook, { lockWaitMs: 50, maxLockedAttempts: 3 }).handle(patient.delivery)
    expect(patient.settled).toEqual([{ kind: 'retryLater', delayMs: 7 }])
    expect(await tenantProcessedEvents(bed.log, runId)).toEqual([])

    const last = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    await workerWith(runbook, { lockWaitMs: 50, maxLockedAttempts: 1 }).handle(last.delivery)
    expect(last.settled).toEqual([{ kind: 'ack' }])

    expect(runbook.executions).toEqual([])
    expect(await readFindings(bed.sql, tenants.mixed)).toEqual(before)
    const processed = await tenantProcessedEvents(bed.log, runId)
    expect(processed.map((p) => p.result)).toEqual([
      { status: 'failed', reasonCode: 'TENANT_LOCKED', message: 'the tenant is being repaired by another run' },
    ])
    const [completed] = await runCompletedEvents(bed.log, runId)
    expect(completed!.outcome).toBe('failed')
  })

  // A repair's transaction writes, so it holds a transaction id; the PostgreSQL event store reads only
  // below the oldest open transaction id of the whole server. While one tenant is being repaired (up to
  // statementTimeoutMs, 300 s by default), no subscriber sees any newer event.
  it('a tenant repair in progress does not hold up the dispatch of another run', async () => {
    const firstRunId = await startSingleTenantRun(bed, tenants.mixed)
    await dispatched([firstRunId])
    const held = runbookHeldOpenOnce()
    const repairing = workerWith(held.runbook).handle(fakeDelivery(jobFor(firstRunId, tenants.mixed), 1).delivery)
    cleanups.push(async () => {
      held.release()
      await repairing
    })
    await held.inside

    const otherRunId = await startSingleTenantRun(bed, tenants.clean)
    const dispatcher = createDispatcher({ sql: bed.sql, log: bed.log, queue: new LosingJobQueue(), logger: bed.logger })
    const deadline = Date.now() + 3_000
    while ((await loadRun(bed.log, otherRunId)).status === 'queued' && Date.now() < deadline) {
      await dispatcher.runOnce()
      await sleep(50)
    }
    expect((await loadRun(bed.log, otherRunId)).status).toBe('running')
  })
})
