import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Projector } from '../../src/projections/projector.js'
import {
  getRun,
  listRunTenants,
  InvalidCursorError,
  listAlertDeliveries,
  listAudit,
  listRuns,
  waitForRun,
  type ListRunsFilter,
  type RunSummary,
} from '../../src/projections/queries.js'
import { readModelProjections } from '../../src/projections/read-model-projections.js'
import { databaseFlavours } from '../support/databases.js'
import { appendRun, hashOf, listWholeAudit, openTestBed, platformWorkspaceId, runbookKey, type TestBed } from './fixtures.js'
import { appendScenario, invalidSeverityMessage } from './scenario.js'

const otherRunbook = 'tenants.cache.rebuild'

interface PlannedRun {
  id: string
  createdAt: string
  runbook: string
  tenantId: number
  status: 'queued' | 'running' | 'completed'
  outcome: 'pending' | 'succeeded' | 'failed'
}

/**
 * 30 runs. Runs 2k and 2k+1 share a creation time (the id breaks the tie); the two newest differ only by
 * a microsecond, which a cursor that went through a JS Date would lose.
 */
function plannedRuns(): PlannedRun[] {
  return Array.from({ length: 30 }, (_, i) => {
    const createdAt =
      i >= 28
        ? `2025-03-02T00:00:00.00000${i - 27}Z`
        : `2025-03-01T${String(10 + Math.floor(i / 2)).padStart(2, '0')}:00:00.000000Z`
    const status = i % 4 === 0 ? 'completed' : i % 4 === 1 ? 'running' : 'queued'
    return {
      id: `run-${String(i).padStart(2, '0')}`,
      createdAt,
      runbook: i % 3 === 0 ? otherRunbook : runbookKey,
      tenantId: 11 + (i % 3),
      status,
      outcome: status !== 'completed' ? 'pending' : i % 8 === 0 ? 'succeeded' : 'failed',
    }
  })
}

function newestFirst(runs: PlannedRun[]): string[] {
  return [...runs]
    .sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1))
    .map((r) => r.id)
}

async function walk(bed: TestBed, filter: Omit<ListRunsFilter, 'cursor'>): Promise<{ ids: string[]; pages: number; items: RunSummary[] }> {
  const items: RunSummary[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const page: Awaited<ReturnType<typeof listRuns>> = await listRuns(bed.sql, { ...filter, cursor })
    expect(page.items.length).toBeLessThanOrEqual(filter.limit)
    items.push(...page.items)
    cursor = page.nextCursor
    pages += 1
    if (pages > 100) throw new Error('pagination does not end')
  } while (cursor)
  return { ids: items.map((r) => r.id), pages, items }
}

const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

describe.each(databaseFlavours())('queries on $name', ({ open }) => {
  let bed: TestBed
  const planned = plannedRuns()

  beforeAll(async () => {
    bed = await openTestBed(open)
    await appendScenario(bed)
    for (const [i, run] of planned.entries()) {
      const second = (s: number) => new Date(Date.parse(run.createdAt) + s * 1000).toISOString()
      await appendRun(bed, {
        requested: {
          runId: run.id,
          runbookKey: run.runbook,
          workspaceId: 200 + run.tenantId - 10,
          targetTenantId: run.tenantId,
          tenantIds: [run.tenantId],
          requestedAt: run.createdAt,
          runIdentityHash: hashOf(`planned-${i}`),
        },
        ...(run.status !== 'queued' ? { startedAt: second(1) } : {}),
        ...(run.status === 'completed'
          ? {
              completed: {
                outcome: run.outcome as 'succeeded' | 'failed',
                summaryCounts: { total: 1, processed: 1, updated: 1, skipped: 0, failed: 0 },
                failureSummary: [],
                completedAt: second(2),
              },
            }
          : {}),
      })
    }
    const projector = new Projector({ store: bed.store, sql: bed.sql, name: 'read-models', projections: readModelProjections({ consoleBaseUrl: 'https://ops.example.com' }) })
    await bed.settle()
    await projector.waitUntilCaughtUp()
  })
  afterAll(async () => {
    await bed.db.close()
  })

  const scenarioRunIds = ['run-fail', 'run-all', 'run-single'] // all created 2025-03-01 09:01–11:00, newest first

  it('pages through every run newest first, whatever the page size, ties broken by id', async () => {
    const expected = newestFirst(planned)
    for (const limit of [1, 7, 200]) {
      const { ids, pages } = await walk(bed, { limit })
      const plannedIds = ids.filter((id) => !scenarioRunIds.includes(id))
      expect(plannedIds).toEqual(expected)
      expect(ids.length).toBe(33)
      expect(pages).toBe(Math.ceil(33 / limit))
    }
    expect((await listRuns(bed.sql, { limit: 2 })).items.map((r) => r.id)).toEqual(['run-29', 'run-28'])
  })

  it('applies each filter and combinations of them across pages', async () => {
    const cases: Array<[Omit<ListRunsFilter, 'cursor' | 'limit'>, (r: PlannedRun) => boolean]> = [
      [{ status: 'completed' }, (r) => r.status === 'completed'],
      [{ status: 'queued' }, (r) => r.status === 'queued'],
      [{ outcome: 'failed' }, (r) => r.outcome === 'failed'],
      [{ runbook: otherRunbook }, (r) => r.runbook === otherRunbook],
      [{ tenantId: 12 }, (r) => r.tenantId === 12],
      [{ runbook: runbookKey, status: 'running', tenantId: 13 }, (r) => r.runbook === runbookKey && r.status === 'running' && r.tenantId === 13],
    ]
    for (const [filter, matches] of cases) {
      const { ids } = await walk(bed, { ...filter, limit: 4 })
      const expected = newestFirst(planned.filter(matches))
      expect(expected.length).toBeGreaterThan(0)
      expect(ids.filter((id) => !scenarioRunIds.includes(id))).toEqual(expected)
    }
    expect((await walk(bed, { runbook: 'no.such.runbook', limit: 4 })).ids).toEqual([])
    // The all-tenants run has no tenant_id: a tenant filter matches only runs that target that tenant.
    expect((await walk(bed, { tenantId: 11, runbook: runbookKey, status: 'completed', limit: 50 })).ids).toContain('run-single')
    expect((await walk(bed, { tenantId: 12, limit: 50 })).ids).not.toContain('run-all')
  })

  it('rejects a cursor it did not issue with InvalidCursorError', async () => {
    const bad = [
      'not a cursor!',
      Buffer.from('hello').toString('base64url'),
      cursorOf([1, 2]),
      cursorOf({ v: 2, at: '2025-03-01T10:00:00.000000Z', id: 'run-01' }),
      cursorOf({ v: 1, at: '2025-02-30T10:00:00.000000Z', id: 'run-01' }),
      cursorOf({ v: 1, at: "2025-03-01'; drop table operation_runs; --", id: 'run-01' }),
      cursorOf({ v: 1, at: '2025-03-01T10:00:00.000000Z', id: '' }),
      'x'.repeat(5000),
    ]
    for (const cursor of bad) {
      await expect(listRuns(bed.sql, { cursor, limit: 5 })).rejects.toBeInstanceOf(InvalidCursorError)
      await expect(listAudit(bed.sql, { cursor, limit: 5 })).rejects.toBeInstanceOf(InvalidCursorError)
    }
    await expect(listRuns(bed.sql, { limit: 0 })).rejects.toBeInstanceOf(RangeError)
    const { nextCursor } = await listRuns(bed.sql, { limit: 5 })
    expect(nextCursor).toMatch(/^[A-Za-z0-9_-]+$/)
  })

  it('returns a run in the SPEC §7 shape with its per-tenant results', async () => {
    expect(await getRun(bed.sql, 'run-all')).toEqual({
      id: 'run-all',
      workspaceId: platformWorkspaceId,
      tenantId: null,
      userId: 'op-alice',
      initiatorName: 'Alice Operator',
      type: runbookKey,
      status: 'completed',
      outcome: 'partially_succeeded',
      runIdentityHash: hashOf('run-all'),
      summaryCounts: { total: 12, processed: 12, updated: 5, skipped: 7, failed: 1, tenants: 3 },
      failureSummary: [{ tenant_id: 12, reason_code: 'INVALID_DATA', message: invalidSeverityMessage }],
      context: {
        runbook: { key: runbookKey },
        parameters: {},
        scope: 'all_tenants',
        target_tenant_id: null,
        source: 'api',
        preflight: { affected_count: 5, total_count: 12, estimated_tenants: 3 },
        reason: { reason_code: 'DATA_REPAIR', reason_text: 'Backfill after the lifecycle bug' },
        platform_initiator: { platform_user_id: 'op-alice', email: 'alice@ops.example', name: 'Alice Operator', is_break_glass: false },
      },
      startedAt: '2025-03-01T10:00:01.000Z',
      completedAt: '2025-03-01T10:05:03.000Z',
      createdAt: '2025-03-01T10:00:00.000Z',
      limits: { maxConcurrency: 4, maxFailures: null },
      pause: null,
      cancellation: null,
      tenantCounts: { targeted: 3, pending: 0, succeeded: 2, failed: 1, cancelled: 0 },
      retryOf: null,
      revertOf: null,
      approval: null,
      verification: null,
      canary: null,
    })
    const tenants = await listRunTenants(bed.sql, 'run-all', { limit: 2 })
    expect(tenants.items).toEqual([
      { tenantId: 11, tenantName: 'Acme', status: 'succeeded', attempts: 1, counts: { total: 8, updated: 5, skipped: 3 }, reasonCode: null, message: null, startedAt: null, completedAt: null },
      { tenantId: 12, tenantName: 'Globex', status: 'failed', attempts: 1, counts: null, reasonCode: 'INVALID_DATA', message: invalidSeverityMessage, startedAt: null, completedAt: null },
    ])
    const rest = await listRunTenants(bed.sql, 'run-all', { limit: 2, cursor: tenants.nextCursor })
    expect(rest).toEqual({
      items: [{ tenantId: 13, tenantName: 'Initech', status: 'succeeded', attempts: 2, counts: { total: 4, updated: 0, skipped: 4 }, reasonCode: null, message: null, startedAt: null, completedAt: null }],
      nextCursor: null,
    })
    expect((await listRunTenants(bed.sql, 'run-all', { status: 'failed', limit: 10 })).items.map((t) => t.tenantId)).toEqual([12])
    await expect(listRunTenants(bed.sql, 'run-all', { limit: 10, cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(InvalidCursorError)
    const single = await getRun(bed.sql, 'run-single')
    expect(single).toMatchObject({ workspaceId: 201, tenantId: 11, startedAt: '2025-03-01T09:01:01.000Z' })
    const queued = await getRun(bed.sql, 'run-02')
    expect(queued).toMatchObject({ status: 'queued', outcome: 'pending', startedAt: null, completedAt: null })
    expect(queued!.tenantCounts).toMatchObject({ succeeded: 0, failed: 0, cancelled: 0 })
    expect(queued!.tenantCounts.pending).toBe(queued!.tenantCounts.targeted)
    expect(await getRun(bed.sql, 'no-such-run')).toBeNull()
  })

  it('waitForRun waits boundedly for the projection to catch up', async () => {
    const started = Date.now()
    expect(await waitForRun(bed.sql, 'run-late', { timeoutMs: 150 })).toBeNull()
    expect(Date.now() - started).toBeGreaterThanOrEqual(140)

    const waiting = waitForRun(bed.sql, 'run-late', { timeoutMs: 10_000 })
    await appendRun(bed, { requested: { runId: 'run-late', requestedAt: '2025-01-01T00:00:00.000Z' } })
    const projector = new Projector({ store: bed.store, sql: bed.sql, name: 'read-models', projections: readModelProjections({ consoleBaseUrl: 'https://ops.example.com' }) })
    await bed.settle()
    await projector.waitUntilCaughtUp()
    expect(await waiting).toMatchObject({ id: 'run-late', status: 'queued' })
  })

  it('lists audit entries newest first in the chain\'s order, by action, across pages', async () => {
    const entries = await listWholeAudit(bed.sql, 4)
    const completedPlanned = planned.filter((r) => r.status === 'completed').length
    const lateRunEntries = entries.filter((e) => e.operationRunId === 'run-late').length // from the waitForRun test
    expect(entries).toHaveLength(10 + planned.length + completedPlanned + lateRunEntries)
    expect(new Set(entries.map((e) => e.id)).size).toBe(entries.length)
    const sequences = entries.map((e) => e.sequence)
    expect(sequences).toEqual([...sequences].sort((a, b) => b - a))
    for (let i = 1; i < entries.length; i += 1) expect(entries[i - 1]!.previousHash).toBe(entries[i]!.hash)
    // The fixture records run by run: run-28's completion (failed, two seconds after both start) was recorded
    // before run-29's start, and the chain's order is the order of recording, not of the entries' times.
    const newestRuns = entries.filter((e) => e.operationRunId === 'run-28' || e.operationRunId === 'run-29')
    expect(newestRuns.slice(0, 3)).toMatchObject([
      { occurredAt: '2025-03-02T00:00:00.000Z', action: 'platform.ops.runbooks.start', operationRunId: 'run-29' },
      { occurredAt: '2025-03-02T00:00:02.000Z', action: 'platform.ops.runbooks.failed', operationRunId: 'run-28' },
      { occurredAt: '2025-03-02T00:00:00.000Z', action: 'platform.ops.runbooks.start', operationRunId: 'run-28' },
    ])
    expect(entries.map((e) => e.action)).toContain('platform.ops.login.rate_limited')

    const failed = await listAudit(bed.sql, { action: 'platform.ops.runbooks.failed', limit: 50 })
    expect(failed.nextCursor).toBeNull()
    expect(failed.items[failed.items.length - 1]).toEqual({
      id: expect.any(String),
      action: 'platform.ops.runbooks.failed',
      occurredAt: '2025-03-01T11:15:01.000Z',
      actorUserId: 'op-alice',
      actorEmail: 'alice@ops.example',
      operationRunId: 'run-fail',
      context: expect.objectContaining({ outcome: 'failed', runbook_key: runbookKey, scope: 'single_tenant' }),
      sequence: expect.any(Number),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      previousHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    })
  })

  it('lists alert deliveries, for one run or all', async () => {
    expect(await listAlertDeliveries(bed.sql, { runId: 'run-all' })).toEqual([
      {
        id: 'run-all:dest-email',
        alertKey: 'operations.run.failed',
        runId: 'run-all',
        workspaceId: platformWorkspaceId,
        destinationId: 'dest-email',
        payload: { run_id: 'run-all', run_type: runbookKey, scope: 'all_tenants', console_url: 'https://ops.example.com/system/ops/runs/run-all' },
        status: 'recorded',
        createdAt: '2025-03-01T10:05:03.000Z',
      },
      expect.objectContaining({ id: 'run-all:dest-hook', destinationId: 'dest-hook' }),
    ])
    const failedPlanned = planned.filter((r) => r.outcome === 'failed').length
    const all = await listAlertDeliveries(bed.sql)
    expect(all).toHaveLength(2 * (2 + failedPlanned))
    expect(all.map((d) => d.createdAt)).toEqual(all.map((d) => d.createdAt).sort())
    expect(await listAlertDeliveries(bed.sql, { limit: 3 })).toEqual(all.slice(-3))
    expect(await listAlertDeliveries(bed.sql, { runId: 'run-single' })).toEqual([])
  })
})
