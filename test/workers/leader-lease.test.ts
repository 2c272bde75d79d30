import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/database.js'
import { LeaderLease } from '../../src/workers/leader-lease.js'
import { freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'

const LOCK_KEY = 7_412_006

/**
 * One worker process at a time leads the followers (dispatcher, planner, verifier): two processes on one
 * database, their checks driven by hand (`checkEveryMs` far beyond a test's length).
 */
describe.skipIf(!TEST_POSTGRES_URL)('the leader lease on PostgreSQL', () => {
  let db: Database
  const leases: LeaderLease[] = []

  beforeEach(async () => {
    db = await freshPostgresDatabase()
  })
  afterEach(async () => {
    await Promise.all(leases.splice(0).map((lease) => lease.stop()))
    await db?.close()
  })

  function lease(url = db.url) {
    const record = { led: 0, steppedDown: 0, warnings: [] as string[] }
    const made = new LeaderLease({
      url,
      lockKey: LOCK_KEY,
      checkEveryMs: 3_600_000,
      lead: () => void record.led++,
      stepDown: async () => void record.steppedDown++,
      logger: { info: () => {}, warn: (_obj: unknown, message?: string) => void record.warnings.push(message ?? '') },
    })
    leases.push(made)
    return Object.assign(record, { lease: made })
  }

  /** Ends the lease's own connection from the server's side (the network cut, or the server restarted it). */
  async function cutLeaseConnections(): Promise<number> {
    const cut = await db.sql`
      select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and application_name = 'runbook-control-plane leader lease'`
    return cut.length
  }

  it('leads in the first process to start, and not in a second one', async () => {
    const first = lease()
    const second = lease()
    await first.lease.start()
    await second.lease.start()
    await second.lease.check()
    expect([first.lease.leading, second.lease.leading]).toEqual([true, false])
    expect([first.led, second.led]).toEqual([1, 0])
  })

  it('checking again keeps the lead without starting the followers twice, and a stop lets the other take it', async () => {
    const first = lease()
    const second = lease()
    await first.lease.start()
    await first.lease.check()
    await first.lease.check()
    await second.lease.start()
    expect(first.led).toBe(1)
    expect(second.lease.leading).toBe(false)

    await first.lease.stop()
    expect(first.steppedDown).toBe(1)
    await second.lease.check()
    expect(second.lease.leading).toBe(true)
    expect(second.led).toBe(1)
  })

  it('a leader whose connection was cut steps down once another process took the lock', async () => {
    const first = lease()
    const second = lease()
    await first.lease.start()
    await second.lease.start()
    expect(await cutLeaseConnections()).toBe(2)

    // The standby checks first (its driver connects again after the cut): the lock the cut connection held is free.
    for (let check = 0; check < 3 && !second.lease.leading; check++) await second.lease.check()
    expect(second.lease.leading).toBe(true)
    for (let check = 0; check < 3; check++) await first.lease.check()
    expect(first.lease.leading).toBe(false)
    expect(first.steppedDown).toBe(1)
    expect([first.led, second.led]).toEqual([1, 1])
  })

  it('a leader whose connection was cut steps down, and takes the lock again on a new one when nobody else did', async () => {
    const only = lease()
    await only.lease.start()
    expect(await cutLeaseConnections()).toBe(1)
    // The check that finds the connection ended cannot tell who holds the lock now.
    await only.lease.check()
    expect(only.lease.leading).toBe(false)
    expect(only.steppedDown).toBe(1)
    // The driver connects again; the next check answered takes the lock back (a failed one before it changes nothing).
    for (let check = 0; check < 3 && !only.lease.leading; check++) await only.lease.check()
    expect(only.lease.leading).toBe(true)
    expect(only.led).toBe(2)
    // It holds the lock on the server: another process cannot take it.
    const other = lease()
    await other.lease.start()
    expect(other.lease.leading).toBe(false)
  })

  it('does not lead while the database does not answer, and says so once', async () => {
    const url = new URL(db.url)
    url.port = '1'
    const away = lease(url.toString())
    await away.lease.start()
    await away.lease.check()
    expect(away.lease.leading).toBe(false)
    expect(away.led).toBe(0)
    expect(away.warnings).toHaveLength(1)
    expect(away.warnings[0]).toMatch(/did not answer/)
  })
})
