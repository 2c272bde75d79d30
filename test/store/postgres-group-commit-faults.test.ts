import { randomUUID } from 'node:crypto'
import net from 'node:net'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database, Sql } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { WrongExpectedRevisionError, type EventToAppend } from '../../src/store/event-store.js'
import { eventStoreSchema, PostgresEventStore } from '../../src/store/postgres-event-store.js'
import { freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'

/**
 * Group commit when the database goes out of reach: the appends of the group fail at once with the
 * connection's error (none is tried again one by one, which would make each wait for a connection that is
 * not there), and the store works again once the database is back.
 */

/** A TCP proxy to the database that can drop what the client sends next and stop accepting connections. */
class CuttableProxy {
  private server: net.Server | null = null
  private readonly sockets = new Set<net.Socket>()
  private armed = false
  port = 0

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host)
      this.sockets.add(client).add(upstream)
      const drop = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on('data', (chunk) => {
        // Armed: the next thing any client sends never reaches the database, and the database goes out of
        // reach for every connection at once (all of them die, new ones are refused), as in an outage: a
        // group sent on another connection at the same moment fails too, whatever the timing.
        if (this.armed) {
          this.armed = false
          this.stopListening()
          for (const socket of this.sockets) socket.destroy()
          this.sockets.clear()
          return
        }
        upstream.write(chunk)
      })
      upstream.on('data', (chunk) => client.write(chunk))
      client.on('close', drop).on('error', drop)
      upstream.on('close', drop).on('error', drop)
    })
    this.server = server
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    this.port = (server.address() as net.AddressInfo).port
  }

  /** The next bytes any client sends are dropped with every connection; new connections are refused. */
  cutOnNextSend(): void {
    this.armed = true
  }

  private stopListening(): void {
    this.server?.close()
    this.server = null
  }

  async close(): Promise<void> {
    this.stopListening()
    for (const socket of this.sockets) socket.destroy()
  }
}

// PostgreSQL only: the embedded database's socket serves one connection, which the direct client holds.
describe.runIf(TEST_POSTGRES_URL)('PostgresEventStore group commit with the database out of reach (PostgreSQL)', () => {
  let db: Database
  let proxy: CuttableProxy
  let proxied: Sql
  let transactionsStarted = 0

  beforeAll(async () => {
    db = await freshPostgresDatabase()
    await applyMigrations(db.sql, [eventStoreSchema])
    const url = new URL(db.url)
    proxy = new CuttableProxy({ host: url.hostname, port: Number(url.port || 5432) })
    await proxy.listen()
    url.hostname = '127.0.0.1'
    url.port = String(proxy.port)
    const sql = postgres(url.toString(), { max: 3, onnotice: () => {}, connect_timeout: 5 })
    // Counts the transactions the store opens itself (`appendAlone`, the one-by-one fallback, uses begin).
    proxied = new Proxy(sql, {
      get(target, property, receiver) {
        if (property === 'begin') transactionsStarted++
        return Reflect.get(target, property, receiver)
      },
    })
  })
  afterAll(async () => {
    await proxied?.end({ timeout: 1 })
    await proxy?.close()
    await db?.close()
  })

  it('fails every append of the group at once, writes nothing, and works again when the database is back', async () => {
    const store = new PostgresEventStore(proxied)
    const warmUp = await store.append(`faults-${randomUUID()}`, [event('WarmUp')], { expectedRevision: 'no_stream' })
    expect(warmUp.nextExpectedRevision).toBe(0)

    const streams = Array.from({ length: 4 }, () => `faults-${randomUUID()}`)
    const batches = streams.map((stream) => [event(`On ${stream}`)])
    proxy.cutOnNextSend()
    const outcomes = await Promise.all(
      streams.map((stream, index) =>
        store.append(stream, batches[index]!, { expectedRevision: 'no_stream' }).then(
          () => new Error('appended while the database was out of reach'),
          (error: unknown) => error,
        ),
      ),
    )
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(Error)
      expect(outcome).not.toBeInstanceOf(WrongExpectedRevisionError)
      expect((outcome as { name?: string }).name).not.toBe('PostgresError')
    }
    // Not tried again one by one: no append opened a transaction of its own.
    expect(transactionsStarted).toBe(0)
    const direct = new PostgresEventStore(db.sql)
    for (const stream of streams) expect(await direct.readStream(stream)).toEqual([])

    // Back: the pool opens new connections (none of the dead ones is handed out) and the same appends land.
    await proxy.listen()
    const retried = await Promise.all(streams.map((stream, index) => store.append(stream, batches[index]!, { expectedRevision: 'no_stream' })))
    expect(retried.map((result) => result.nextExpectedRevision)).toEqual([0, 0, 0, 0])
    for (const [index, stream] of streams.entries()) {
      expect((await direct.readStream(stream)).map((stored) => stored.eventId)).toEqual(batches[index]!.map((e) => e.eventId))
    }
    for (let round = 0; round < 5; round++) {
      await store.append(streams[0]!, [event(`Again ${round}`)], { expectedRevision: round })
    }
  })
})

function event(type: string): EventToAppend {
  return { eventId: randomUUID(), type, version: 1, data: { type }, metadata: {} }
}
