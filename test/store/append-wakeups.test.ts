import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { connectPostgres, type Database } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import type { EventToAppend } from '../../src/store/event-store.js'
import { eventStoreSchema, PostgresEventStore } from '../../src/store/postgres-event-store.js'
import { freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'

/**
 * On PostgreSQL the roles may be processes of their own: a follower of the store (the dispatcher, the
 * projector) must hear of another process's append when it commits, not at its next poll. Two stores on two
 * pools of one database stand for two processes.
 */
describe.skipIf(!TEST_POSTGRES_URL)('wake-ups across processes (PostgreSQL)', () => {
  const opened: Array<{ close(): Promise<void> }> = []

  afterEach(async () => {
    for (const resource of opened.reverse()) await resource.close()
    opened.length = 0
  })

  async function twoProcesses(): Promise<{ db: Database; appender: PostgresEventStore; follower: PostgresEventStore; followerWakes: WakeCounter }> {
    const db = await freshPostgresDatabase()
    opened.push(db)
    await applyMigrations(db.sql, [eventStoreSchema])
    const other = await connectPostgres(db.url)
    opened.push(other)
    const appender = new PostgresEventStore(db.sql, { acrossProcesses: true })
    const follower = new PostgresEventStore(other.sql, { acrossProcesses: true })
    opened.push(appender, follower)
    const followerWakes = wakeCounter(follower)
    // Listening, it wakes its followers once (for what was appended while it did not listen).
    await followerWakes.next()
    expect(follower.wakeupsPid).not.toBeNull()
    return { db, appender, follower, followerWakes }
  }

  it("wakes a follower in another process when an append commits, its own or in the caller's transaction", async () => {
    const { db, appender, followerWakes } = await twoProcesses()
    const woken = followerWakes.next()
    await appender.append(streamName(), [event('Appended')], { expectedRevision: 'no_stream' })
    await woken
    const afterCommit = followerWakes.next()
    await db.sql.begin(async (tx) => {
      await appender.appendInTransaction(tx, streamName(), [event('InTransaction')], { expectedRevision: 'no_stream' })
      await appender.appendInTransaction(tx, streamName(), [event('InTransactionToo')], { expectedRevision: 'no_stream' })
    })
    await afterCommit
    // Listening, the append, the transaction's commit (one notification for its two appends).
    expect(followerWakes.count).toBe(3)
  })

  it("wakes its own followers once for its own append: at the commit, not again at the append's notification", async () => {
    const { appender, follower, followerWakes } = await twoProcesses()
    // The follower's own append: its followers are told at the commit (synchronously, by the store itself).
    await follower.append(streamName(), [event('Own')], { expectedRevision: 'no_stream' })
    await follower.wakeupsDelivered()
    // Listening, the own append's commit (its notification, heeded, would make it 3).
    expect(followerWakes.count).toBe(2)
    await appender.append(streamName(), [event('Other')], { expectedRevision: 'no_stream' })
    await follower.wakeupsDelivered()
    expect(followerWakes.count).toBe(3)
  })

  it('listens again after its connection was lost, and wakes its followers for what was appended meanwhile', async () => {
    const { db, appender, follower, followerWakes } = await twoProcesses()
    const lostPid = follower.wakeupsPid!
    await db.sql`select pg_terminate_backend(${lostPid})`
    await appender.append(streamName(), [event('WhileNotListening')], { expectedRevision: 'no_stream' })
    // Woken once listening again (the ended backend may still have delivered the append's notification first).
    for (let wakes = 0; follower.wakeupsPid === null || follower.wakeupsPid === lostPid; wakes++) {
      if (wakes > 3) expect.fail('the follower did not listen again')
      await followerWakes.next()
    }
    const woken = followerWakes.next()
    await appender.append(streamName(), [event('AfterReconnect')], { expectedRevision: 'no_stream' })
    await woken
  })

  it('ends its listening connection when the store closes', async () => {
    const { db, follower } = await twoProcesses()
    const pid = follower.wakeupsPid!
    await follower.close()
    expect(follower.wakeupsPid).toBeNull()
    // The server ends the backend right after its client's Terminate: gone within a few of these round trips.
    for (let tries = 0; tries < 500; tries++) {
      const rows = await db.sql`select 1 from pg_stat_activity where pid = ${pid}`
      if (rows.length === 0) return
    }
    expect.fail('the listening connection outlived its store')
  })
})

interface WakeCounter {
  /** Wake-ups so far. */
  readonly count: number
  /** Resolves at the next wake-up after this call. */
  next(): Promise<void>
}

function wakeCounter(store: PostgresEventStore): WakeCounter {
  let count = 0
  let waiting: Array<() => void> = []
  store.onAppended(() => {
    count += 1
    const woken = waiting
    waiting = []
    for (const resolve of woken) resolve()
  })
  return {
    get count() {
      return count
    },
    next: () => new Promise<void>((resolve) => waiting.push(resolve)),
  }
}

function streamName(): string {
  return `wakeups-${randomUUID()}`
}

function event(type: string): EventToAppend {
  return { eventId: randomUUID(), type, version: 1, data: { type }, metadata: {} }
}
