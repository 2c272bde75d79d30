import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Projector } from '../../src/projections/projector.js'
import { readModelProjections, readModelProjectorName } from '../../src/projections/read-model-projections.js'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import type { JobConsumer, TenantJob } from '../../src/queue/job-queue.js'
import { BeforeImagePurge } from '../../src/workers/before-image-purge.js'
import { Reconciler } from '../../src/workers/reconciler.js'
import { TenantWorker } from '../../src/workers/tenant-worker.js'
import { passLogger, runLogger } from '../../src/workers/work-log.js'
import { createDispatcher } from '../../src/workers/dispatcher.js'
import { testCatalog } from '../support/catalog.js'
import { freshEmbeddedDatabase } from '../support/databases.js'
import { dispatchRuns, LosingJobQueue, openWorkBed, startAllTenantsRun, universe, waitFor, waitForRunCompleted, type WorkBed } from './work-path-bed.js'

/** A logger whose lines are kept, parsed. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  return { logger, lines }
}

describe('work-path log lines', () => {
  it('carry runId and tenantId: a run line its own tenant (null for all tenants), a pass line both null', () => {
    const { logger, lines } = capturingLogger()
    runLogger(logger, 'run-1', 42).warn('about a single-tenant run')
    runLogger(logger, 'run-2', null).warn('about an all-tenants run')
    passLogger(logger).warn('about no one run')
    expect(lines.map(({ runId, tenantId }) => ({ runId, tenantId }))).toEqual([
      { runId: 'run-1', tenantId: 42 },
      { runId: 'run-2', tenantId: null },
      { runId: null, tenantId: null },
    ])
  })

  describe('of a stalled run re-dispatched and repaired (embedded)', () => {
    let bed: WorkBed
    let queue: InProcessJobQueue<TenantJob>
    let consumer: JobConsumer | undefined

    beforeEach(async () => {
      bed = await openWorkBed(freshEmbeddedDatabase)
      queue = new InProcessJobQueue<TenantJob>()
    })

    afterEach(async () => {
      await consumer?.stop()
      await queue.close()
      await bed.close()
    })

    it('every line of the reconciler, the tenant worker and the purge carries both keys', async () => {
      const { logger, lines } = capturingLogger()
      const deps = { sql: bed.sql, log: bed.log, queue, logger, catalog: bed.catalog }
      const runId = await startAllTenantsRun(bed)
      await dispatchRuns(createDispatcher({ ...deps, logger: bed.logger, queue: new LosingJobQueue() }), bed.log, [runId])
      const projector = new Projector({
        store: bed.store,
        sql: bed.sql,
        name: readModelProjectorName,
        projections: readModelProjections({ consoleBaseUrl: 'http://x' }),
        logger: { info: () => {}, error: () => {} },
      })
      await waitFor(
        async () => {
          await projector.runOnce()
          return (await bed.sql<Array<{ status: string }>>`select status from operation_runs where id = ${runId}`)[0]?.status === 'running'
        },
        20_000,
        'the run projected running',
      )
      consumer = await new TenantWorker({ ...deps, catalog: testCatalog }, { retryDelayMs: 5 }).start(2)
      expect(await new Reconciler(deps, { staleAfterMs: 500 }).reconcileOnce(new Date(Date.now() + 1_000))).toEqual([runId])
      await createDispatcher({ ...deps, logger: bed.logger }).runOnce()
      await waitForRunCompleted(bed.log, runId)
      // The purge's failure line: a table gone under it.
      await bed.sql`drop table if exists ops_before_images`
      await new BeforeImagePurge({ sql: bed.sql, logger }, { retentionDays: 1, intervalMs: 60_000 }).runOnce()

      const messages = lines.map((line) => line.msg)
      expect(messages).toContain('run stalled; tenant jobs re-dispatched')
      expect(messages).toContain('tenant failed for good')
      expect(messages).toContain('before-image purge failed; will try again')
      for (const line of lines) {
        expect(line, String(line.msg)).toHaveProperty('runId')
        expect(line, String(line.msg)).toHaveProperty('tenantId')
      }
      const redispatched = lines.find((line) => line.msg === 'run stalled; tenant jobs re-dispatched')!
      expect(redispatched).toMatchObject({ runId, tenantId: null, tenantIds: universe })
      const failed = lines.find((line) => line.msg === 'tenant failed for good')!
      expect(failed.runId).toBe(runId)
      expect(universe).toContain(failed.tenantId)
    })
  })
})
