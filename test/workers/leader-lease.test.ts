import { createConnection, createServer, type Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Database } from '../../src/db/database.js'
import { LEASE_APPLICATION_NAME, LeaderLease } from '../../src/workers/leader-lease.js'
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

  function lease(url = db.url, options: { idleSessionTimeoutMs?: number } = {}) {
    const record = { led: 0, steppedDown: 0, warnings: [] as string[] }
    const made = new LeaderLease({
      url,
      lockKey: LOCK_KEY,
      checkEveryMs: 3_600_000,
      ...options,
      lead: () => void record.led++,
      stepDown: async () => void record.steppedDown++,
      logger: { info: () => {}, warn: (_obj: unknown, message?: string) => void record.warnings.push(message ?? '') },
    })
    leases.push(made)
    return Object.assign(record, { lease: made })
  }

  /** The lease's connections are named after this process (tests run their leases in one). */
  const leaseName = `${LEASE_APPLICATION_NAME} (pid ${process.pid})`

  /** Ends the lease's own connection from the server's side (the network cut, or the server restarted it). */
  async function cutLeaseConnections(): Promise<number> {
    const cut = await db.sql`
      select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and application_name = ${leaseName}`
    return cut.length
  }

  /** The lease sessions the server has now. */
  async function leaseSessions(): Promise<number> {
    const [row] = await db.sql<Array<{ n: number }>>`
      select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = ${leaseName}`
    return row!.n
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

  it('a leader whose connection was cut steps down, and a standby that checks first takes the lock', async () => {
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
    // The lock went with the connection: it steps down without waiting for a check.
    await vi.waitFor(() => expect(only.steppedDown).toBe(1), { timeout: 5_000, interval: 10 })
    expect(only.lease.leading).toBe(false)
    // The driver connects again; the next check answered takes the lock back (a failed one before it changes nothing).
    for (let check = 0; check < 3 && !only.lease.leading; check++) await only.lease.check()
    expect(only.lease.leading).toBe(true)
    expect(only.led).toBe(2)
    // It holds the lock on the server: another process cannot take it.
    const other = lease()
    await other.lease.start()
    expect(other.lease.leading).toBe(false)
  })

  it('a leader that stopped checking (frozen, its host gone) is cut off by the server, and another process leads', async () => {
    const frozen = lease(db.url, { idleSessionTimeoutMs: 200 })
    await frozen.lease.start()
    expect(frozen.lease.leading).toBe(true)
    const standby = lease()
    await standby.lease.start()
    expect(standby.lease.leading).toBe(false)
    // No check of the frozen one runs (its next is an hour away): the server ends its idle session.
    await vi.waitFor(async () => expect(await leaseSessions()).toBe(1), { timeout: 10_000, interval: 50 })
    await standby.lease.check()
    expect(standby.lease.leading).toBe(true)
    // Its connection gone (its driver saw it close, or its next check finds it so): it steps down, and stays
    // down, the lock being another's now.
    for (let check = 0; check < 3; check++) await frozen.lease.check()
    expect(frozen.lease.leading).toBe(false)
    expect(frozen.steppedDown).toBe(1)
  })

  it('a stop with a check under way on a connection that stopped answering still ends', { timeout: 15_000 }, async () => {
    const proxy = await freezableProxy(new URL(db.url))
    try {
      const url = new URL(db.url)
      url.port = String(proxy.port)
      const only = lease(url.toString())
      await only.lease.start()
      expect(only.lease.leading).toBe(true)
      proxy.freeze()
      const hung = only.lease.check()
      // The check's statement has gone out, and no answer comes back; the stop ends all the same.
      await proxy.heldBack
      await only.lease.stop()
      await hung
      expect(only.lease.leading).toBe(false)
      expect(only.steppedDown).toBe(1)
    } finally {
      proxy.close()
    }
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

/** A TCP proxy to `target` that can stop forwarding (both ways) while keeping its connections open: a network cut. */
async function freezableProxy(target: URL): Promise<{ port: number; freeze: () => void; heldBack: Promise<void>; close: () => void }> {
  const sockets: Socket[] = []
  let frozen = false
  let holdBack = () => {}
  const heldBack = new Promise<void>((resolve) => {
    holdBack = resolve
  })
  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) })
    sockets.push(client, upstream)
    client.on('data', (chunk) => {
      if (frozen) holdBack()
      else upstream.write(chunk)
    })
    upstream.on('data', (chunk) => void (frozen || client.write(chunk)))
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('the proxy has no port')
  return {
    port: address.port,
    heldBack,
    freeze: () => {
      frozen = true
    },
    close: () => {
      for (const socket of sockets) socket.destroy()
      server.close()
    },
  }
}

