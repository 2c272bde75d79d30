import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { cancelRun, pauseRun, resumeRun } from '../../src/commands/run-control.js'
import { loadRun } from '../../src/commands/run-execution.js'
import { planRequestedRun } from '../../src/commands/run-plan.js'
import { PLAN_IN_BACKGROUND_ABOVE } from '../../src/commands/start-run.js'
import { streams } from '../../src/events/index.js'
import { findingsLifecycleBackfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import type { JobConsumer, TenantJob } from '../../src/queue/job-queue.js'
import { Projector } from '../../src/projections/projector.js'
import { readModelProjections, readModelProjector, readModelProjectorName } from '../../src/projections/read-model-projections.js'
import { createDispatcher } from '../../src/workers/dispatcher.js'
import { createPlanner } from '../../src/workers/planner.js'
import { Reconciler } from '../../src/workers/reconciler.js'
import { TenantWorker } from '../../src/workers/tenant-worker.js'
import { databaseFlavours, freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'
import {
  actor,
  countingPreflightScans,
  LosingJobQueue,
  openWorkBed,
  planSums,
  preflightOf,
  runEvents,
  startAllTenantsRun,
  startSingleTenantRun,
  tenants,
  universe,
  waitForRunCompleted,
  type WorkBed,
} from './work-path-bed.js'

const reason = { code: 'INCIDENT', text: 'checking the plan waits for its scan' }

/** A start over more tenants than PLAN_IN_BACKGROUND_ABOVE answers before its plan (here: any start). */
describe.each(databaseFlavours())('runs planned in the background on $name', ({ open }) => {
  let bed: WorkBed
  let consumer: JobConsumer | undefined

  beforeEach(async () => {
    bed = await openWorkBed(open)
    consumer = undefined
  })
  afterEach(async () => {
    await consumer?.stop()
    await bed.close()
  })

  const startUnplanned = () => startAllTenantsRun({ ...bed, planInBackgroundAbove: 0 } as WorkBed)

  it('plans above the threshold only: a start over fewer tenants carries its plan as before', async () => {
    expect(PLAN_IN_BACKGROUND_ABOVE).toBeGreaterThanOrEqual(universe.length)
    const plannedId = await startAllTenantsRun(bed)
    const planned = await loadRun(bed.log, plannedId)
    expect(planned.status !== 'none' && planned.preflight).toMatchObject({ estimatedTenants: universe.length })
    // One active run per identity: the first ends (never started, so at once) before the second starts.
    await cancelRun({ log: bed.log, catalog: bed.catalog }, actor, plannedId, { reason })
    const unplanned = await loadRun(bed.log, await startUnplanned())
    expect(unplanned.status !== 'none' && unplanned.preflight).toBeNull()
    expect(unplanned.status !== 'none' && unplanned.request.preflight).toBeNull()
  })

  it('dispatches nothing before the plan, which counts the data before any repair, and then runs as planned', async () => {
    const before = await preflightOf(bed.sql, universe)
    const queue = new LosingJobQueue()
    const dispatcher = createDispatcher({ sql: bed.sql, log: bed.log, queue, logger: bed.logger })
    const runId = await startUnplanned()

    await dispatcher.runOnce()
    expect((await loadRun(bed.log, runId)).status).toBe('queued')
    expect(queue.lost).toEqual([])

    const planner = createPlanner({ ...bed })
    await planner.runOnce()
    const run = await loadRun(bed.log, runId)
    const { affected, total } = planSums(before)
    expect(run.status !== 'none' && run.preflight).toEqual({ affectedCount: affected, totalCount: total, estimatedTenants: universe.length })
    const planned = (await runEvents(bed.log, runId)).filter((e) => e.event.type === 'RunPlanned')
    expect(planned).toHaveLength(1)
    expect(planned[0]!.metadata.initiator).toEqual({ kind: 'system', component: 'planner' })
    // The plan answers the run's request: its cause.
    const [requested] = await runEvents(bed.log, runId)
    expect(planned[0]!.metadata.causationId).toBe(requested!.metadata.eventId)

    await dispatcher.runOnce()
    expect((await loadRun(bed.log, runId)).status).toBe('running')
    expect(queue.lost.map((j) => j.job.tenantIds).flat().sort((a, b) => a - b)).toEqual(universe)
    // Its jobs name the event the dispatcher answered: the plan (RunStarted is appended by that same pass).
    expect(new Set(queue.lost.map((j) => j.job.causationId))).toEqual(new Set([planned[0]!.metadata.eventId]))

    // A second planner (another process, a replayed RunRequested) records nothing more.
    expect(await planRequestedRun(bed, runId)).toEqual({ planned: false, why: 'not_waiting' })
    expect((await runEvents(bed.log, runId)).filter((e) => e.event.type === 'RunPlanned')).toHaveLength(1)
  })

  it('completes a run planned in the background with the counts its plan promised', async () => {
    const queue = new InProcessJobQueue<TenantJob>()
    const deps = { sql: bed.sql, log: bed.log, queue, logger: bed.logger }
    consumer = await new TenantWorker({ ...deps, catalog: bed.catalog }, { retryDelayMs: 10 }).start(2)
    const dispatcher = createDispatcher(deps)
    const planner = createPlanner({ ...deps, catalog: bed.catalog })
    const runId = await startUnplanned()
    await planner.runOnce()
    await dispatcher.runOnce()
    const completed = await (async () => {
      const done = waitForRunCompleted(bed.log, runId)
      // The dispatcher follows the results as the service's would (its subscription is not started here).
      while (!(await Promise.race([done.then(() => true), dispatcher.runOnce().then(() => false)]))) {
        /* read again */
      }
      return done
    })()
    const run = await loadRun(bed.log, runId)
    const preflight = run.status !== 'none' ? run.preflight! : null
    // SPEC §2: on data that did not change in between, the run's updated is its preflight's affected count and
    // its total the total count (the invalid tenant fails: counted by neither).
    expect(completed.summaryCounts.failed).toBe(1)
    expect(completed.summaryCounts.updated).toBe(preflight!.affectedCount)
    expect(completed.summaryCounts.total).toBe(preflight!.totalCount)
    await queue.close()
  })

  it('keeps a run resumed or cancelled before its plan from dispatching anything unplanned', async () => {
    const queue = new LosingJobQueue()
    const dispatcher = createDispatcher({ sql: bed.sql, log: bed.log, queue, logger: bed.logger })
    const control = { log: bed.log, catalog: bed.catalog }

    const cancelled = await startUnplanned()
    await cancelRun(control, actor, cancelled, { reason })
    const state = await loadRun(bed.log, cancelled)
    expect(state.status === 'completed' && state.outcome).toBe('cancelled')
    // A run that ended before its plan needs none.
    expect(await planRequestedRun(bed, cancelled)).toEqual({ planned: false, why: 'not_waiting' })
    expect((await bed.log.read(streams.run(cancelled))).events.map((e) => e.event.type)).not.toContain('RunPlanned')

    const resumed = await startUnplanned()
    await pauseRun(control, actor, resumed, { reason })
    await resumeRun(control, actor, resumed, { reason: null })
    await dispatcher.runOnce()
    expect((await loadRun(bed.log, resumed)).status).toBe('running')
    expect(queue.lost).toEqual([])
    expect(await planRequestedRun(bed, resumed)).toEqual({ planned: true })
    await dispatcher.runOnce()
    expect(queue.lost.map((j) => j.job.tenantIds).flat().sort((a, b) => a - b)).toEqual(universe)
  })

  it("shows the run's context without a preflight until its plan, then the plan's counts", async () => {
    const projector = readModelProjector({ store: bed.store, sql: bed.sql, consoleBaseUrl: 'http://console.test', logger: bed.logger })
    projector.start()
    try {
      const runId = await startUnplanned()
      const contextOf = async () => {
        await projector.waitUntilCaughtUp()
        const [row] = await bed.sql<Array<{ context: { preflight: unknown }; status: string }>>`select context, status from operation_runs where id = ${runId}`
        return row!
      }
      expect(await contextOf()).toMatchObject({ status: 'queued', context: { preflight: null } })
      await planRequestedRun(bed, runId)
      const run = await loadRun(bed.log, runId)
      const plan = run.status !== 'none' ? run.preflight! : null
      expect((await contextOf()).context.preflight).toEqual({
        affected_count: plan!.affectedCount,
        total_count: plan!.totalCount,
        estimated_tenants: universe.length,
      })
    } finally {
      await projector.stop()
    }
  })

  it('audits the plan, and an entry describes its run as it stood at its event whatever the batches (same hashes rebuilt)', async () => {
    const projectorOf = (batchSize: number) =>
      new Projector({ store: bed.store, sql: bed.sql, name: readModelProjectorName, projections: readModelProjections({ consoleBaseUrl: 'http://console.test' }), batchSize })
    const live = projectorOf(1)
    live.start()
    const entries = () =>
      bed.sql<Array<{ action: string; affected: string | null; hash: string }>>`
        select action, context ->> 'affected_count' as affected, hash from audit_log order by sequence`
    let projected: Awaited<ReturnType<typeof entries>>
    try {
      const runId = await startUnplanned()
      // Paused before its plan: the pause's entry has no affected count yet.
      await pauseRun({ log: bed.log, catalog: bed.catalog }, actor, runId, { reason })
      await live.waitUntilCaughtUp()
      await planRequestedRun(bed, runId)
      await live.waitUntilCaughtUp()
      projected = await entries()
    } finally {
      await live.stop()
    }
    const plan = projected.find((e) => e.action === 'platform.ops.runbooks.preflight')
    expect(plan?.affected).toEqual(expect.stringMatching(/^\d+$/))
    expect(projected.find((e) => e.action === 'platform.ops.runbooks.paused')?.affected).toBeNull()
    // One batch holds the pause and the plan now: the pause still says what it said.
    await projectorOf(1000).rebuild()
    expect(await entries()).toEqual(projected)
  })

  it('goes on with the next runs when one scan fails, and the reconciler plans that run later', async () => {
    const failing = {
      ...findingsLifecycleBackfill,
      preflightTenant: (...args: Parameters<typeof findingsLifecycleBackfill.preflightTenant>) =>
        args[1] === tenants.clean
          ? (args[0].unsafe('select 1 / 0') as unknown as ReturnType<typeof findingsLifecycleBackfill.preflightTenant>)
          : findingsLifecycleBackfill.preflightTenant(...args),
    }
    const catalog = { find: (key: string) => (key === failing.key ? failing : undefined) }
    const all = await startUnplanned()
    const single = await startSingleTenantRun({ ...bed, planInBackgroundAbove: 0 } as WorkBed, tenants.mixed)
    await createPlanner({ ...bed, catalog }).runOnce()
    const preflightOf = async (runId: string) => {
      const run = await loadRun(bed.log, runId)
      return run.status !== 'none' ? run.preflight : null
    }
    expect(await preflightOf(all)).toBeNull()
    expect(await preflightOf(single)).toMatchObject({ estimatedTenants: 1 })

    // The reconciler goes through the active runs of the read model.
    const projector = readModelProjector({ store: bed.store, sql: bed.sql, consoleBaseUrl: 'http://console.test', logger: bed.logger })
    projector.start()
    await projector.waitUntilCaughtUp()
    await projector.stop()
    const reconciler = new Reconciler({ sql: bed.sql, log: bed.log, logger: bed.logger, catalog: bed.catalog }, { staleAfterMs: 0 })
    expect(await reconciler.reconcileOnce(new Date(Date.now() + 1_000))).toContain(all)
    expect(await preflightOf(all)).toMatchObject({ estimatedTenants: universe.length })
  })

  it('records nothing for a run whose runbook this process does not know', async () => {
    const runId = await startUnplanned()
    expect(await planRequestedRun({ ...bed, catalog: { find: () => undefined } }, runId)).toEqual({ planned: false, why: 'runbook_unknown' })
    const run = await loadRun(bed.log, runId)
    expect(run.status !== 'none' && run.preflight).toBeNull()
  })
})

/** The plan lock exists on PostgreSQL only: the embedded database is one process with one connection (see RunPlanDeps). */
describe.runIf(TEST_POSTGRES_URL)('the plan lock on PostgreSQL', () => {
  let bed: WorkBed
  beforeEach(async () => {
    bed = await openWorkBed(freshPostgresDatabase)
  })
  afterEach(async () => {
    await bed.close()
  })

  it('scans a run once when planners of several processes plan it at once', async () => {
    const { scanned, catalog } = countingPreflightScans()
    const runId = await startAllTenantsRun({ ...bed, planInBackgroundAbove: 0 } as WorkBed)
    const outcomes = await Promise.all([1, 2, 3].map(() => planRequestedRun({ ...bed, catalog, planLock: true }, runId)))
    expect(outcomes.filter((o) => o.planned)).toHaveLength(1)
    expect(scanned.sort((a, b) => a - b)).toEqual(universe)
    expect((await runEvents(bed.log, runId)).filter((e) => e.event.type === 'RunPlanned')).toHaveLength(1)
  })
})
