import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadRun } from '../../src/commands/run-execution.js'
import { Projector } from '../../src/projections/projector.js'
import { readModelProjections, readModelProjectorName } from '../../src/projections/read-model-projections.js'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import type { JobConsumer, TenantJob } from '../../src/queue/job-queue.js'
import { testCatalog } from '../support/catalog.js'
import { createDispatcher } from '../../src/workers/dispatcher.js'
import { Reconciler } from '../../src/workers/reconciler.js'
import { TenantWorker } from '../../src/workers/tenant-worker.js'
import { tenantRepairLockName } from '../../src/db/advisory-locks.js'
import { databaseFlavours, freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'
import {
  dispatchRuns,
  LosingJobQueue,
  openWorkBed,
  runEvents,
  startAllTenantsRun,
  tenantProcessedEvents,
  universe,
  waitFor,
  waitForRunCompleted,
  type WorkBed,
} from './work-path-bed.js'

describe.each(databaseFlavours())('the reconciler on $name', ({ open }) => {
  let bed: WorkBed
  let queue: InProcessJobQueue<TenantJob>
  let consumer: JobConsumer | undefined
  let projector: Projector

  beforeEach(async () => {
    bed = await openWorkBed(open)
    queue = new InProcessJobQueue<TenantJob>()
    consumer = undefined
    projector = new Projector({
      store: bed.store,
      sql: bed.sql,
      name: readModelProjectorName,
      projections: readModelProjections({ consoleBaseUrl: 'http://x' }),
      logger: { info: () => {}, error: () => {} },
    })
  })

  afterEach(async () => {
    await consumer?.stop()
    await queue.close()
    await bed.close()
  })

  const deps = () => ({ sql: bed.sql, log: bed.log, queue, logger: bed.logger, catalog: bed.catalog })

  /** Projects until the run's row has the status (the store's read horizon may lag on a shared server). */
  async function projectUntil(runId: string, status: string): Promise<void> {
    await waitFor(
      async () => {
        await projector.runOnce()
        const [row] = await bed.sql<Array<{ status: string }>>`select status from operation_runs where id = ${runId}`
        return row?.status === status
      },
      20_000,
      `operation_runs ${runId} to be ${status}`,
    )
  }

  it('re-dispatches the jobs of a running run that were lost, and the run then completes with each tenant once', async () => {
    const runId = await startAllTenantsRun(bed)
    const losing = new LosingJobQueue()
    await dispatchRuns(createDispatcher({ ...deps(), queue: losing }), bed.log, [runId])
    expect(losing.lost.map((l) => l.job.tenantIds).flat()).toEqual(universe)
    await projectUntil(runId, 'running')
    consumer = await new TenantWorker({ ...deps(), catalog: testCatalog }, { retryDelayMs: 5 }).start(2)

    // Not stale yet: nothing happens.
    const patient = new Reconciler(deps(), { staleAfterMs: 60_000 })
    expect(await patient.reconcileOnce()).toEqual([])
    expect((await runEvents(bed.log, runId)).map((e) => e.event.type)).toEqual(['RunRequested', 'RunStarted'])

    const reconciler = new Reconciler(deps(), { staleAfterMs: 500 })
    expect(await reconciler.reconcileOnce(new Date(Date.now() + 1_000))).toEqual([runId])
    // The reconciler only records the re-dispatch; the dispatcher, the one publisher of jobs, publishes it.
    await createDispatcher(deps()).runOnce()
    const completed = await waitForRunCompleted(bed.log, runId)

    const redispatched = (await runEvents(bed.log, runId)).flatMap((e) =>
      e.event.type === 'TenantJobsRedispatched' ? [e.event.data] : [],
    )
    expect(redispatched).toHaveLength(1)
    expect(redispatched[0]).toMatchObject({ runId, tenantIds: universe, generation: 1 })
    const processed = await tenantProcessedEvents(bed.log, runId)
    expect(processed.map((p) => p.tenantId).sort((a, b) => a - b)).toEqual(universe)
    expect(completed.summaryCounts).toEqual({ total: 6, processed: 6, updated: 3, skipped: 3, failed: 1, tenants: 3 })

    // The dispatcher also sees TenantJobsRedispatched and publishes the same generation: the queue's
    // dedupe window collapses it, and were it delivered, the worker would only ack it.
    await createDispatcher(deps()).runOnce()
    const eventCount = (await runEvents(bed.log, runId)).length
    // A completed run whose row is not projected yet is left alone.
    expect(await reconciler.reconcileOnce(new Date(Date.now() + 1_000))).toEqual([])
    await projectUntil(runId, 'completed')
    expect(await reconciler.reconcileOnce(new Date(Date.now() + 1_000))).toEqual([])
    expect(await runEvents(bed.log, runId)).toHaveLength(eventCount)
  })

  it('reads each active run only from where its last pass left it, not from the start every pass', async () => {
    const runId = await startAllTenantsRun(bed)
    await projectUntil(runId, 'queued')
    let eventsRead = 0
    const log: typeof bed.log = Object.create(bed.log)
    log.read = async (...args) => {
      const read = await bed.log.read(...args)
      eventsRead += read.events.length
      return read
    }
    const reconciler = new Reconciler({ ...deps(), log }, { staleAfterMs: 60_000 })
    const passReads = async () => {
      eventsRead = 0
      expect(await reconciler.reconcileOnce()).toEqual([])
      return eventsRead
    }

    expect(await passReads()).toBe((await runEvents(bed.log, runId)).length)
    expect(await passReads()).toBe(0)
    const before = (await runEvents(bed.log, runId)).length
    await dispatchRuns(createDispatcher({ ...deps(), queue: new LosingJobQueue() }), bed.log, [runId])
    await projectUntil(runId, 'running')
    expect(await passReads()).toBe((await runEvents(bed.log, runId)).length - before)
  })

  it('records no re-dispatch while the queue takes no jobs; when the queue says its jobs were lost, re-dispatches at once', async () => {
    const runId = await startAllTenantsRun(bed)
    const losing = new LosingJobQueue()
    await dispatchRuns(createDispatcher({ ...deps(), queue: losing }), bed.log, [runId])
    await projectUntil(runId, 'running')
    const redispatches = async () => (await runEvents(bed.log, runId)).filter((e) => e.event.type === 'TenantJobsRedispatched').length

    let available = false
    const reconciler = new Reconciler({ ...deps(), queueAvailable: async () => available }, { staleAfterMs: 60_000 })
    // Stale, but the queue is down: nothing recorded, pass after pass.
    expect(await reconciler.reconcileOnce(new Date(Date.now() + 120_000))).toEqual([])
    expect(await reconciler.reconcileOnce(new Date(Date.now() + 240_000))).toEqual([])
    expect(await redispatches()).toBe(0)
    // News of lost jobs while the queue still takes none records nothing either.
    await reconciler.presumeJobsLost()
    expect(await redispatches()).toBe(0)

    // The queue is back and reports its stream was made again: no waiting for the run to look stale.
    available = true
    await reconciler.presumeJobsLost()
    expect(await redispatches()).toBe(1)
    await createDispatcher(deps()).runOnce()
    consumer = await new TenantWorker({ ...deps(), catalog: testCatalog }, { retryDelayMs: 5 }).start(2)
    await waitForRunCompleted(bed.log, runId)
    const processed = await tenantProcessedEvents(bed.log, runId)
    expect(processed.map((p) => p.tenantId).sort((a, b) => a - b)).toEqual(universe)
  })

  it('starts a run whose dispatcher never handled it; the dispatcher then publishes its jobs', async () => {
    const runId = await startAllTenantsRun(bed)
    await projectUntil(runId, 'queued')
    consumer = await new TenantWorker({ ...deps(), catalog: testCatalog }, { retryDelayMs: 5 }).start(2)

    const reconciler = new Reconciler(deps(), { staleAfterMs: 500 })
    expect(await reconciler.reconcileOnce(new Date(Date.now() + 1_000))).toEqual([runId])
    expect((await loadRun(bed.log, runId)).status).not.toBe('queued')
    await createDispatcher(deps()).runOnce()
    const completed = await waitForRunCompleted(bed.log, runId)

    expect(completed.outcome).toBe('partially_succeeded')
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId).sort((a, b) => a - b)).toEqual(universe)
    const types = (await runEvents(bed.log, runId)).map((e) => e.event.type)
    expect(types.filter((t) => t === 'RunStarted')).toHaveLength(1)
    expect(types).not.toContain('TenantJobsRedispatched')
  })
})

describe.runIf(TEST_POSTGRES_URL)('the reconciler and tenants being repaired (PostgreSQL)', () => {
  it('does not re-dispatch a pending tenant whose repair lock is held: its job is alive, only slow', async () => {
    const bed = await openWorkBed(freshPostgresDatabase)
    const queue = new InProcessJobQueue<TenantJob>()
    try {
      const deps = { sql: bed.sql, log: bed.log, queue, logger: bed.logger, catalog: bed.catalog }
      const runId = await startAllTenantsRun(bed)
      await dispatchRuns(createDispatcher({ ...deps, queue: new LosingJobQueue() }), bed.log, [runId])
      const projector = new Projector({
        store: bed.store,
        sql: bed.sql,
        name: readModelProjectorName,
        projections: readModelProjections({ consoleBaseUrl: 'http://x' }),
        logger: { info: () => {}, error: () => {} },
      })
      await waitFor(async () => {
        await projector.runOnce()
        const [row] = await bed.sql<Array<{ status: string }>>`select status from operation_runs where id = ${runId}`
        return row?.status === 'running'
      }, 20_000, 'the run to be projected running')

      const [busyTenant, ...others] = universe
      let release!: () => void
      const released = new Promise<void>((resolve) => (release = resolve))
      let holding!: () => void
      const held = new Promise<void>((resolve) => (holding = resolve))
      const repairInProgress = bed.sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(hashtextextended(${tenantRepairLockName(busyTenant!)}, 0))`
        holding()
        await released
      })
      await held
      try {
        const reconciler = new Reconciler(deps, { staleAfterMs: 500 })
        expect(await reconciler.reconcileOnce(new Date(Date.now() + 1_000))).toEqual([runId])
        const redispatched = (await runEvents(bed.log, runId)).flatMap((e) =>
          e.event.type === 'TenantJobsRedispatched' ? [e.event.data.tenantIds] : [],
        )
        expect(redispatched).toEqual([others])
      } finally {
        release()
        await repairInProgress
      }
    } finally {
      await queue.close()
      await bed.close()
    }
  })
})
