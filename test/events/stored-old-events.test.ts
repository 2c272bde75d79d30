import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadRun } from '../../src/commands/run-execution.js'
import type { Database } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { currentVersion, streams } from '../../src/events/index.js'
import { EventLog } from '../../src/store/event-log.js'
import { eventStoreSchema, PostgresEventStore } from '../../src/store/postgres-event-store.js'
import { databaseFlavours } from '../support/databases.js'

/** Events as earlier releases wrote them, frozen in a file: the upcasters must read them forever. */
const stored = JSON.parse(readFileSync(new URL('./fixtures/stored-events-before-parameters.json', import.meta.url), 'utf8')) as {
  metadata: Record<string, unknown>
  events: Array<{ streamId: string; type: string; version: number; data: Record<string, unknown> }>
}

describe.each(databaseFlavours())('events stored by earlier releases, read on $name', ({ open }) => {
  let db: Database
  let log: EventLog

  beforeAll(async () => {
    db = await open()
    await applyMigrations(db.sql, [eventStoreSchema])
    // Written as rows, the way the earlier release's store left them: no code of this release encodes them.
    const revisions = new Map<string, number>()
    for (const event of stored.events) {
      const revision = revisions.get(event.streamId) ?? 0
      revisions.set(event.streamId, revision + 1)
      const metadata = { ...stored.metadata, eventId: randomUUID(), correlationId: event.streamId }
      await db.sql`
        insert into event_store_events (stream_id, revision, event_id, type, version, data, metadata)
        values (${event.streamId}, ${revision}, ${metadata.eventId as string}, ${event.type}, ${event.version},
                ${db.sql.json(event.data as never)}, ${db.sql.json(metadata as never)})`
    }
    for (const [streamId, count] of revisions) {
      await db.sql`insert into event_store_streams (stream_id, revision) values (${streamId}, ${count - 1})`
    }
    log = new EventLog(new PostgresEventStore(db.sql))
  })
  afterAll(async () => {
    await db?.close()
  })

  it('the fixture holds versions older than today’s (else it tests no upcaster)', () => {
    expect(currentVersion.RunRequested).toBe(5)
    expect(stored.events.filter((e) => e.type === 'RunRequested').map((e) => e.version)).toEqual([1, 2, 3, 4])
    expect(currentVersion.PreflightRecorded).toBe(2)
  })

  it('reads RunRequested v1 as v4: no limits beyond the workers, no retry, no approval, no parameters', async () => {
    const { events } = await log.read(streams.run('01JAAAAAAAAAAAAAAAAAAAAAA1'))
    expect(events.map((e) => e.event.type)).toEqual(['RunRequested', 'TenantProcessed'])
    const [requested, processed] = events.map((e) => e.event)
    expect(requested!.data).toMatchObject({
      runId: '01JAAAAAAAAAAAAAAAAAAAAAA1',
      limits: { maxConcurrency: 1000, maxFailures: null },
      retryOf: null,
      approvalRequired: false,
      parameters: {},
      pinnedPreflightId: null,
    })
    expect(processed!.data).toMatchObject({ startedAt: null, completedAt: null, result: { status: 'succeeded', updated: 4 } })
  })

  it('reads RunRequested v2 as v4 with the parameters it ran with (none), keeping everything else', async () => {
    const { events } = await log.read(streams.run('01JBBBBBBBBBBBBBBBBBBBBBB2'))
    const v2 = stored.events.find((e) => e.version === 2 && e.type === 'RunRequested')!.data
    expect(events[0]!.event.data).toEqual({ ...v2, parameters: {}, pinnedPreflightId: null, canary: null, revertOf: null })
  })

  it('reads RunRequested v3 as v4: no canary, not a revert, its parameters as stored', async () => {
    const { events } = await log.read(streams.run('01JDDDDDDDDDDDDDDDDDDDDDD4'))
    const v3 = stored.events.find((e) => e.version === 3 && e.type === 'RunRequested')!.data
    expect(events[0]!.event.data).toEqual({ ...v3, canary: null, revertOf: null })
    const run = await loadRun(log, '01JDDDDDDDDDDDDDDDDDDDDDD4')
    expect(run.status === 'queued' && run.request.parameters).toEqual({ slaDays: { critical: 3, high: 14, medium: 30, low: 90 } })
  })

  it('reads RunRequested v4 as v5 as stored: the run has its plan from its request', async () => {
    const { events } = await log.read(streams.run('01JEEEEEEEEEEEEEEEEEEEEEE5'))
    const v4 = stored.events.find((e) => e.version === 4 && e.type === 'RunRequested')!.data
    expect(events[0]!.event.data).toEqual(v4)
    const run = await loadRun(log, '01JEEEEEEEEEEEEEEEEEEEEEE5')
    expect(run.status === 'queued' && run.preflight).toEqual(v4.preflight)
    expect(run.status === 'queued' && run.request.canary).toEqual({ tenantIds: [101], autoPromote: false })
  })

  it('the run of an old event is a run like any other: its state carries the upcast parameters and its limits', async () => {
    const run = await loadRun(log, '01JBBBBBBBBBBBBBBBBBBBBBB2')
    expect(run.status).toBe('queued')
    if (run.status === 'none') throw new Error('unreachable')
    expect(run.request.parameters).toEqual({})
    expect(run.limits).toEqual({ maxConcurrency: 2, maxFailures: 5 })
  })

  it('reads PreflightRecorded v1 as v2 with no parameters', async () => {
    const { events } = await log.read(streams.preflight('01JCCCCCCCCCCCCCCCCCCCCCC3'))
    expect(events[0]!.event).toMatchObject({ type: 'PreflightRecorded', data: { runbookKey: 'findings.lifecycle.backfill', parameters: {} } })
  })
})
