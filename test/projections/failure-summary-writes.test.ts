import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DomainEvent } from '../../src/events/index.js'
import { operationRunsProjection } from '../../src/projections/operation-runs.js'
import type { ProjectedEvent } from '../../src/projections/projector.js'
import { getRun } from '../../src/projections/queries.js'
import { databaseFlavours } from '../support/databases.js'
import { nextEventId, openTestBed, runRequested, tenantWorker, type TestBed } from './fixtures.js'

/**
 * A run's failure summary grows with its failed tenants; a batch of results with no failure among them must
 * leave it as stored, not write it again (which made each batch cost the failures so far: quadratic in a
 * large run's failures). Observed where PostgreSQL keeps a large value: the TOAST table of `operation_runs`,
 * where a value written again gets a new chunk id (the statistics' insert counters would not do: a backend
 * reports them late, so a transaction's figures may hold an earlier one's).
 */
describe.each(databaseFlavours())('the failure summary is written only by batches with failures ($name)', ({ open }) => {
  let bed: TestBed
  const runId = '01J0FAILURESUMMARYWRITES00'
  const tenantIds = Array.from({ length: 120 }, (_, index) => 1000 + index)
  let position = 0

  const projected = (event: DomainEvent): ProjectedEvent => ({
    event,
    metadata: { eventId: nextEventId(), correlationId: runId, causationId: null, initiator: tenantWorker, occurredAt: '2026-12-06T04:00:00.000Z' },
    version: 1,
    streamId: `run-${runId}`,
    revision: position,
    position: String(++position),
    recordedAt: new Date(),
  })
  const result = (tenantId: number, failed: boolean): ProjectedEvent =>
    projected({
      type: 'TenantProcessed',
      data: {
        runId,
        tenantId,
        attempt: 1,
        // Random text, so that the summary stays large once compressed and is kept out of line.
        result: failed ? { status: 'failed', reasonCode: 'INVALID_DATA', message: `tenant ${tenantId}: ${randomBytes(120).toString('hex')}` } : { status: 'succeeded', total: 20, updated: 5 },
        processedAt: '2026-12-06T04:00:01.000Z',
        startedAt: '2026-12-06T04:00:00.500Z',
        completedAt: '2026-12-06T04:00:01.000Z',
      },
    })

  /** Applies a batch in one transaction; the chunk ids of the values `operation_runs` keeps out of line, after it. */
  async function applyThenChunkIds(events: ProjectedEvent[]): Promise<string[]> {
    await bed.sql.begin((tx) => operationRunsProjection.apply(tx, events))
    const [table] = await bed.sql<Array<{ toast: string }>>`
      select reltoastrelid::regclass::text as toast from pg_class where oid = 'operation_runs'::regclass`
    const rows = await bed.sql.unsafe<Array<{ chunk: string }>>(`select distinct chunk_id::text as chunk from ${table!.toast} order by 1`)
    return rows.map((row) => row.chunk)
  }

  beforeAll(async () => {
    bed = await openTestBed(open)
    await applyThenChunkIds([
      projected(runRequested({ runId, requestedAt: '2026-12-06T04:00:00.000Z', scope: 'all_tenants', targetTenantId: null, tenantIds })),
      projected({ type: 'RunStarted', data: { runId, startedAt: '2026-12-06T04:00:00.100Z' } }),
    ])
  })
  afterAll(async () => {
    await bed?.db.close()
  })

  it('keeps the stored summary through batches of successes, and appends a batch\'s failures in order', async () => {
    const failedFirst = tenantIds.slice(0, 100)
    const outOfLine = await applyThenChunkIds(failedFirst.map((id) => result(id, true)))
    expect(outOfLine).toHaveLength(1)
    const stored = (await getRun(bed.sql, runId))!.failureSummary

    expect(await applyThenChunkIds(tenantIds.slice(100, 110).map((id) => result(id, false)))).toEqual(outOfLine)
    expect((await getRun(bed.sql, runId))!.failureSummary).toEqual(stored)

    const later = tenantIds.slice(110, 112)
    const rewritten = await applyThenChunkIds(later.map((id) => result(id, true)))
    expect(rewritten).toHaveLength(1)
    expect(rewritten).not.toEqual(outOfLine)
    const summary = (await getRun(bed.sql, runId))!.failureSummary
    expect(summary.map((entry) => entry.tenant_id)).toEqual([...failedFirst, ...later])
    expect((await getRun(bed.sql, runId))!.summaryCounts).toMatchObject({ failed: 102, processed: 200 })
  })
})
