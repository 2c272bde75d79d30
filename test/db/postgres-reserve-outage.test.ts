import postgres from 'postgres'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Sql } from '../../src/db/database.js'
import { TEST_POSTGRES_URL } from '../support/databases.js'
import { fatalShuttingDown, startPostgresProxy, type PostgresProxy } from '../support/postgres-proxy.js'

/**
 * patches/postgres+3.4.9.patch, reserved connections across a server restart (`pg_ctl restart -m fast`: the
 * backends are terminated, then every new connection is refused at startup with FATAL 57P03 "the database
 * system is shutting down" until the server is back). The event store's group commit reserves a connection
 * per group. Unpatched, a reserve refused at startup stayed in the pool's queue and later took a connection
 * to its already rejected promise, and a reserve taken as a reconnect's first query was dropped once
 * connected: either way the pool lost a connection for good, and with every connection lost the worker's
 * jobs hung, heartbeating, never acked (the fault suite's restart-postgres-fast). The restart is played by a
 * TCP proxy of the test's own. A reserved connection terminated while a query waited in the reservation's own
 * queue (a group commit's COMMIT behind its first, described, append) left that query unsettled for good:
 * the group, and every append behind it, hung.
 */
describe.skipIf(!TEST_POSTGRES_URL)('PostgreSQL client reserving connections across a restart', () => {
  let proxy: PostgresProxy
  let sql: Sql

  beforeEach(async () => {
    proxy = await startPostgresProxy(TEST_POSTGRES_URL)
    // The driver's own pool (the service's is the same but for the reconnect delay): a short reconnect delay
    // keeps the test from waiting out the driver's growing backoff between refused attempts.
    sql = postgres(proxy.url, { max: 2, backoff: () => 0.01, onnotice: () => {} })
  })

  afterEach(async () => {
    await sql?.end({ timeout: 1 })
    await proxy?.close()
  })

  /** The promise's outcome, or 'pending' when it has not settled within `ms` (a hang, not an ordering). */
  const settled = <T>(promise: Promise<T>, ms = 5_000) =>
    Promise.race([
      promise.then(
        (value) => {
          // A reserve that waited out the outage is given back.
          if (typeof value === 'function' && 'release' in value) (value as unknown as { release(): void }).release()
          return 'settled' as const
        },
        (error: { code?: string }) => ({ error: error.code ?? String(error) }),
      ),
      new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms)),
    ])

  const bothConnectionsReserved = async () => {
    const [first, second] = await Promise.all([sql.reserve(), sql.reserve()])
    await Promise.all([first`select 1`, second`select 1`])
    first.release()
    second.release()
  }

  it('every connection can be reserved again once the server is back', async () => {
    // Both connections open, and their backends' pids.
    const [first, second] = await Promise.all([sql.reserve(), sql.reserve()])
    const pids = await Promise.all([first, second].map(async (connection) => (await connection<Array<{ pid: number }>>`select pg_backend_pid() as pid`)[0]!.pid))
    first.release()
    second.release()
    proxy.refuseWith(fatalShuttingDown())
    const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} })
    try {
      await admin`select pg_terminate_backend(pid) from unnest(${pids}::int[]) as pid`
    } finally {
      await admin.end()
    }
    // Whatever they meet, two queries tell the pool that both of its connections are gone.
    const lost = await Promise.all([settled(sql`select 1`), settled(sql`select 1`)])
    expect(lost).toEqual([{ error: expect.any(String) }, { error: expect.any(String) }])
    // Asked for while the server refuses every startup: refused, or kept waiting until it is back.
    const asked: Array<Promise<unknown>> = [sql`select 1`, sql`select 1`, sql.reserve()]
    const duringOutage = Promise.all(asked.map((promise) => settled(promise, 10_000)))
    await Promise.race([proxy.refused(12), duringOutage])

    proxy.refuseWith(null)
    expect(await duringOutage).not.toContain('pending')
    for (let round = 0; round < 3; round++) expect(await settled(bothConnectionsReserved())).toBe('settled')
  })

  it('queries waiting on a reserved connection that closes are rejected, and none sent after reaches its successor', async () => {
    // The group commit's shape: begin, a statement the server describes first (its parameters' types are
    // not known on this connection yet), commit. The commit waits in the reservation's own queue until the
    // described statement answers; the backend is terminated meanwhile.
    const db = await sql.reserve()
    const pid = (await db<Array<{ pid: number }>>`select pg_backend_pid() as pid`)[0]!.pid
    const sent = [db`begin`.execute(), db`select pg_sleep(0.5), ${`described ${Math.random()}`}::text`.execute(), db`commit`.execute()]
    const outcomes = sent.map((promise) => settled(promise))
    const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} })
    try {
      await admin`select pg_sleep(0.1), pg_terminate_backend(${pid})`
    } finally {
      await admin.end()
    }
    expect(await Promise.all(outcomes)).toEqual(['settled', { error: 'CONNECTION_CLOSED' }, { error: 'CONNECTION_CLOSED' }])
    // The reservation is over: what is sent on it is refused, and giving it back does not hand the pool a
    // connection twice.
    expect(await settled(db`select 1`.execute())).toEqual({ error: 'CONNECTION_CLOSED' })
    db.release()
    for (let round = 0; round < 3; round++) expect(await settled(bothConnectionsReserved())).toBe('settled')
  })
})
