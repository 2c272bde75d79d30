import { streams } from '../../src/events/streams.js'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { cancelRun, changeRunLimits, pauseRun } from '../../src/commands/run-control.js'
import { loadRun } from '../../src/commands/run-execution.js'
import { runSlotLockPrefix } from '../../src/db/advisory-locks.js'
import type { TenantJob } from '../../src/queue/job-queue.js'
import type { Runbook } from '../../src/runbooks/runbook.js'
import { EventLog } from '../../src/store/event-log.js'
import type { EventStore } from '../../src/store/event-store.js'
import { createDispatcher } from '../../src/workers/dispatcher.js'
import { TenantWorker, type TenantWorkerOptions } from '../../src/workers/tenant-worker.js'
import { databaseFlavours, TEST_POSTGRES_URL, freshPostgresDatabase } from '../support/databases.js'
import { holdAdvisoryLock } from '../support/held-lock.js'
import {
  actor,
  countingRunbook,
  dispatchRuns,
  fakeDelivery,
  LosingJobQueue,
  openWorkBed,
  repairThatWaits,
  runbookKey,
  startAllTenantsRun,
  tenantJobResults,
  tenantProcessedEvents,
  tenants,
  waitFor,
  type WorkBed,
} from './work-path-bed.js'

/**
 * Shared jobs: a run of small tenants puts several in one job. Each tenant is still repaired as in a job of
 * its own (its transaction, locks, gate, slot, before-images, result row); the job's results are recorded in
 * one append. What ends a shared job early records what it repaired first.
 */

const reason = { code: 'INCIDENT', text: 'stop the repair, it looks wrong' }
/** The bed's tenants in target order: mixed (repairs), clean (nothing to change), invalid (fails INVALID_DATA). */
const all = [tenants.mixed, tenants.clean, tenants.invalid]

const sharedJob = (runId: string, tenantIds: number[] = all, generation = 0): TenantJob => ({ runId, runbookKey, tenantIds, generation })

/** The store, counting the appends that carried events. */
function countingAppends(store: EventStore): EventStore & { appends: number } {
  const counted = {
    appends: 0,
    append: (streamId, events, options) => {
      counted.appends++
      return store.append(streamId, events, options)
    },
    appendMany: (appends) => {
      counted.appends += appends.length
      return store.appendMany(appends)
    },
    atomicMultiStreamAppend: store.atomicMultiStreamAppend,
    readStream: (streamId, options) => store.readStream(streamId, options),
    readAll: (options) => store.readAll(options),
    onAppended: (listener) => store.onAppended(listener),
    close: () => store.close(),
  } satisfies EventStore & { appends: number }
  return counted
}

describe.each(databaseFlavours())('shared jobs on $name', ({ open }) => {
  let bed: WorkBed

  beforeEach(async () => {
    bed = await openWorkBed(open)
  })

  afterEach(async () => {
    await bed.close()
  })

  /** The bed's all-tenants run, started; the job its dispatcher published is returned (the queue lost it). */
  async function runningRun(): Promise<{ runId: string; published: LosingJobQueue['lost'] }> {
    const runId = await startAllTenantsRun(bed)
    const queue = new LosingJobQueue()
    await dispatchRuns(createDispatcher({ sql: bed.sql, log: bed.log, queue, logger: bed.logger }), bed.log, [runId])
    return { runId, published: queue.lost }
  }

  function workerOf(runbook: Runbook, queue = new LosingJobQueue(), log: EventLog = bed.log): TenantWorker {
    return new TenantWorker(
      {
        sql: bed.sql,
        log,
        logIn: (tx) => new EventLog(bed.store.readingIn(tx)),
        queue,
        logger: bed.logger,
        catalog: { find: () => runbook },
      },
      { retryDelayMs: 5, slotWaitMs: 7 },
    )
  }

  it('the dispatcher puts a run of small tenants (a few findings each) in one job, named by its group of targets and generation', async () => {
    const { runId, published } = await runningRun()
    // Any dispatcher, or one restarted, names the same job the same: the queue keeps one of the copies. The
    // job names the event the dispatcher answered (the run's request) as what dispatched it.
    const [requested] = (await bed.log.read(streams.run(runId))).events
    expect(published).toEqual([{ job: { ...sharedJob(runId), causationId: requested!.metadata.eventId }, dedupeId: `${runId}:g0x16:0` }])
  })

  it('repairs each tenant in its own transaction and records their results in one append, a final failure among them', async () => {
    const { runId } = await runningRun()
    const counting = countingAppends(bed.store)
    const runbook = countingRunbook()
    const worker = workerOf(runbook, new LosingJobQueue(), new EventLog(counting))

    const job = fakeDelivery(sharedJob(runId), 1)
    await worker.handle(job.delivery)
    expect(job.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual(all)
    // One append for the job's three results (and one for the run's completion that the last result brought).
    const processed = await tenantProcessedEvents(bed.log, runId)
    expect(processed.map((p) => [p.tenantId, p.result.status])).toEqual([
      [tenants.mixed, 'succeeded'],
      [tenants.clean, 'succeeded'],
      [tenants.invalid, 'failed'],
    ])
    expect(counting.appends).toBe(1)
    // Each in its own transaction: its own times, the second begun after the first committed.
    expect(Date.parse(processed[1]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(processed[0]!.completedAt!))
    const results = await tenantJobResults(bed.sql, runId)
    expect(results.map((r) => [Number(r.tenant_id), r.status, r.attempt])).toEqual([
      [tenants.mixed, 'succeeded', 1],
      [tenants.clean, 'succeeded', 1],
      [tenants.invalid, 'failed', 1],
    ])
    const state = await loadRun(bed.log, runId)
    expect(state.status === 'completed' && state.outcome).toBe('partially_succeeded')
  })

  it('retries a tenant\'s transient failure in the job itself, by the retry policy, then goes on with the next', async () => {
    const { runId } = await runningRun()
    const base = countingRunbook()
    let failures = 0
    const flaky: Runbook = {
      ...base,
      async executeTenant(tx, tenantId, parameters) {
        if (tenantId === tenants.mixed && failures++ < 2) throw Object.assign(new Error('connection reset'), { code: '08006' })
        return base.executeTenant(tx, tenantId, parameters)
      },
    }
    const job = fakeDelivery(sharedJob(runId, [tenants.mixed, tenants.clean]), 1)
    await workerOf(flaky).handle(job.delivery)
    expect(job.settled).toEqual([{ kind: 'ack' }])
    expect(base.executions).toEqual([tenants.mixed, tenants.clean])
    const results = await tenantJobResults(bed.sql, runId)
    expect(results.map((r) => [Number(r.tenant_id), r.status, r.attempt])).toEqual([
      [tenants.mixed, 'succeeded', 3],
      [tenants.clean, 'succeeded', 1],
    ])
  })

  it('a final failure over the error budget is recorded at once: the run pauses and the job repairs no tenant after it', async () => {
    const runId = await startAllTenantsRun(bed, { maxConcurrency: 1, maxFailures: 0 })
    await dispatchRuns(createDispatcher({ sql: bed.sql, log: bed.log, queue: new LosingJobQueue(), logger: bed.logger }), bed.log, [runId])
    const runbook = countingRunbook()
    const job = fakeDelivery(sharedJob(runId, [tenants.invalid, tenants.mixed, tenants.clean]), 1)
    await workerOf(runbook).handle(job.delivery)
    expect(job.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([tenants.invalid])
    const state = await loadRun(bed.log, runId)
    expect(state.status === 'paused' && state.pause.reasonCode).toBe('ERROR_BUDGET_EXCEEDED')
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId)).toEqual([tenants.invalid])
  })

  it('a shared job delivered again after its worker died before recording repairs nothing twice and counts each tenant once', async () => {
    const { runId } = await runningRun()
    const runbook = countingRunbook()
    // Every append of this worker fails, as if its process died once the repairs committed.
    const dying: EventStore = {
      ...countingAppends(bed.store),
      append: () => Promise.reject(new Error('the worker died before recording')),
    }
    const first = fakeDelivery(sharedJob(runId, [tenants.mixed, tenants.clean]), 1)
    await expect(workerOf(runbook, new LosingJobQueue(), new EventLog(dying)).handle(first.delivery)).rejects.toThrow('died before recording')
    expect(first.settled).toEqual([])
    expect(await tenantProcessedEvents(bed.log, runId)).toEqual([])

    const again = fakeDelivery(sharedJob(runId, [tenants.mixed, tenants.clean]), 2)
    await workerOf(runbook).handle(again.delivery)
    expect(again.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([tenants.mixed, tenants.clean])
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => [p.tenantId, p.attempt])).toEqual([
      [tenants.mixed, 1],
      [tenants.clean, 1],
    ])
  })

  it('a shared job delivered again counts a further attempt only for the tenant its earlier delivery ended at', async () => {
    const { runId } = await runningRun()
    const runbook = countingRunbook()
    // The first delivery committed `mixed`, then died while repairing `clean` (nothing of it committed) before
    // recording anything: here, a delivery of `mixed` alone whose append fails.
    const dying: EventStore = { ...countingAppends(bed.store), append: () => Promise.reject(new Error('the worker died before recording')) }
    await workerOf(runbook, new LosingJobQueue(), new EventLog(dying))
      .handle(fakeDelivery(sharedJob(runId, [tenants.mixed]), 1).delivery)
      .catch(() => {})
    expect((await tenantJobResults(bed.sql, runId)).map((r) => Number(r.tenant_id))).toEqual([tenants.mixed])
    expect(await tenantProcessedEvents(bed.log, runId)).toEqual([])

    const again = fakeDelivery(sharedJob(runId, [tenants.mixed, tenants.clean, tenants.invalid]), 2)
    await workerOf(runbook).handle(again.delivery)
    expect(again.settled).toEqual([{ kind: 'ack' }])
    // `mixed` keeps its stored first attempt; `clean` may have been under way (its second); `invalid` was never reached.
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => [p.tenantId, p.attempt])).toEqual([
      [tenants.mixed, 1],
      [tenants.clean, 2],
      [tenants.invalid, 1],
    ])
  })

  it('a tenant already processed (a job repeated) is passed over; the job goes on with the next', async () => {
    const { runId } = await runningRun()
    const runbook = countingRunbook()
    await workerOf(runbook).handle(fakeDelivery(sharedJob(runId, [tenants.clean]), 1).delivery)
    const job = fakeDelivery(sharedJob(runId, [tenants.clean, tenants.mixed]), 1)
    await workerOf(runbook).handle(job.delivery)
    expect(job.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([tenants.clean, tenants.mixed])
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId)).toEqual([tenants.clean, tenants.mixed])
  })

  it('a job published by a release before shared jobs (one `tenantId`) is still served', async () => {
    const { runId } = await runningRun()
    const runbook = countingRunbook()
    const legacy = { runId, runbookKey, tenantId: tenants.mixed, generation: 0 } as unknown as TenantJob
    const job = fakeDelivery(legacy, 1)
    await workerOf(runbook).handle(job.delivery)
    expect(job.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([tenants.mixed])
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId)).toEqual([tenants.mixed])
  })
})

describe.runIf(TEST_POSTGRES_URL)('shared jobs with repairs in flight (PostgreSQL: a second connection acts meanwhile)', () => {
  let bed: WorkBed

  beforeEach(async () => {
    bed = await openWorkBed(freshPostgresDatabase)
  })

  afterEach(async () => {
    await bed.close()
  })

  async function runningRun(): Promise<{ runId: string }> {
    const runId = await startAllTenantsRun(bed)
    await dispatchRuns(createDispatcher({ sql: bed.sql, log: bed.log, queue: new LosingJobQueue(), logger: bed.logger }), bed.log, [runId])
    return { runId }
  }

  function workerOf(runbook: Runbook, queue = new LosingJobQueue(), options: Partial<TenantWorkerOptions> = {}): TenantWorker {
    return new TenantWorker(
      { sql: bed.sql, log: bed.log, queue, logger: bed.logger, catalog: { find: () => runbook } },
      { retryDelayMs: 5, slotWaitMs: 7, ...options },
    )
  }

  it('a shared job held up by one tenant records what it repaired so far, so the run shows its progress meanwhile', async () => {
    const { runId } = await runningRun()
    const slow = repairThatWaits(countingRunbook(), tenants.clean)
    const job = fakeDelivery(sharedJob(runId), 1)
    const handled = workerOf(slow.runbook, new LosingJobQueue(), { sharedJobProgressMs: 10 }).handle(job.delivery)
    await slow.isRepairing
    await waitFor(async () => (await tenantProcessedEvents(bed.log, runId)).length > 0, 20_000, 'the first tenant to be recorded')
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId)).toEqual([tenants.mixed])
    expect(job.settled).toEqual([])
    slow.release()
    await handled
    expect(job.settled).toEqual([{ kind: 'ack' }])
    // The first tenant once, then the others when the job went on (the third's failure for good among them).
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId)).toEqual(all)
  })

  it('a pause recorded during a shared job lets the repair under way finish and be counted; the tenants after it are not started', async () => {
    const { runId } = await runningRun()
    const slow = repairThatWaits(countingRunbook(), tenants.mixed)
    const job = fakeDelivery(sharedJob(runId), 1)
    const handled = workerOf(slow.runbook).handle(job.delivery)
    await slow.isRepairing
    await pauseRun(bed, actor, runId, { reason })
    slow.release()
    await handled
    expect(job.settled).toEqual([{ kind: 'ack' }])
    expect(slow.runbook.executions).toEqual([tenants.mixed])
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId)).toEqual([tenants.mixed])
    expect((await loadRun(bed.log, runId)).status).toBe('paused')
  })

  it('a cancel recorded during a shared job: the run completes cancelled, counting exactly the repair that was under way', async () => {
    const { runId } = await runningRun()
    const slow = repairThatWaits(countingRunbook(), tenants.mixed)
    const job = fakeDelivery(sharedJob(runId), 1)
    const handled = workerOf(slow.runbook).handle(job.delivery)
    await slow.isRepairing
    await cancelRun(bed, actor, runId, { reason })
    slow.release()
    await handled
    expect(job.settled).toEqual([{ kind: 'ack' }])
    expect(slow.runbook.executions).toEqual([tenants.mixed])
    const state = await loadRun(bed.log, runId)
    expect(state.status === 'completed' && state.outcome).toBe('cancelled')
    expect(state.status === 'completed' && [...state.results.keys()]).toEqual([tenants.mixed])
  })

  it('a shared job without a free slot offers again what is left of it, after recording what it repaired', async () => {
    const { runId } = await runningRun()
    await changeRunLimits(bed, actor, runId, { maxConcurrency: 1 })
    const slow = repairThatWaits(countingRunbook(), tenants.mixed)
    const offeredAgain = new LosingJobQueue()
    const worker = workerOf(slow.runbook, offeredAgain)
    const job = fakeDelivery(sharedJob(runId), 1)
    const handled = worker.handle(job.delivery)
    await slow.isRepairing
    // Another repair of the run waits for the only slot; it takes it as soon as the first tenant commits.
    const otherRepair = holdAdvisoryLock(bed.sql, `${runSlotLockPrefix(runId)}0`)
    await waitFor(async () => {
      const [row] = await bed.sql<Array<{ waiting: number }>>`select count(*)::int as waiting from pg_locks where locktype = 'advisory' and not granted`
      return row!.waiting > 0
    })
    slow.release()
    await handled
    expect(job.settled).toEqual([{ kind: 'ack' }])
    expect(slow.runbook.executions).toEqual([tenants.mixed])
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId)).toEqual([tenants.mixed])
    expect(offeredAgain.lost.map((l) => l.job)).toEqual([sharedJob(runId, [tenants.clean, tenants.invalid])])
    expect(offeredAgain.lost[0]!.dedupeId).toMatch(/:slot-wait:/)
    await (await otherRepair).release()
  })
})
