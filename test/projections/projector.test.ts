import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { connectPostgres, type Database } from '../../src/db/database.js'
import { operationRunsProjection } from '../../src/projections/operation-runs.js'
import { ProjectionFailedError, Projector, type Projection, type ProjectorLogger } from '../../src/projections/projector.js'
import { readModelProjections } from '../../src/projections/read-model-projections.js'
import { PostgresEventStore } from '../../src/store/postgres-event-store.js'
import { databaseFlavours } from '../support/databases.js'
import { alice, appendRun, dumpReadModels, nextEventId, openTestBed, type TestBed } from './fixtures.js'

const consoleBaseUrl = 'https://ops.example.com'

async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (accept(value)) return value
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms; last value ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function recordingLogger(): ProjectorLogger & { errors: string[]; infos: string[] } {
  const errors: string[] = []
  const infos: string[] = []
  return { errors, infos, error: (_obj, msg) => errors.push(msg), info: (_obj, msg) => infos.push(msg) }
}

/** A completed single-tenant run: four events. */
async function appendCompletedRun(bed: TestBed, runId: string, minute: number): Promise<void> {
  const t = (second: number) => new Date(Date.UTC(2025, 2, 1, 9, minute, second)).toISOString()
  await appendRun(bed, {
    requested: { runId, requestedAt: t(0) },
    startedAt: t(1),
    results: [{ tenantId: 11, result: { status: 'succeeded', total: 8, updated: 5 }, at: t(2) }],
    completed: {
      outcome: 'succeeded',
      summaryCounts: { total: 8, processed: 8, updated: 5, skipped: 3, failed: 0 },
      failureSummary: [],
      completedAt: t(3),
    },
  })
}

const runCount = async (bed: TestBed) => (await bed.sql<Array<{ n: number }>>`select count(*)::int as n from operation_runs`)[0]!.n

describe.each(databaseFlavours())('Projector on $name', ({ name, open }) => {
  let bed: TestBed
  const projectors: Projector[] = []
  const extraConnections: Database[] = []

  const projector = (options: Partial<ConstructorParameters<typeof Projector>[0]> = {}) => {
    const p = new Projector({
      store: bed.store,
      sql: bed.sql,
      name: 'read-models',
      projections: readModelProjections({ consoleBaseUrl }),
      logger: recordingLogger(),
      ...options,
    })
    projectors.push(p)
    return p
  }

  beforeEach(async () => {
    bed = await openTestBed(open)
  })
  afterEach(async () => {
    for (const p of projectors.splice(0)) await p.stop()
    for (const c of extraConnections.splice(0)) await c.close()
    await bed.db.close()
  })

  it('commits a batch and its checkpoint together: a projection throwing mid-batch moves neither, and the event it fails on is named', async () => {
    await appendCompletedRun(bed, 'run-1', 1)
    const batches: number[] = []
    let failing = true
    const throwsOnTenantResult: Projection = {
      name: 'throws-on-tenant-result',
      async apply(_tx, events) {
        batches.push(events.length)
        if (failing && events.some((e) => e.event.type === 'TenantProcessed')) throw new Error('boom')
      },
    }
    const p = projector({ projections: [operationRunsProjection, throwsOnTenantResult], batchSize: 10 })
    await bed.settle()
    const all = await bed.store.readAll({ maxCount: 10 })

    const failure = await p.runOnce().catch((error: unknown) => error)
    // The batch of four failed and was rolled back whole; applied again one event per transaction, the
    // two events before the tenant result were committed and the result's own rows were rolled back with it.
    expect(batches).toEqual([4, 1, 1, 1])
    expect(failure).toBeInstanceOf(ProjectionFailedError)
    expect((failure as ProjectionFailedError).projection).toBe('throws-on-tenant-result')
    expect((failure as Error).message).toMatch(/TenantProcessed v2 .* \(run-run-1@2, position \d+:\d+\): boom/)
    expect(await p.position()).toBe(all[1]!.position)
    expect(await bed.sql`select status from operation_run_tenants`).toEqual([{ status: 'pending' }])
    expect(await bed.sql`select summary_counts ->> 'total' as total from operation_runs`).toEqual([{ total: '0' }])

    // The same projector then succeeds from the same place: nothing was half-applied.
    failing = false
    expect(await p.runOnce()).toBe(2)
    expect(await p.position()).toBe(all.at(-1)!.position)
    expect(await bed.sql`select status, outcome from operation_runs`).toEqual([{ status: 'completed', outcome: 'succeeded' }])
    expect(await bed.sql`select status from operation_run_tenants`).toEqual([{ status: 'succeeded' }])
  })

  it('stops at an event that fails to decode and never skips it', async () => {
    await appendCompletedRun(bed, 'run-1', 1)
    await bed.store.append(
      'run-broken',
      [
        {
          eventId: nextEventId(),
          type: 'RunStarted',
          version: 1,
          data: { runId: 'run-broken' }, // startedAt missing
          metadata: { eventId: nextEventId(), correlationId: 'run-broken', causationId: null, initiator: alice, occurredAt: '2025-03-01T10:00:00Z' },
        },
      ],
      { expectedRevision: 'any' },
    )
    await appendCompletedRun(bed, 'run-2', 2)
    await bed.settle()
    const all = await bed.store.readAll({ maxCount: 100 })
    const logger = recordingLogger()
    // One batch holds the good events, the bad one and more: the good prefix is applied, the rest waits.
    const p = projector({ batchSize: 10, logger, retryDelayMs: { initial: 5, max: 20 } })

    await expect(p.runOnce()).rejects.toThrow(/could not decode RunStarted v1 .*startedAt/)
    expect(await p.position()).toBe(all[3]!.position)
    await expect(p.runOnce()).rejects.toBeInstanceOf(ProjectionFailedError)
    expect(await p.position()).toBe(all[3]!.position)

    // The background loop keeps retrying loudly and stays put.
    p.start()
    await eventually(async () => logger.errors.length, (n) => n >= 3)
    expect(logger.errors[0]).toMatch(/projector read-models is stuck and will retry: .*could not decode RunStarted/)
    expect(await p.position()).toBe(all[3]!.position)
    expect(await bed.sql`select id from operation_runs`).toEqual([{ id: 'run-1' }])
  })

  it('retries a failing projection with backoff and resumes without losing the event', async () => {
    await appendCompletedRun(bed, 'run-1', 1)
    // The batch of four fails, then the completion alone (reported), then the completion alone again (reported).
    let failuresLeft = 3
    const flaky: Projection = {
      name: 'flaky',
      async apply(_tx, events) {
        if (events.some((e) => e.event.type === 'RunCompleted') && failuresLeft > 0) {
          failuresLeft -= 1
          throw new Error('database hiccup')
        }
      },
    }
    const logger = recordingLogger()
    const p = projector({ projections: [operationRunsProjection, flaky], logger, retryDelayMs: { initial: 5, max: 20 }, pollIntervalMs: 20 })
    p.start()
    await eventually(async () => (await bed.sql`select status from operation_runs`)[0]?.status, (s) => s === 'completed')
    expect(logger.errors).toHaveLength(2)
    expect(logger.errors[0]).toMatch(/flaky failed on RunCompleted .*database hiccup/)
    await eventually(async () => logger.infos, (infos) => infos.includes('projector recovered'))
  })

  it('wakes on an append in this process instead of waiting for the next poll', async () => {
    const p = projector({ pollIntervalMs: 60_000 })
    p.start()
    await p.waitUntilCaughtUp()
    await new Promise((resolve) => setTimeout(resolve, 50)) // let the loop go to sleep
    await appendCompletedRun(bed, 'run-1', 1)
    // On a shared PostgreSQL server the append's own wake-up may come before the events are visible
    // (another transaction holds the horizon back): wake the projector again once they are.
    await bed.settle()
    bed.store.notifyAppended()
    await eventually(() => runCount(bed), (n) => n === 1, 5_000)
  })

  it('accepts a pino logger', () => {
    expect(() => projector({ logger: pino({ level: 'silent' }) })).not.toThrow()
  })

  it('two instances sharing a checkpoint apply every event exactly once and build the rows one would', async () => {
    for (let i = 0; i < 8; i += 1) await appendCompletedRun(bed, `run-${i}`, i)
    await bed.settle()
    const events = await bed.store.readAll({ maxCount: 1000 })

    // On PostgreSQL the second instance gets a connection of its own, as a second process would.
    let otherSql = bed.sql
    let otherStore = bed.store
    if (name === 'PostgreSQL') {
      const other = await connectPostgres(bed.db.url)
      extraConnections.push(other)
      otherSql = other.sql
      otherStore = new PostgresEventStore(other.sql)
    }
    const countingProjections = () => {
      const applied: string[] = []
      const counter: Projection = { name: 'counter', apply: async (_tx, events) => void applied.push(...events.map((e) => e.metadata.eventId)) }
      return { applied, projections: [...readModelProjections({ consoleBaseUrl }), counter] }
    }
    const a = countingProjections()
    const b = countingProjections()
    const first = projector({ projections: a.projections, batchSize: 3 })
    const second = projector({ store: otherStore, sql: otherSql, projections: b.projections, batchSize: 3 })

    const [appliedByFirst, appliedBySecond] = await Promise.all([first.runOnce(), second.runOnce()])
    expect(appliedByFirst + appliedBySecond).toBe(events.length)
    // The compare-and-set comes before any apply, so a losing instance applied nothing: between them
    // the projections saw each event exactly once.
    const seen = [...a.applied, ...b.applied]
    expect(seen).toHaveLength(events.length)
    expect(new Set(seen).size).toBe(events.length)
    expect(await first.position()).toBe(events.at(-1)!.position)
    const together = await dumpReadModels(bed.sql)

    const alone = projector({ name: 'alone' })
    expect(await alone.rebuild()).toBe(events.length)
    expect(await dumpReadModels(bed.sql)).toEqual(together)
  })

  it('read models wiped by hand under a running projector (checkpoint row included) are rebuilt by it, equal to a rebuild', async () => {
    for (let i = 0; i < 4; i += 1) await appendCompletedRun(bed, `run-${i}`, i)
    await bed.settle()
    const running = projector({ pollIntervalMs: 20 })
    running.start()
    await eventually(() => runCount(bed), (n) => n === 4)

    await bed.sql.begin(async (tx) => {
      await tx`delete from operation_runs`
      await tx`delete from operation_run_tenants`
      await tx`delete from audit_log`
      await tx`delete from projection_checkpoints where name = 'read-models'`
    })
    for (let i = 4; i < 6; i += 1) await appendCompletedRun(bed, `run-${i}`, i)
    await bed.settle()
    const events = await bed.store.readAll({ maxCount: 1000 })
    await eventually(() => running.position(), (position) => position === events.at(-1)!.position)
    await eventually(() => runCount(bed), (n) => n === 6)
    const recovered = await dumpReadModels(bed.sql)

    await running.stop()
    expect(await projector().rebuild()).toBe(events.length)
    expect(await dumpReadModels(bed.sql)).toEqual(recovered)
  })

  it('a checkpoint row deleted while the read models remain is a rebuild, not events applied twice', async () => {
    for (let i = 0; i < 3; i += 1) await appendCompletedRun(bed, `run-${i}`, i)
    await bed.settle()
    const first = projector()
    await first.runOnce()
    const before = await dumpReadModels(bed.sql)
    await bed.sql`delete from projection_checkpoints where name = 'read-models'`
    const fresh = projector()
    await fresh.runOnce()
    expect(await dumpReadModels(bed.sql)).toEqual(before)
  })

  it('two running loops keep up with concurrent appends and agree with a rebuild', async () => {
    const first = projector({ batchSize: 2, pollIntervalMs: 20 })
    const second = projector({ batchSize: 2, pollIntervalMs: 20 })
    first.start()
    second.start()
    for (let i = 0; i < 6; i += 1) await appendCompletedRun(bed, `run-${i}`, i)
    await bed.settle()
    const last = (await bed.store.readAll({ maxCount: 1000 })).at(-1)!.position
    await eventually(() => first.position(), (position) => position === last)
    await first.stop()
    await second.stop()
    const live = await dumpReadModels(bed.sql)
    expect(live.operation_runs).toHaveLength(6)

    const rebuilt = projector({ name: 'rebuilt' })
    await rebuilt.rebuild()
    expect(await dumpReadModels(bed.sql)).toEqual(live)
  })
})
