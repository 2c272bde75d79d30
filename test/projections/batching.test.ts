import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DomainEvent, EventMetadata, Initiator } from '../../src/events/index.js'
import { auditLogProjection } from '../../src/projections/audit-log.js'
import type { ProjectedEvent, Projection } from '../../src/projections/projector.js'
import { readModelProjections } from '../../src/projections/read-model-projections.js'
import { databaseFlavours } from '../support/databases.js'
import { alice, dumpReadModels, openTestBed, platformWorkspaceId, runRequested, type TestBed } from './fixtures.js'

/**
 * The projections apply a batch with set-based statements; the rows must be those that applying the same
 * events one at a time leaves, whatever the batch boundaries, with events delivered again (a re-applied
 * event changes nothing) and runs interleaved.
 */

const projections = readModelProjections({ consoleBaseUrl: 'https://ops.example.com' })
const tenants = [11, 12, 13]
const system: Initiator = { kind: 'system', component: 'tenant-worker' }
const reason = { reasonCode: 'INCIDENT' as const, reasonText: 'steering the run by hand' }

/** What may happen to a run after it was requested, in any order (the projection must not care). */
const step = fc.oneof(
  fc.constant({ kind: 'started' as const }),
  fc.record({
    kind: fc.constant('result' as const),
    tenant: fc.constantFrom(...tenants),
    attempt: fc.integer({ min: 1, max: 3 }),
    failed: fc.boolean(),
    total: fc.integer({ min: 0, max: 50 }),
  }),
  fc.record({ kind: fc.constant('paused' as const), code: fc.constantFrom('INCIDENT', 'ERROR_BUDGET_EXCEEDED', 'CANARY_FAILED', 'CANARY_COMPLETE') }),
  fc.constant({ kind: 'resumed' as const }),
  fc.constant({ kind: 'cancelled' as const }),
  fc.record({ kind: fc.constant('limits' as const), maxConcurrency: fc.integer({ min: 1, max: 8 }) }),
  fc.constant({ kind: 'approved' as const }),
  fc.record({ kind: fc.constant('completed' as const), outcome: fc.constantFrom('succeeded', 'partially_succeeded', 'failed', 'cancelled') }),
  fc.record({ kind: fc.constant('verified' as const), remaining: fc.constantFrom(0, 0, 3) }),
)
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never

const runSpec = fc.record({
  allTenants: fc.boolean(),
  canary: fc.boolean(),
  approval: fc.boolean(),
  breakGlass: fc.boolean(),
  steps: fc.array(step, { maxLength: 12 }),
})

type RunSpec = typeof runSpec extends fc.Arbitrary<infer T> ? T : never

function eventOf(runId: string, s: Step, at: string): DomainEvent {
  switch (s.kind) {
    case 'started':
      return { type: 'RunStarted', data: { runId, startedAt: at } }
    case 'result':
      return {
        type: 'TenantProcessed',
        data: {
          runId,
          tenantId: s.tenant,
          attempt: s.attempt,
          result: s.failed ? { status: 'failed', reasonCode: 'INVALID_DATA', message: `tenant ${s.tenant} try ${s.attempt}` } : { status: 'succeeded', total: s.total, updated: Math.floor(s.total / 2) },
          processedAt: at,
          startedAt: at,
          completedAt: null,
        },
      }
    case 'paused':
      return { type: 'RunPaused', data: { runId, reason: { reasonCode: s.code as 'INCIDENT', reasonText: 'paused in a test' }, pausedAt: at } }
    case 'resumed':
      return { type: 'RunResumed', data: { runId, reason: null, generation: 2, resumedAt: at } }
    case 'cancelled':
      return { type: 'RunCancelled', data: { runId, reason, cancelledAt: at } }
    case 'limits':
      return { type: 'RunLimitsChanged', data: { runId, limits: { maxConcurrency: s.maxConcurrency, maxFailures: 1 }, previous: { maxConcurrency: 4, maxFailures: null }, changedAt: at } }
    case 'approved':
      return { type: 'RunApproved', data: { runId, comment: 'fine', approvedAt: at } }
    case 'completed':
      return {
        type: 'RunCompleted',
        data: {
          runId,
          outcome: s.outcome as 'succeeded',
          summaryCounts: { total: 9, processed: 9, updated: 4, skipped: 5, failed: 1 },
          failureSummary: [{ tenantId: 12, reasonCode: 'INVALID_DATA', message: 'final figure' }],
          completedAt: at,
        },
      }
    case 'verified':
      return { type: 'RunVerified', data: { runId, remaining: s.remaining, tenantsWithRemaining: s.remaining ? [{ tenantId: 11, remaining: s.remaining }] : [], verifiedAt: at } }
  }
}

/** Each run's events in its order, the runs interleaved as `picks` says, then some events delivered again. */
function eventsOf(runs: RunSpec[], picks: number[], again: number[]): ProjectedEvent[] {
  let second = 0
  const at = () => new Date(Date.UTC(2025, 2, 1, 9, 0, ++second)).toISOString()
  const streams = runs.map((run, r) => {
    const runId = `run-${r}`
    const requested = runRequested({
      runId,
      requestedAt: at(),
      ...(run.allTenants ? { scope: 'all_tenants', workspaceId: platformWorkspaceId, targetTenantId: null, tenantIds: tenants } : {}),
      canary: run.canary ? { tenantIds: [12], autoPromote: false } : null,
      approvalRequired: run.approval,
      initiator: { platformUserId: alice.platformUserId, email: alice.email, name: alice.name, isBreakGlass: run.breakGlass },
    } as Parameters<typeof runRequested>[0])
    return [requested, ...run.steps.map((s) => eventOf(runId, s, at()))].map((event) => ({ event, initiator: event.type === 'TenantProcessed' ? system : alice }))
  })
  const merged: Array<{ event: DomainEvent; initiator: Initiator }> = []
  const cursors = streams.map(() => 0)
  for (const pick of picks) {
    const r = pick % streams.length
    if (cursors[r]! < streams[r]!.length) merged.push(streams[r]![cursors[r]!++]!)
  }
  streams.forEach((stream, r) => merged.push(...stream.slice(cursors[r])))
  const projected = merged.map(({ event, initiator }, i): ProjectedEvent => {
    const metadata: EventMetadata = {
      eventId: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`,
      correlationId: 'c',
      causationId: null,
      initiator,
      occurredAt: new Date(Date.UTC(2025, 2, 1, 10, 0, i)).toISOString(),
    }
    return { event, metadata, version: 1, streamId: `run-${i}`, revision: i, position: `1:${i + 1}`, recordedAt: new Date(0) }
  })
  // Redelivery: an event applied again later (the projector never does within one checkpoint, but a
  // projection must still be idempotent).
  const withAgain = [...projected]
  for (const a of again) {
    const from = a % projected.length
    // After the original wherever earlier copies moved it: a copy before it would be an event of a run
    // delivered before the run's RunRequested, which no store can do.
    const original = withAgain.indexOf(projected[from]!)
    withAgain.splice(Math.min(withAgain.length, original + 1 + (a % 5)), 0, projected[from]!)
  }
  return withAgain
}

/** Cut points → consecutive batches. */
function split<T>(items: T[], cuts: number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (items.length + 1)))].sort((a, b) => a - b)
  const batches: T[][] = []
  let from = 0
  for (const p of [...points, items.length]) {
    if (p > from) batches.push(items.slice(from, p))
    from = Math.max(from, p)
  }
  return batches
}

async function project(bed: TestBed, batches: ProjectedEvent[][], using: Projection[]): Promise<Record<string, unknown[]>> {
  await bed.sql.begin(async (tx) => {
    for (const p of using) await p.reset?.(tx)
    await tx`delete from alert_deliveries`
  })
  for (const batch of batches) {
    await bed.sql.begin(async (tx) => {
      for (const p of using) await p.apply(tx, batch)
    })
  }
  return dumpReadModels(bed.sql)
}

describe.each(databaseFlavours())('batched projection on $name', ({ open }) => {
  let bed: TestBed
  beforeAll(async () => {
    bed = await openTestBed(open)
  })
  afterAll(async () => {
    await bed.db.close()
  })

  it('leaves the rows that applying the events one at a time leaves, whatever the batches', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(runSpec, { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (runs, picks, again, cuts) => {
          const events = eventsOf(runs, picks, again)
          const oneByOne = await project(bed, events.map((e) => [e]), projections)
          expect(await project(bed, split(events, cuts), projections)).toEqual(oneByOne)
          expect(await project(bed, [events], projections)).toEqual(oneByOne)
        },
      ),
      { numRuns: 40 },
    )
  }, 300_000)

  it("adds a batch's failures to the run's failure summary in the order of its events", async () => {
    const failed = (tenant: number) => ({ kind: 'result' as const, tenant, attempt: 1, failed: true, total: 0 })
    const events = eventsOf([{ allTenants: true, canary: false, approval: false, breakGlass: false, steps: [{ kind: 'started' }, failed(13), failed(11), failed(12)] }], [], [])
    const oneByOne = await project(bed, events.map((e) => [e]), projections)
    const together = await project(bed, [events], projections)
    expect(together).toEqual(oneByOne)
    const [run] = together.operation_runs as Array<{ failure_summary: Array<{ tenant_id: number }> }>
    expect(run!.failure_summary.map((f) => f.tenant_id)).toEqual([13, 11, 12])
  })

  it('writes the audit rows of a batch in the order of its events', async () => {
    const events = eventsOf(
      [{ allTenants: true, canary: false, approval: true, breakGlass: false, steps: [{ kind: 'approved' }, { kind: 'started' }, { kind: 'paused', code: 'INCIDENT' }, { kind: 'resumed' }, { kind: 'cancelled' }, { kind: 'completed', outcome: 'cancelled' }] }],
      [],
      [],
    )
    // A table nobody deleted from: its rows lie in the order they were inserted.
    const fresh = await openTestBed(open)
    try {
      await fresh.sql.begin((tx) => auditLogProjection.apply(tx, events))
      const rows = await fresh.sql<Array<{ id: string }>>`select id from audit_log order by ctid`
      const audited = events.filter((e) => e.event.type !== 'RunStarted').map((e) => e.metadata.eventId)
      expect(rows.map((r) => r.id)).toEqual(audited)
    } finally {
      await fresh.db.close()
    }
  })
})
