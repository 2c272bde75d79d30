import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadRun } from '../../src/commands/run-execution.js'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import type { TenantJob } from '../../src/queue/job-queue.js'
import { findingsLifecycleBackfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import { createDispatcher } from '../../src/workers/dispatcher.js'
import { TenantWorker } from '../../src/workers/tenant-worker.js'
import { verifyRun } from '../../src/workers/verifier.js'
import { streams } from '../../src/events/index.js'
import { databaseFlavours, freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'
import { countingPreflightScans, dispatchRuns, fakeDelivery, jobFor, LosingJobQueue, openWorkBed, startSingleTenantRun, tenants, type WorkBed } from './work-path-bed.js'

/** A run of one tenant, dispatched and repaired: completed. */
async function completedSingleTenantRun(bed: WorkBed, tenantId: number): Promise<string> {
  const runId = await startSingleTenantRun(bed, tenantId)
  await dispatchRuns(createDispatcher({ sql: bed.sql, log: bed.log, queue: new LosingJobQueue(), logger: bed.logger }), bed.log, [runId])
  const worker = new TenantWorker({ sql: bed.sql, log: bed.log, queue: new InProcessJobQueue<TenantJob>(), logger: bed.logger, catalog: bed.catalog }, { retryDelayMs: 5 })
  await worker.handle(fakeDelivery(jobFor(runId, tenantId), 1).delivery)
  expect((await loadRun(bed.log, runId)).status).toBe('completed')
  return runId
}

/** SPEC §11 verification: a completed run's succeeded tenants scanned again with the runbook's own preflight. */
describe.each(databaseFlavours())('run verification on $name', ({ open }) => {
  let bed: WorkBed

  beforeEach(async () => {
    bed = await openWorkBed(open)
  })
  afterEach(async () => {
    await bed.close()
  })


  it('records 0 remaining on data that did not change, once, by the service', async () => {
    const runId = await completedSingleTenantRun(bed, tenants.mixed)
    expect(await verifyRun(bed, runId)).toBe(true)
    const run = await loadRun(bed.log, runId)
    expect(run.status === 'completed' && run.verification).toEqual({ remaining: 0, tenantsWithRemaining: [], verifiedAt: expect.any(String) })
    // A replayed RunCompleted, or a second verifier, records nothing more.
    expect(await verifyRun(bed, runId)).toBe(false)
    const { events } = await bed.log.read(streams.run(runId))
    const verified = events.filter((e) => e.event.type === 'RunVerified')
    expect(verified).toHaveLength(1)
    expect(verified[0]!.metadata.initiator).toEqual({ kind: 'system', component: 'verifier' })
  })

  it('records what would still change, per tenant, when the data moved after the repair', async () => {
    const runId = await completedSingleTenantRun(bed, tenants.mixed)
    // After the repair and before the verification, the platform writes a legacy status again.
    await bed.sql`update findings set status = 'open' where id = (select min(id) from findings where tenant_id = ${tenants.mixed})`
    expect(await verifyRun(bed, runId)).toBe(true)
    const run = await loadRun(bed.log, runId)
    expect(run.status === 'completed' && run.verification).toMatchObject({ remaining: 1, tenantsWithRemaining: [{ tenantId: tenants.mixed, remaining: 1 }] })
  })

  it('does not verify a run whose runbook this process does not know, nor a failed one', async () => {
    const runId = await completedSingleTenantRun(bed, tenants.mixed)
    expect(await verifyRun({ ...bed, catalog: { find: () => undefined } }, runId)).toBe(false)
    const failedRunId = await completedSingleTenantRun(bed, tenants.invalid)
    const failed = await loadRun(bed.log, failedRunId)
    expect(failed.status === 'completed' && failed.outcome).toBe('failed')
    expect(await verifyRun({ ...bed, catalog: { find: () => findingsLifecycleBackfill } }, failedRunId)).toBe(false)
    expect((await bed.log.read(streams.run(failedRunId))).events.map((e) => e.event.type)).not.toContain('RunVerified')
  })
})

/** The verify lock exists on PostgreSQL only: the embedded database is one process with one connection (see VerifierDeps). */
describe.runIf(TEST_POSTGRES_URL)('the verify lock on PostgreSQL', () => {
  let bed: WorkBed
  beforeEach(async () => {
    bed = await openWorkBed(freshPostgresDatabase)
  })
  afterEach(async () => {
    await bed.close()
  })

  it('scans a completed run once when the verifiers of several processes verify it at once', async () => {
    const runId = await completedSingleTenantRun(bed, tenants.mixed)
    const { scanned, catalog } = countingPreflightScans()
    const outcomes = await Promise.all([1, 2, 3].map(() => verifyRun({ ...bed, catalog, verifyLock: true }, runId)))
    expect(outcomes.filter(Boolean)).toHaveLength(1)
    expect(scanned).toEqual([tenants.mixed])
    expect((await bed.log.read(streams.run(runId))).events.filter((e) => e.event.type === 'RunVerified')).toHaveLength(1)
  })
})
