import postgres from 'postgres'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { connectPostgres, type Database } from '../../src/db/database.js'
import { TEST_POSTGRES_URL } from '../support/databases.js'
import { fatalShuttingDown, startPostgresProxy, type PostgresProxy } from '../support/postgres-proxy.js'

/**
 * patches/postgres+3.4.9.patch: a transaction whose connection is lost mid-way (`pg_ctl -m immediate`: the
 * backend sends a WARNING notice and closes, no error) must not leave anything on the driver's connection
 * object, which the pool reconnects for the next user. Unpatched, the transaction's ROLLBACK was queued on
 * the dead connection and later taken as the query awaiting the next user's first reply: the next
 * `sql.begin` on that connection never settled (the fault suite's `restart-postgres-immediate` left a job
 * unacked, heartbeating forever). The server's drop is played by a TCP proxy of the test's own.
 */
describe.skipIf(!TEST_POSTGRES_URL)('PostgreSQL client after a connection is lost mid-transaction', () => {
  let proxy: PostgresProxy
  let db: Database
  /** Every proxied connection closed from the server's side, as a crashing backend does. */
  const dropConnections = () => proxy.dropConnections()

  beforeEach(async () => {
    proxy = await startPostgresProxy(TEST_POSTGRES_URL)
    // One connection: whatever the lost transaction leaves behind is met by the next user.
    db = await connectPostgres(proxy.url, { max: 1 })
  })

  afterEach(async () => {
    await db?.close()
    await proxy?.close()
  })

  /** The promise's outcome, or 'pending' when it has not settled within `ms`. */
  const settled = <T>(promise: Promise<T>, ms = 5_000) =>
    Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: { code?: string }) => ({ error: error.code ?? String(error) }),
      ),
      new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms)),
    ])

  it('the next transaction on the reconnected connection completes', async () => {
    const lost = db.sql.begin(async (tx) => {
      await tx`select 1`
      dropConnections()
      await tx`select pg_sleep(0.5)`
    })
    expect(await settled(lost)).toEqual({ error: 'CONNECTION_CLOSED' })

    const next = db.sql.begin(async (tx) => (await tx<Array<{ answer: number }>>`select 42 as answer`)[0]!.answer)
    expect(await settled(next)).toEqual({ value: 42 })
  })

  it("a lost transaction's later queries are refused, never run in the next user's session", async () => {
    let nextOpen!: () => void
    const nextIsOpen = new Promise<void>((resolve) => (nextOpen = resolve))
    let lateDone!: () => void
    const lateIsDone = new Promise<void>((resolve) => (lateDone = resolve))
    let late: Promise<unknown> = Promise.resolve()
    const lost = db.sql.begin(async (tx) => {
      await tx`select 1`
      dropConnections()
      await tx`select pg_sleep(0.5)`.catch(() => {})
      await nextIsOpen // the pool has reconnected the connection for another transaction meanwhile
      late = tx`select set_config('rcp.marker', 'lost transaction', false)`
      await late.catch(() => {})
      lateDone()
    })
    const lostOutcome = settled(lost)
    const next = db.sql.begin(async (tx) => {
      await tx`select 1`
      nextOpen()
      await lateIsDone
      const [row] = await tx<Array<{ marker: string | null }>>`select nullif(current_setting('rcp.marker', true), '') as marker`
      return row!.marker
    })
    expect(await lostOutcome).toEqual({ error: 'CONNECTION_CLOSED' })
    expect(await settled(next)).toEqual({ value: null })
    expect(await settled(late)).toEqual({ error: 'CONNECTION_CLOSED' })
  })

  it('a connection lost while the driver reads the array types, and reset when opened again, leaves nothing unhandled', async () => {
    // postgres.js reads the array types on a new connection before its first statement (fetch_types). Lost
    // then, the connection is opened again with that read still pending; when the new one fails (reset by a
    // server going down) the read fails with it, and nothing handled its failure: Node ends a process on
    // an unhandled rejection, and a worker died so in the fault suite's `restart-postgres-fast`
    // (porsager/postgres#1192, #1223).
    const unhandled: unknown[] = []
    const record = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', record)
    const fresh = postgres(proxy.url, { max: 1, onnotice: () => {} })
    try {
      proxy.dropWhenClientSends('typarray', () => proxy.refuseWith('reset'))
      const refused = proxy.refused(1)
      // The driver's own pool with its defaults, not yet connected (connectPostgres's has read the types).
      const first = fresh<Array<{ answer: number }>>`select 42 as answer`
      const outcome = settled(first.then((rows) => rows[0]!.answer))
      await refused
      proxy.refuseWith(null)
      // Settled either way: failed by the refusal, or answered on a connection opened after it.
      expect(await outcome).not.toBe('pending')
      // Node reports an unhandled rejection once the microtasks have run: give it a turn of the event loop.
      await new Promise((resolve) => setImmediate(resolve))
      expect(unhandled).toEqual([])
      const next = fresh<Array<{ answer: number }>>`select 43 as answer`
      expect(await settled(next.then((rows) => rows[0]!.answer))).toEqual({ value: 43 })
    } finally {
      process.off('unhandledRejection', record)
      await fresh.end({ timeout: 1 })
    }
  })

  it("a connection lost while the driver reads the array types, and refused when opened again, fails its first query with the refusal", async () => {
    // Lost during that read, the connection is opened again with the read still counted as its statement in
    // flight: the refusal's error (a server starting up or shutting down, too many clients) went to that
    // read, not to the query waiting for the connection, which was never settled while the driver opened
    // connections again without a pause.
    const fresh = postgres(proxy.url, { max: 1, onnotice: () => {} })
    try {
      proxy.dropWhenClientSends('typarray', () => proxy.refuseWith(fatalShuttingDown()))
      const first = fresh<Array<{ answer: number }>>`select 42 as answer`
      expect(await settled(first.then((rows) => rows[0]!.answer))).toEqual({ error: '57P03' })
      proxy.refuseWith(null)
      const next = fresh<Array<{ answer: number }>>`select 43 as answer`
      expect(await settled(next.then((rows) => rows[0]!.answer))).toEqual({ value: 43 })
    } finally {
      proxy.refuseWith(null)
      await fresh.end({ timeout: 1 })
    }
  })
})
