import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IDLE_IN_TRANSACTION_MS, type Database, type TransactionSql } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { WrongExpectedRevisionError, type EventToAppend, type StoredEvent } from '../../src/store/event-store.js'
import { APPENDS_LOCK_IDLE_MS, eventStoreSchema, PostgresEventStore } from '../../src/store/postgres-event-store.js'
import { databaseFlavours, freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'
import { describeEventStoreContract } from './event-store.contract.js'
import { seededRandom } from '../../src/db/seeded-random.js'

/**
 * Transactions held open by a test go through `PostgresEventStore.appendInTransaction(tx, …)`, which runs
 * the same append statement inside the caller's transaction.
 */

for (const flavour of databaseFlavours()) {
  describeEventStoreContract(`PostgresEventStore on ${flavour.name}`, async () => {
    const db = await flavour.open()
    await applyMigrations(db.sql, [eventStoreSchema])
    const store = new PostgresEventStore(db.sql)
    return {
      store,
      async close() {
        await store.close()
        await db.close()
      },
    }
  })

  describe(`PostgresEventStore specifics on ${flavour.name}`, () => {
    let db: Database
    let store: PostgresEventStore

    beforeAll(async () => {
      db = await flavour.open()
      await applyMigrations(db.sql, [eventStoreSchema])
      await applyMigrations(db.sql, [eventStoreSchema]) // idempotent DDL: a second start changes nothing
      store = new PostgresEventStore(db.sql)
    })
    afterAll(async () => {
      await store?.close()
      await db?.close()
    })

    it('bounds how long a transaction holding the ordering lock may sit idle, keeping a shorter bound of its own', async () => {
      const idleBound = (tx: TransactionSql) =>
        tx<Array<{ ms: number }>>`select setting::int as ms from pg_settings where name = 'idle_in_transaction_session_timeout'`.then((rows) => rows[0]!.ms)
      // A frozen or cut-off appender would otherwise stop every append of the deployment until its connection died.
      // The connection's own bound: IDLE_IN_TRANSACTION_MS on PostgreSQL, none on the embedded database.
      const [own] = await db.sql<Array<{ ms: number }>>`select setting::int as ms from pg_settings where name = 'idle_in_transaction_session_timeout'`
      expect(own!.ms).toBe(db.kind === 'postgres' ? IDLE_IN_TRANSACTION_MS : 0)
      const looser = await db.sql.begin(async (tx) => {
        const before = await idleBound(tx)
        await store.appendInTransaction(tx, streamName(), [event('Bounded')], { expectedRevision: 'no_stream' })
        return { before, after: await idleBound(tx) }
      })
      expect(looser).toEqual({ before: own!.ms, after: APPENDS_LOCK_IDLE_MS })
      const shorter = await db.sql.begin(async (tx) => {
        await tx`select set_config('idle_in_transaction_session_timeout', '2000', true)`
        await store.appendInTransaction(tx, streamName(), [event('AlreadyBounded')], { expectedRevision: 'no_stream' })
        return idleBound(tx)
      })
      expect(shorter).toBe(2000)
      // Local to the transaction: the connection's own setting is as it was.
      const [after] = await db.sql<Array<{ ms: number }>>`select setting::int as ms from pg_settings where name = 'idle_in_transaction_session_timeout'`
      expect(after!.ms).toBe(own!.ms)
    })

    it("makes a retried 'any' append a no-op", async () => {
      const stream = streamName()
      const batch = [event('A'), event('B')]
      const first = await store.append(stream, batch, { expectedRevision: 'any' })
      const retry = await store.append(stream, batch, { expectedRevision: 'any' })
      expect(retry).toEqual(first)
      expect(await eventIds(store, stream)).toEqual(batch.map((e) => e.eventId))
    })

    it('recognises a retry after other appends moved the stream on', async () => {
      const stream = streamName()
      await store.append(stream, [event('A')], { expectedRevision: 'no_stream' })
      const batch = [event('B')]
      const first = await store.append(stream, batch, { expectedRevision: 0 })
      await store.append(stream, [event('C')], { expectedRevision: 1 })
      const retry = await store.append(stream, batch, { expectedRevision: 0 })
      expect(retry).toEqual(first)
      expect((await store.readStream(stream)).map((e) => e.type)).toEqual(['A', 'B', 'C'])
    })

    it('rejects, and writes nothing of, a batch whose ids are only partly stored or stored elsewhere', async () => {
      const stream = streamName()
      const stored = event('A')
      await store.append(stream, [stored], { expectedRevision: 'no_stream' })
      const fresh = event('B')

      await expect(store.append(stream, [stored, fresh], { expectedRevision: 'any' })).rejects.toThrow(/already stored/)
      await expect(store.append(streamName(), [stored], { expectedRevision: 'any' })).rejects.toThrow(/already stored/)
      const misplaced = await store.append(stream, [stored], { expectedRevision: 5 }).catch((error: unknown) => error)
      expect(misplaced).toBeInstanceOf(WrongExpectedRevisionError)

      expect(await eventIds(store, stream)).toEqual([stored.eventId])
      const all = await store.readAll({ after: null, maxCount: 10_000 })
      expect(all.filter((e) => e.eventId === fresh.eventId)).toEqual([])
    })

    it('rejects empty batches, duplicate ids in a batch, bad revisions and foreign positions', async () => {
      const stream = streamName()
      await expect(store.append(stream, [], { expectedRevision: 'any' })).rejects.toThrow(RangeError)
      const twice = event('A')
      await expect(store.append(stream, [twice, twice], { expectedRevision: 'any' })).rejects.toThrow(RangeError)
      await expect(store.append(stream, [event('A')], { expectedRevision: -1 })).rejects.toThrow(RangeError)
      await expect(store.readAll({ after: 'not-a-position', maxCount: 1 })).rejects.toThrow(RangeError)
      expect(await store.readStream(stream)).toEqual([])
    })

    it('appends inside a caller-held transaction: rolled back with it, committed with it', async () => {
      const stream = streamName()
      const rolledBack = event('Rolled')
      await expect(
        db.sql.begin(async (tx) => {
          await store.appendInTransaction(tx, stream, [rolledBack], { expectedRevision: 'no_stream' })
          throw new Error('abort')
        }),
      ).rejects.toThrow('abort')
      expect(await store.readStream(stream)).toEqual([])

      const kept = event('Kept')
      const result = await db.sql.begin(async (tx) => {
        const appended = await store.appendInTransaction(tx, stream, [kept], { expectedRevision: 'no_stream' })
        // A retried batch inside the transaction is answered from the savepoint, the transaction lives on.
        const retried = await store.appendInTransaction(tx, stream, [kept], { expectedRevision: 'any' })
        expect(retried).toEqual(appended)
        return store.appendInTransaction(tx, stream, [event('Next')], { expectedRevision: 0 })
      })
      expect(result.nextExpectedRevision).toBe(1)
      expect((await store.readStream(stream)).map((e) => e.type)).toEqual(['Kept', 'Next'])
    })

    it('commits appends that arrive together in one transaction, each under its own expectation', async () => {
      const [a, b, c, d, e, f, g] = [streamName(), streamName(), streamName(), streamName(), streamName(), streamName(), streamName()]
      await store.append(c, [event('C0')], { expectedRevision: 'no_stream' })
      await store.append(d, [event('D0')], { expectedRevision: 'no_stream' })
      await store.append(f, [event('F0'), event('F1')], { expectedRevision: 'no_stream' })
      // The first append starts a group at once; the next ones arrive while it is written and go together.
      const first = store.append(g, [event('G0')], { expectedRevision: 'no_stream' })
      const together = [
        store.append(a, [event('A0')], { expectedRevision: 'no_stream' }),
        store.append(b, [event('B0'), event('B1')], { expectedRevision: 'no_stream' }),
        store.append(c, [event('C1')], { expectedRevision: 7 }).catch((error: unknown) => error),
        store.append(d, [event('D1')], { expectedRevision: 'no_stream' }).catch((error: unknown) => error),
        store.append(e, [event('E0')], { expectedRevision: 'stream_exists' }).catch((error: unknown) => error),
        store.append(f, [event('F2')], { expectedRevision: 'any' }),
        // A second append to a stream of the group goes in a later group and sees the first one's outcome.
        store.append(a, [event('A1')], { expectedRevision: 0 }),
        store.append(d, [event('D1')], { expectedRevision: 'stream_exists' }),
        store.append(c, [event('C1')], { expectedRevision: 0 }),
      ]
      const g0 = await first
      const [a0, b1, wrongExact, wrongNoStream, wrongExists, f2, a1, d1, c1] = await Promise.all(together)
      for (const refused of [wrongExact, wrongNoStream, wrongExists]) expect(refused).toBeInstanceOf(WrongExpectedRevisionError)
      expect(wrongExact).toMatchObject({ actual: 0 })
      expect(wrongNoStream).toMatchObject({ actual: 0 })
      expect(wrongExists).toMatchObject({ actual: 'no_stream' })
      const written = [g0, a0, b1, f2, a1, d1, c1] as Array<{ nextExpectedRevision: number; position: string }>
      expect(written.map((r) => r.nextExpectedRevision)).toEqual([0, 0, 1, 2, 1, 1, 1])
      const [inFirst, inGroup, inLater] = [[g0], [a0, b1, f2], [a1, d1, c1]].map(
        (results) => new Set(results.map((r) => (r as { position: string }).position.split(':')[0])),
      )
      expect([inFirst!.size, inGroup!.size, inLater!.size]).toEqual([1, 1, 1])
      expect(new Set([...inFirst!, ...inGroup!, ...inLater!]).size).toBe(3)
      const positionOf = (result: unknown) => (result as { position: string }).position
      expect(sequenceOf(positionOf(a1))).toBeGreaterThan(sequenceOf(positionOf(f2)))
      expect((await store.readStream(a)).map((e) => e.type)).toEqual(['A0', 'A1'])
      expect((await store.readStream(b)).map((e) => e.type)).toEqual(['B0', 'B1'])
      expect((await store.readStream(c)).map((e) => e.type)).toEqual(['C0', 'C1'])
      expect((await store.readStream(d)).map((e) => e.type)).toEqual(['D0', 'D1'])
      expect(await store.readStream(e)).toEqual([])
      expect((await store.readStream(f)).map((e) => [e.type, e.revision])).toEqual([['F0', 0], ['F1', 1], ['F2', 2]])
    })

    it('writes a group one by one when one of its appends fails, so only that one fails', async () => {
      const stream = streamName()
      const stored = event('A')
      await store.append(stream, [stored], { expectedRevision: 'no_stream' })
      const other = streamName()
      const blocker = store.append(streamName(), [event('X')], { expectedRevision: 'no_stream' })
      const group = [
        store.append(other, [event('O')], { expectedRevision: 'no_stream' }),
        // Its event id is stored in another stream: the statement fails and aborts the group's transaction.
        store.append(streamName(), [stored], { expectedRevision: 'any' }).catch((error: unknown) => error),
        store.append(stream, [stored], { expectedRevision: 'no_stream' }),
      ]
      await blocker
      const [appended, failed, retried] = await Promise.all(group)
      expect(appended).toMatchObject({ nextExpectedRevision: 0 })
      expect(failed).toBeInstanceOf(Error)
      expect(String(failed)).toMatch(/already stored/)
      expect(retried).toMatchObject({ nextExpectedRevision: 0 })
      expect((await store.readStream(other)).map((e) => e.type)).toEqual(['O'])
    })

    it('reads the recording time as the database has it, to the millisecond', async () => {
      const stream = streamName()
      await store.append(stream, [event('A'), event('B')], { expectedRevision: 'no_stream' })
      const rows = await db.sql<Array<{ event_id: string; recorded_at: Date; ms: string }>>`
        select event_id, recorded_at, to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as ms
        from event_store_events where stream_id = ${stream} order by revision`
      const read = [...(await store.readStream(stream)), ...(await store.readAll({ after: null, maxCount: 100_000 })).filter((e) => e.streamId === stream)]
      expect(read).toHaveLength(4)
      for (const stored of read) {
        const row = rows.find((r) => r.event_id === stored.eventId)!
        expect(stored.recordedAt).toBeInstanceOf(Date)
        expect(stored.recordedAt.toISOString()).toBe(row.ms)
        expect(stored.recordedAt.getTime()).toBe(row.recorded_at.getTime())
      }
    })

    it('keeps revisions unique in the table itself', async () => {
      const stream = streamName()
      await store.append(stream, [event('A')], { expectedRevision: 'no_stream' })
      await expect(
        db.sql`insert into event_store_events (stream_id, revision, event_id, type, version, data, metadata)
               values (${stream}, 0, ${randomUUID()}, 'Forged', 1, '{}', '{}')`,
      ).rejects.toMatchObject({ code: '23505' })
    })
  })
}

describe.runIf(TEST_POSTGRES_URL)('PostgresEventStore global order with concurrent writers (PostgreSQL)', () => {
  let db: Database
  let store: PostgresEventStore

  beforeAll(async () => {
    db = await freshPostgresDatabase()
    await applyMigrations(db.sql, [eventStoreSchema])
    store = new PostgresEventStore(db.sql)
  })
  afterAll(async () => {
    await store?.close()
    await db?.close()
  })

  it('a writer that starts while another append is open commits after it, at a later position', async () => {
    const before = event('Before')
    await store.append(streamName(), [before], { expectedRevision: 'no_stream' })
    const reader = new CheckpointedReader(store, null)
    await reader.readUntil((seen) => seen.some((e) => e.eventId === before.eventId))

    const heldEvent = event('A')
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    let announce!: (position: string) => void
    const appendedInA = new Promise<string>((resolve) => (announce = resolve))
    const writerA = db.sql.begin(async (tx) => {
      const result = await store.appendInTransaction(tx, streamName(), [heldEvent], { expectedRevision: 'no_stream' })
      announce(result.position)
      await released
    })
    const positionA = await appendedInA

    // The trap this guards against: B takes a later sequence value but commits first, so a reader
    // checkpointing "sequence > last seen" reads B, moves past A's sequence value and skips A. Appends
    // are serialised, so B cannot commit while A is open.
    const committedEvent = event('B')
    const streamB = streamName()
    let bDone = false
    const writerB = store.append(streamB, [committedEvent], { expectedRevision: 'no_stream' }).then((result) => {
      bDone = true
      return result
    })
    for (let round = 0; round < 5; round++) {
      await reader.readPage(100)
      await new Promise((resolve) => setTimeout(resolve, 40))
    }
    expect(bDone).toBe(false)
    expect(reader.seenIds()).not.toContain(committedEvent.eventId)
    expect(reader.seenIds()).not.toContain(heldEvent.eventId)

    release()
    await writerA
    const resultB = await writerB
    expect(sequenceOf(resultB.position)).toBeGreaterThan(sequenceOf(positionA))
    await reader.readUntil((seen) => seen.some((e) => e.eventId === committedEvent.eventId))
    const ids = reader.seenIds()
    expect(ids.filter((id) => id === heldEvent.eventId)).toHaveLength(1)
    expect(ids.indexOf(heldEvent.eventId)).toBeLessThan(ids.indexOf(committedEvent.eventId))
    reader.expectStrictlyIncreasingPositions()
  })

  it('an open write transaction that appends no event does not hold readers back', async () => {
    await db.sql`create table if not exists unrelated_work (id int)`
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    let started!: () => void
    const isOpen = new Promise<void>((resolve) => (started = resolve))
    // Like a long tenant repair or the platform's own traffic: it has a transaction id and stays open.
    const longWriter = db.sql.begin(async (tx) => {
      await tx`insert into unrelated_work values (1)`
      started()
      await released
    })
    await isOpen
    try {
      const appended = event('WhileLongWriterOpen')
      await store.append(streamName(), [appended], { expectedRevision: 'no_stream' })
      const all = await store.readAll({ maxCount: 10_000 })
      expect(all.map((e) => e.eventId)).toContain(appended.eventId)
    } finally {
      release()
      await longWriter
    }
  })

  it('a reader looping from its checkpoint sees every committed event exactly once (randomized writers)', async () => {
    const seed = Date.now() % 1_000_000
    const random = seededRandom(seed)
    const streams = Array.from({ length: 4 }, () => streamName())
    const committed = new Set<string>()
    const rolledBack = new Set<string>()
    let writing = true

    const writer = async (worker: number) => {
      for (let round = 0; round < 6; round++) {
        const batch = Array.from({ length: 1 + Math.floor(random() * 3) }, () => event(`W${worker}.${round}`))
        const stream = streams[Math.floor(random() * streams.length)]!
        const delayMs = Math.floor(random() * 30)
        const abort = random() < 0.15
        if (random() < 0.2) {
          await store.append(stream, batch, { expectedRevision: 'any' })
          batch.forEach((e) => committed.add(e.eventId))
          continue
        }
        try {
          const earlyTransactionId = random() < 0.3
          await db.sql.begin(async (tx) => {
            // Some writers take a transaction id long before they append (like a transaction doing other
            // work first), so transaction ids, start order and commit order all differ.
            if (earlyTransactionId) {
              await tx`select pg_current_xact_id()`
              await new Promise((resolve) => setTimeout(resolve, delayMs))
            }
            await store.appendInTransaction(tx, stream, batch, { expectedRevision: 'any' })
            await new Promise((resolve) => setTimeout(resolve, delayMs))
            if (abort) throw new RollbackOnPurpose()
          })
          batch.forEach((e) => committed.add(e.eventId))
        } catch (error) {
          if (!(error instanceof RollbackOnPurpose)) throw error
          batch.forEach((e) => rolledBack.add(e.eventId))
        }
      }
    }

    // The reader starts after a marker so that events of the other tests in this database do not count.
    const marker = await store.append(streamName(), [event('Marker')], { expectedRevision: 'no_stream' })
    const reader = new CheckpointedReader(store, marker.position)
    const reading = (async () => {
      while (writing) {
        await reader.readPage(1 + Math.floor(random() * 6))
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 5)))
      }
    })()
    await Promise.all(Array.from({ length: 6 }, (_, worker) => writer(worker)))
    writing = false
    await reading
    await reader.readUntil((seen) => seen.length >= committed.size, 4)

    const ids = reader.seenIds()
    const context = `seed ${seed}`
    expect(ids.length, context).toBe(committed.size)
    expect(new Set(ids).size, context).toBe(ids.length)
    expect(ids.every((id) => committed.has(id)), context).toBe(true)
    expect(ids.some((id) => rolledBack.has(id)), context).toBe(false)
    reader.expectStrictlyIncreasingPositions()
    for (const stream of streams) {
      const revisions = (await store.readStream(stream)).map((e) => e.revision)
      expect(revisions, context).toEqual(revisions.map((_, index) => index))
    }
  })
})

/** A subscriber's loop in miniature: read a page after the checkpoint, keep what came, move the checkpoint. */
class CheckpointedReader {
  private readonly seen: StoredEvent[] = []

  constructor(
    private readonly store: PostgresEventStore,
    private checkpoint: string | null,
  ) {}

  async readPage(maxCount: number): Promise<number> {
    const page = await this.store.readAll({ after: this.checkpoint, maxCount })
    this.seen.push(...page)
    if (page.length > 0) this.checkpoint = page[page.length - 1]!.position
    return page.length
  }

  async readUntil(done: (seen: StoredEvent[]) => boolean, pageSize = 100, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!done(this.seen)) {
      if (Date.now() > deadline) throw new Error(`reader did not catch up within ${timeoutMs} ms (saw ${this.seen.length})`)
      const read = await this.readPage(pageSize)
      if (read < pageSize) await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  seenIds(): string[] {
    return this.seen.map((e) => e.eventId)
  }

  expectStrictlyIncreasingPositions(): void {
    const sequences = this.seen.map((e) => sequenceOf(e.position))
    for (let index = 1; index < sequences.length; index++) {
      expect(sequences[index]! > sequences[index - 1]!).toBe(true)
    }
  }
}

class RollbackOnPurpose extends Error {}

function sequenceOf(position: string): bigint {
  return BigInt(position.split(':')[1]!)
}

function streamName(): string {
  return `pg-store-${randomUUID()}`
}

function event(type: string): EventToAppend {
  return { eventId: randomUUID(), type, version: 1, data: { type }, metadata: {} }
}

async function eventIds(store: PostgresEventStore, stream: string): Promise<string[]> {
  return (await store.readStream(stream)).map((e) => e.eventId)
}

