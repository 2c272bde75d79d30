import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import type { JobConsumer, TenantJob } from '../../src/queue/job-queue.js'
import { testCatalog } from '../support/catalog.js'
import { createDispatcher } from '../../src/workers/dispatcher.js'
import { TenantWorker } from '../../src/workers/tenant-worker.js'
import { readFindings } from '../runbooks/findings-fixture.js'
import { databaseFlavours } from '../support/databases.js'
import {
  dispatchRuns,
  openWorkBed,
  planSums,
  preflightOf,
  runEvents,
  startAllTenantsRun,
  tenantJobResults,
  tenantProcessedEvents,
  tenants,
  universe,
  waitFor,
  waitForRunCompleted,
  type WorkBed,
} from './work-path-bed.js'

describe.each(databaseFlavours())('a full all-tenants run on $name with the in-process queue', ({ open }) => {
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

  it('records each tenant once, completes once, fails only the invalid tenant, and counts what the preflight promised', async () => {
    const preflight = await preflightOf(bed.sql, universe)
    const invalidBefore = await readFindings(bed.sql, tenants.invalid)
    const deps = { sql: bed.sql, log: bed.log, queue, logger: bed.logger }
    consumer = await new TenantWorker({ ...deps, catalog: testCatalog }, { retryDelayMs: 10 }).start(2)
    const dispatcher = createDispatcher(deps)

    const runId = await startAllTenantsRun(bed)
    await dispatchRuns(dispatcher, bed.log, [runId])
    const completed = await waitForRunCompleted(bed.log, runId)

    const types = (await runEvents(bed.log, runId)).map((e) => e.event.type)
    expect(types.filter((t) => t === 'RunRequested')).toHaveLength(1)
    expect(types.filter((t) => t === 'RunStarted')).toHaveLength(1)
    expect(types.filter((t) => t === 'RunCompleted')).toHaveLength(1)
    expect(types.at(-1)).toBe('RunCompleted')

    const processed = await tenantProcessedEvents(bed.log, runId)
    expect(processed.map((p) => p.tenantId).sort((a, b) => a - b)).toEqual(universe)
    const resultOf = (tenantId: number) => processed.find((p) => p.tenantId === tenantId)!.result
    for (const tenantId of [tenants.mixed, tenants.clean]) {
      const { affected, total } = preflight.get(tenantId)!
      expect(resultOf(tenantId)).toEqual({ status: 'succeeded', total, updated: affected })
    }
    expect(resultOf(tenants.invalid)).toMatchObject({ status: 'failed', reasonCode: 'INVALID_DATA' })
    expect(await readFindings(bed.sql, tenants.invalid)).toEqual(invalidBefore)

    // The run's counts are the preflight of the tenants that completed (the failed tenant's findings
    // are in the preflight's totals but, per SPEC §3, not in the run's).
    const succeeded = [tenants.mixed, tenants.clean].map((id) => preflight.get(id)!)
    const updated = succeeded.reduce((n, p) => n + p.affected, 0)
    const total = succeeded.reduce((n, p) => n + p.total, 0)
    expect({ updated, total }).toEqual({ updated: 3, total: 6 })
    expect(completed.outcome).toBe('partially_succeeded')
    expect(completed.summaryCounts).toEqual({ total, processed: total, updated, skipped: total - updated, failed: 1, tenants: 3 })
    expect(completed.failureSummary).toHaveLength(1)
    expect(completed.failureSummary[0]).toMatchObject({ tenantId: tenants.invalid, reasonCode: 'INVALID_DATA' })
    expect(completed.failureSummary[0]!.message).toContain('finding 301')

    // The run's own preflight (in RunRequested) covered the whole universe; its sums, over the tenants that
    // would succeed, are the run's counts (SPEC §2).
    const requested = (await runEvents(bed.log, runId))[0]!.event
    const sums = planSums(preflight)
    expect(requested.type === 'RunRequested' && requested.data.preflight).toEqual({ affectedCount: sums.affected, totalCount: sums.total, estimatedTenants: 3 })
    expect([sums.affected, sums.total]).toEqual([updated, total])

    const rows = await tenantJobResults(bed.sql, runId)
    expect(rows.map((r) => [Number(r.tenant_id), r.status])).toEqual([
      [tenants.mixed, 'succeeded'],
      [tenants.clean, 'succeeded'],
      [tenants.invalid, 'failed'],
    ])

    // An at-least-once dispatcher handling everything again (checkpoint lost, then started anew: a process
    // that leads next) changes nothing.
    const eventCount = (await runEvents(bed.log, runId)).length
    await bed.sql`delete from subscription_checkpoints`
    await dispatcher.stop()
    let handledAgain = 0
    await waitFor(async () => (handledAgain += await dispatcher.runOnce()) >= eventCount, 20_000, 'the dispatcher to handle the run again')
    expect(await runEvents(bed.log, runId)).toHaveLength(eventCount)

    // A second run over the repaired data updates nothing.
    const afterFirst = await readFindings(bed.sql)
    const secondRunId = await startAllTenantsRun(bed)
    expect(secondRunId).not.toBe(runId)
    await dispatchRuns(dispatcher, bed.log, [secondRunId])
    const second = await waitForRunCompleted(bed.log, secondRunId)
    expect(second.summaryCounts).toEqual({ total, processed: total, updated: 0, skipped: total, failed: 1, tenants: 3 })
    expect(second.outcome).toBe('partially_succeeded')
    expect(await tenantProcessedEvents(bed.log, secondRunId)).toHaveLength(3)
    expect(await readFindings(bed.sql)).toEqual(afterFirst)
  })
})
