import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidTransitionError } from '../../src/commands/errors.js'
import { cancelRun, changeRunLimits, pauseRun, resumeRun } from '../../src/commands/run-control.js'
import { loadRun } from '../../src/commands/run-execution.js'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import type { JobConsumer, TenantJob } from '../../src/queue/job-queue.js'
import { findingsLifecycleBackfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import type { Runbook } from '../../src/runbooks/runbook.js'
import { createDispatcher } from '../../src/workers/dispatcher.js'
import { TenantWorker } from '../../src/workers/tenant-worker.js'
import { finding, insertFindings, insertTenant } from '../runbooks/findings-fixture.js'
import type { Database } from '../../src/db/database.js'
import { databaseFlavours, freshPostgresDatabase, TEST_NATS_URL, TEST_POSTGRES_URL } from '../support/databases.js'
import { openTestNatsQueue, type OpenedQueue } from '../support/service.js'
import { actor, openWorkBed, runEvents, startAllTenantsRun, tenants, universe, waitFor, type WorkBed } from './work-path-bed.js'

/**
 * The invariants of SPEC §9 under random schedules of pause, resume, cancel, limit changes, repeated jobs and
 * repairs that die half-way, against the real work path (dispatcher, tenant workers, the database):
 * each processed tenant is recorded exactly once; a cancelled run's untouched tenants keep their findings;
 * a processed tenant is repaired (its preflight finds nothing left); at most `maxConcurrency` repairs are
 * recorded between a pause and the next resume (those that were in flight).
 */

const EXTRA_TENANTS = Array.from({ length: 9 }, (_, i) => 1000 + i)
const reason = { code: 'INCIDENT', text: 'schedules of operator controls' }

type Action =
  | { kind: 'pause' }
  | { kind: 'resume' }
  | { kind: 'cancel' }
  | { kind: 'limits'; maxConcurrency: number }
  | { kind: 'redeliver'; tenant: number }
  | { kind: 'crash'; tenant: number }
  | { kind: 'progress' }

const tenantIndex = fc.nat({ max: EXTRA_TENANTS.length + universe.length - 1 })
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.constant<Action>({ kind: 'pause' }),
  fc.constant<Action>({ kind: 'resume' }),
  fc.constant<Action>({ kind: 'cancel' }),
  fc.integer({ min: 1, max: 4 }).map<Action>((maxConcurrency) => ({ kind: 'limits', maxConcurrency })),
  tenantIndex.map<Action>((tenant) => ({ kind: 'redeliver', tenant })),
  tenantIndex.map<Action>((tenant) => ({ kind: 'crash', tenant })),
  fc.constant<Action>({ kind: 'progress' }),
)

interface Flavour {
  name: string
  open: () => Promise<Database>
  /** The queue jobs go through: in-process, or NATS JetStream on a stream of its own. */
  openQueue: () => Promise<OpenedQueue>
  runs: number
}

const inProcess = async (): Promise<OpenedQueue> => {
  const queue = new InProcessJobQueue<TenantJob>({ ackWaitMs: 2_000 })
  return { queue, dispose: () => queue.close() }
}

const flavours: Flavour[] = [
  ...databaseFlavours().map((db) => ({ name: `${db.name}, in-process queue`, open: db.open, openQueue: inProcess, runs: process.env.CI ? 12 : 6 })),
  ...(TEST_POSTGRES_URL && TEST_NATS_URL
    ? [{ name: 'PostgreSQL, NATS JetStream', open: freshPostgresDatabase, openQueue: openTestNatsQueue, runs: process.env.CI ? 6 : 3 }]
    : []),
]

describe.each(flavours)('run control under random schedules on $name', ({ open, openQueue, runs }) => {
  let bed: WorkBed
  const targets = [...universe, ...EXTRA_TENANTS]

  beforeAll(async () => {
    bed = await openWorkBed(open)
    for (const id of EXTRA_TENANTS) {
      await insertTenant(bed.sql, { id, workspaceId: id, name: `Extra ${id}` })
    }
  })

  afterAll(async () => {
    await bed?.close()
  })

  async function digestOf(tenantId: number): Promise<string> {
    const [row] = await bed.sql<Array<{ digest: string }>>`
      select md5(coalesce(string_agg(f::text, '|' order by f.id), '')) as digest from findings f where tenant_id = ${tenantId}`
    return row!.digest
  }

  /** Fresh findings that need repair in every extra tenant, and the fixed ones reset, so each schedule starts alike. */
  async function resetFindings(round: number): Promise<void> {
    await bed.sql`delete from findings where tenant_id = any(${EXTRA_TENANTS}::bigint[])`
    await insertFindings(
      bed.sql,
      EXTRA_TENANTS.flatMap((tenantId, i) => [
        finding(tenantId * 100 + 1 + round * 100_000, tenantId, { status: 'open', severity: 'high', firstSeenAt: null }),
        finding(tenantId * 100 + 2 + round * 100_000, tenantId, { status: 'fixed', severity: i % 2 ? 'low' : 'medium' }),
      ]),
    )
  }

  it('counts each processed tenant once and touches no cancelled tenant, whatever the schedule', async () => {
    let round = 0
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 8 }), async (schedule) => {
        round++
        await resetFindings(round)
        const crashes = new Set<number>()
        const runbook: Runbook = {
          ...findingsLifecycleBackfill,
          async executeTenant(tx, tenantId) {
            const result = await findingsLifecycleBackfill.executeTenant(tx, tenantId, {})
            // A repair that dies after its work and before its commit: the transaction rolls back.
            if (crashes.delete(tenantId)) throw Object.assign(new Error('connection reset mid-repair'), { code: 'ECONNRESET' })
            return result
          },
        }
        const opened = await openQueue()
        const queue = opened.queue
        const deps = { sql: bed.sql, log: bed.log, queue, logger: bed.logger }
        const dispatcher = createDispatcher(deps, { pollIntervalMs: 20 })
        const consumers: JobConsumer[] = [
          await new TenantWorker({ ...deps, catalog: { find: () => runbook } }, { retryDelayMs: 5, slotWaitMs: 5 }).start(2),
          await new TenantWorker({ ...deps, catalog: { find: () => runbook } }, { retryDelayMs: 5, slotWaitMs: 5 }).start(2),
        ]
        dispatcher.start()
        try {
          const before = new Map<number, string>()
          for (const tenantId of targets) before.set(tenantId, await digestOf(tenantId))
          const runId = await startAllTenantsRun(bed)
          let maxConcurrencySeen = (await limitsOf(runId)).maxConcurrency
          let processedSoFar = 0

          for (const step of schedule) {
            try {
              if (step.kind === 'pause') await pauseRun(bed, actor, runId, { reason })
              else if (step.kind === 'resume') await resumeRun(bed, actor, runId, { reason: null })
              else if (step.kind === 'cancel') await cancelRun(bed, actor, runId, { reason })
              else if (step.kind === 'limits') {
                await changeRunLimits(bed, actor, runId, { maxConcurrency: step.maxConcurrency })
                maxConcurrencySeen = Math.max(maxConcurrencySeen, step.maxConcurrency)
              } else if (step.kind === 'redeliver') {
                const tenantId = targets[step.tenant]!
                await queue.publish({ runId, runbookKey: runbook.key, tenantIds: [tenantId], generation: 0 }, `again-${runId}-${tenantId}-${Math.random()}`)
              } else if (step.kind === 'crash') crashes.add(targets[step.tenant]!)
              else {
                // Let the run move on a little: until one more tenant is recorded or it cannot move.
                const target = processedSoFar + 1
                await waitFor(async () => {
                  const state = await loadRun(bed.log, runId)
                  if (state.status === 'none') return false
                  processedSoFar = state.results.size
                  return processedSoFar >= target || state.status !== 'running'
                }, 20_000, 'progress')
              }
            } catch (error) {
              if (!(error instanceof InvalidTransitionError)) throw error
            }
          }

          // Bring the run to its end: resume what is paused (unless cancelled), then wait.
          await waitFor(async () => {
            const state = await loadRun(bed.log, runId)
            if (state.status === 'paused' && !state.cancellation) await resumeRun(bed, actor, runId, { reason: null })
            return state.status === 'completed'
          }, 30_000, 'the run to complete')

          const stream = await runEvents(bed.log, runId)
          const state = await loadRun(bed.log, runId)
          if (state.status !== 'completed') throw new Error('not completed')
          const processed = stream.flatMap((e) => (e.event.type === 'TenantProcessed' ? [e.event.data] : []))
          const processedIds = processed.map((p) => p.tenantId)
          expect(new Set(processedIds).size).toBe(processedIds.length)
          expect(stream.filter((e) => e.event.type === 'RunCompleted')).toHaveLength(1)
          if (state.outcome !== 'cancelled') expect([...processedIds].sort((a, b) => a - b)).toEqual([...targets].sort((a, b) => a - b))

          // Stored results and recorded results are the same set (nothing repaired without being counted).
          const stored = await bed.sql<Array<{ tenant_id: string }>>`select tenant_id from tenant_job_results where run_id = ${runId}`
          expect(stored.map((r) => Number(r.tenant_id)).sort((a, b) => a - b)).toEqual([...processedIds].sort((a, b) => a - b))

          for (const tenantId of targets) {
            const result = processed.find((p) => p.tenantId === tenantId)?.result
            if (!result) expect(await digestOf(tenantId), `untouched tenant ${tenantId}`).toBe(before.get(tenantId))
            else if (result.status === 'succeeded') {
              expect((await findingsLifecycleBackfill.preflightTenant(bed.sql, tenantId, {})).affected).toBe(0)
            } else expect(tenantId).toBe(tenants.invalid)
          }

          // While paused, only the repairs in flight at the pause were recorded.
          let pausedSince: number | null = null
          let recordedWhilePaused = 0
          for (const e of stream) {
            if (e.event.type === 'RunPaused') pausedSince = e.revision
            else if (e.event.type === 'RunResumed') {
              // The repairs in flight at the pause, and at most one per job that a shared job committed between the
              // pause's read of the stored results (it records those first) and its append.
              expect(recordedWhilePaused).toBeLessThanOrEqual(2 * maxConcurrencySeen)
              pausedSince = null
              recordedWhilePaused = 0
            } else if (e.event.type === 'TenantProcessed' && pausedSince !== null) recordedWhilePaused++
          }
        } finally {
          await dispatcher.stop()
          for (const consumer of consumers) await consumer.stop()
          await opened.dispose()
        }
      }),
      { numRuns: runs },
    )
  })

  async function limitsOf(runId: string) {
    const state = await loadRun(bed.log, runId)
    if (state.status === 'none') throw new Error('no run')
    return state.limits
  }
})
