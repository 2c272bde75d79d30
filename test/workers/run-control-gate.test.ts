import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { haltDeployment, liftHalt } from '../../src/commands/halt.js'
import { cancelRun, changeRunLimits, pauseRun, resumeRun } from '../../src/commands/run-control.js'
import { loadRun } from '../../src/commands/run-execution.js'
import { runRepairsLockName } from '../../src/db/advisory-locks.js'
import type { Runbook } from '../../src/runbooks/runbook.js'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import type { JobQueue, TenantJob } from '../../src/queue/job-queue.js'
import { finishCancelledRun } from '../../src/workers/cancellation.js'
import { createDispatcher } from '../../src/workers/dispatcher.js'
import { TenantWorker } from '../../src/workers/tenant-worker.js'
import { holdAdvisoryLock } from '../support/held-lock.js'
import { databaseFlavours, freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'
import {
  actor,
  countingRunbook,
  dispatchRuns,
  fakeDelivery,
  jobFor,
  LosingJobQueue,
  openWorkBed,
  repairThatWaits,
  runEvents,
  startAllTenantsRun,
  tenantProcessedEvents,
  tenants,
  type WorkBed,
} from './work-path-bed.js'

/**
 * DESIGN invariant 8, one job at a time: a pause, cancel or halt recorded before a tenant's repair begins
 * is obeyed by that repair; repairs in flight finish and are counted; `maxConcurrency` holds across workers.
 */

const reason = { code: 'INCIDENT', text: 'stop the repair, it looks wrong' }

async function runningRun(bed: WorkBed): Promise<string> {
  const runId = await startAllTenantsRun(bed)
  // Started, its jobs lost: the test hands jobs to the worker itself.
  await dispatchRuns(createDispatcher({ sql: bed.sql, log: bed.log, queue: new LosingJobQueue(), logger: bed.logger }), bed.log, [runId])
  return runId
}

function workerOf(bed: WorkBed, runbook: Runbook, queue: JobQueue<TenantJob> = new InProcessJobQueue<TenantJob>()): TenantWorker {
  return new TenantWorker(
    { sql: bed.sql, log: bed.log, queue, logger: bed.logger, catalog: { find: () => runbook } },
    { retryDelayMs: 5, slotWaitMs: 7 },
  )
}

describe.each(databaseFlavours())('the repair gate on $name', ({ open }) => {
  let bed: WorkBed

  beforeEach(async () => {
    bed = await openWorkBed(open)
  })

  afterEach(async () => {
    await bed.close()
  })

  it('a job of a paused run repairs nothing and is acked; after the resume the same job repairs', async () => {
    const runId = await runningRun(bed)
    const runbook = countingRunbook()
    const worker = workerOf(bed, runbook)
    await pauseRun(bed, actor, runId, { reason })

    const whilePaused = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    await worker.handle(whilePaused.delivery)
    expect(whilePaused.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([])
    expect(await tenantProcessedEvents(bed.log, runId)).toEqual([])

    await resumeRun(bed, actor, runId, { reason: null })
    const afterResume = fakeDelivery(jobFor(runId, tenants.mixed, 1), 1)
    await worker.handle(afterResume.delivery)
    expect(afterResume.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([tenants.mixed])
    const [processed] = await tenantProcessedEvents(bed.log, runId)
    expect(processed).toMatchObject({ tenantId: tenants.mixed, result: { status: 'succeeded' } })
    expect(Date.parse(processed!.startedAt!)).toBeLessThanOrEqual(Date.parse(processed!.completedAt!))
  })

  it('a job of a cancelled run repairs nothing, and the run completes cancelled with nothing in flight', async () => {
    const runId = await runningRun(bed)
    const runbook = countingRunbook()
    const worker = workerOf(bed, runbook)
    await worker.handle(fakeDelivery(jobFor(runId, tenants.mixed), 1).delivery)
    await cancelRun(bed, actor, runId, { reason })

    const late = fakeDelivery(jobFor(runId, tenants.clean), 1)
    await worker.handle(late.delivery)
    expect(late.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([tenants.mixed])
    const state = await loadRun(bed.log, runId)
    expect(state.status === 'completed' && state.outcome).toBe('cancelled')
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId)).toEqual([tenants.mixed])
  })

  it('a halted deployment: the job pauses its run (HALTED) and repairs nothing; a resume is refused until lifted', async () => {
    const runId = await runningRun(bed)
    const runbook = countingRunbook()
    // The read model does not list the run (no projector here): only the work path can pause it.
    await haltDeployment(bed, { ...actor, capabilities: ['platform.ops.halt'] }, { reason })
    const job = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    await workerOf(bed, runbook).handle(job.delivery)
    expect(job.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([])
    const state = await loadRun(bed.log, runId)
    expect(state.status === 'paused' && state.pause.reasonCode).toBe('HALTED')
    // The pause records who halted and why, as the halt's own command would have (SPEC §9).
    const paused = (await runEvents(bed.log, runId)).find((e) => e.event.type === 'RunPaused')!
    expect(paused.event.type === 'RunPaused' && paused.event.data.reason.reasonText).toBe(reason.text)
    expect(paused.metadata.initiator).toMatchObject({ kind: 'operator', platformUserId: actor.operatorId })
    await expect(resumeRun(bed, actor, runId, { reason: null })).rejects.toMatchObject({ code: 'HALTED' })
    await liftHalt(bed, { ...actor, capabilities: ['platform.ops.halt'] }, { reason })
    expect((await loadRun(bed.log, runId)).status).toBe('paused')
  })
})

describe.runIf(TEST_POSTGRES_URL)('repairs in flight (PostgreSQL: a second connection holds what a worker holds)', () => {
  let bed: WorkBed

  beforeEach(async () => {
    bed = await openWorkBed(freshPostgresDatabase)
  })

  afterEach(async () => {
    await bed.close()
  })

  /** The run's repairs lock held shared, as a repair in flight holds it. */
  const repairInFlight = (runId: string) => holdAdvisoryLock(bed.sql, runRepairsLockName(runId), 'shared')

  it('a cancelled run waits for its repairs in flight, then completes cancelled', async () => {
    const runId = await runningRun(bed)
    const inFlight = await repairInFlight(runId)
    try {
      await cancelRun(bed, actor, runId, { reason })
      expect(await finishCancelledRun(bed, runId)).toBe(false)
      expect((await loadRun(bed.log, runId)).status).toBe('running')
    } finally {
      await inFlight.release()
    }
    expect(await finishCancelledRun(bed, runId)).toBe(true)
    const state = await loadRun(bed.log, runId)
    expect(state.status === 'completed' && state.outcome).toBe('cancelled')
    const completed = (await runEvents(bed.log, runId)).at(-1)!.event
    expect(completed.type === 'RunCompleted' && completed.data.summaryCounts).toMatchObject({ total: 0, failed: 0 })
  })

  it('a pause recorded while a repair is under way lets it finish and be counted; the run stays paused', async () => {
    const runId = await runningRun(bed)
    const slow = repairThatWaits()
    const job = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    const handled = workerOf(bed, slow.runbook).handle(job.delivery)
    await slow.isRepairing
    await pauseRun(bed, actor, runId, { reason })
    slow.release()
    await handled
    expect(job.settled).toEqual([{ kind: 'ack' }])
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId)).toEqual([tenants.mixed])
    expect((await loadRun(bed.log, runId)).status).toBe('paused')
  })

  it('a cancel recorded while a repair is under way completes the run once that repair is recorded, counting it', async () => {
    const runId = await runningRun(bed)
    const slow = repairThatWaits()
    const job = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    const handled = workerOf(bed, slow.runbook).handle(job.delivery)
    await slow.isRepairing
    await cancelRun(bed, actor, runId, { reason })
    expect(await finishCancelledRun(bed, runId)).toBe(false)
    slow.release()
    await handled
    const state = await loadRun(bed.log, runId)
    expect(state.status === 'completed' && state.outcome).toBe('cancelled')
    const completed = (await runEvents(bed.log, runId)).at(-1)!.event
    expect(completed.type === 'RunCompleted' && completed.data.summaryCounts).toMatchObject({ total: 4, updated: 3, failed: 0 })
  })

  it('maxConcurrency 1 across two workers: the second repair waits for the first to commit', async () => {
    const runId = await runningRun(bed)
    await changeRunLimits(bed, actor, runId, { maxConcurrency: 1 })
    const base = countingRunbook()
    const slow = repairThatWaits(base)
    const first = fakeDelivery(jobFor(runId, tenants.mixed), 1)
    const firstDone = workerOf(bed, slow.runbook).handle(first.delivery)
    await slow.isRepairing
    const second = fakeDelivery(jobFor(runId, tenants.clean), 1)
    const offeredAgain = new LosingJobQueue()
    await workerOf(bed, base, offeredAgain).handle(second.delivery)
    // No slot: the job goes back to the queue (a new message, so waiting uses up no delivery) and is acked.
    expect(second.settled).toEqual([{ kind: 'ack' }])
    expect(offeredAgain.lost.map((l) => l.job)).toEqual([jobFor(runId, tenants.clean)])
    expect(base.executions).toEqual([])
    slow.release()
    await firstDone
    expect(first.settled).toEqual([{ kind: 'ack' }])
    const again = fakeDelivery(jobFor(runId, tenants.clean), 2)
    await workerOf(bed, base).handle(again.delivery)
    expect(again.settled).toEqual([{ kind: 'ack' }])
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId)).toEqual([tenants.mixed, tenants.clean])
  })
  it('a worker that last knew a higher limit takes its slot by the lowered one: no repair beyond the new limit', async () => {
    const runId = await runningRun(bed)
    await changeRunLimits(bed, actor, runId, { maxConcurrency: 3 })
    const base = countingRunbook()
    const offeredAgain = new LosingJobQueue()
    // This worker repairs one tenant first, so it knows the run (limit 3) when its next job comes.
    const knowing = workerOf(bed, base, offeredAgain)
    await knowing.handle(fakeDelivery(jobFor(runId, tenants.mixed), 1).delivery)
    const slow = repairThatWaits(base)
    const firstDone = workerOf(bed, slow.runbook).handle(fakeDelivery(jobFor(runId, tenants.clean), 1).delivery)
    await slow.isRepairing
    await changeRunLimits(bed, actor, runId, { maxConcurrency: 1 })
    const late = fakeDelivery(jobFor(runId, tenants.invalid), 1)
    await knowing.handle(late.delivery)
    expect(late.settled).toEqual([{ kind: 'ack' }])
    expect(offeredAgain.lost.map((l) => l.job)).toEqual([jobFor(runId, tenants.invalid)])
    expect(base.executions).toEqual([tenants.mixed])
    slow.release()
    await firstDone
    expect(base.executions).toEqual([tenants.mixed, tenants.clean])
  })
  it('a job the gate refuses is acked without touching the repaired tables (one gone cannot fail it)', async () => {
    const runId = await runningRun(bed)
    const runbook: Runbook & { executions: number[]; repairs?: readonly string[] } = countingRunbook()
    const worker = workerOf(bed, runbook)
    // The worker knows the run (its limit): its next job sends the slot and the universe ahead of the gate.
    await worker.handle(fakeDelivery(jobFor(runId, tenants.mixed), 1).delivery)
    await pauseRun(bed, actor, runId, { reason })
    // A repaired table that does not exist (gone in a migration, say): a snapshot of it would fail.
    runbook.repairs = ['no_such_table']
    const whilePaused = fakeDelivery(jobFor(runId, tenants.clean), 1)
    await worker.handle(whilePaused.delivery)
    expect(whilePaused.settled).toEqual([{ kind: 'ack' }])
    expect(runbook.executions).toEqual([tenants.mixed])
    expect((await tenantProcessedEvents(bed.log, runId)).map((p) => p.tenantId)).toEqual([tenants.mixed])
  })
})
