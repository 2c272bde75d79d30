import postgres from 'postgres'
import { afterEach, describe, expect, it } from 'vitest'
import { ListeningConnection } from '../../src/db/listening-connection.js'
import { freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'
import { startPostgresProxy, type PostgresProxy } from '../support/postgres-proxy.js'

/**
 * The LISTEN of the append wake-ups and of the credential cache: up, down as soon as its connection is lost,
 * and up again on a new one. The connection goes through a TCP proxy of the test's own, which can cut it
 * without a FIN.
 */
describe.skipIf(!TEST_POSTGRES_URL)('a listening connection (PostgreSQL)', () => {
  const opened: Array<{ close(): Promise<void> }> = []

  afterEach(async () => {
    for (const resource of opened.reverse()) await resource.close()
    opened.length = 0
  })

  /** A listener not started yet, through a proxy of the test's own, and what it heard and reported. */
  async function setUp(options: { heartbeatMs?: number } = {}) {
    const db = await freshPostgresDatabase()
    opened.push(db)
    const proxy: PostgresProxy = await startPostgresProxy(db.url)
    opened.push(proxy)
    // Never connected: the listener takes only its settings (a connection of the pool's own would be frozen
    // with the listener's, and its end would wait).
    const pool = postgres(proxy.url, { max: 1, onnotice: () => {} })
    opened.push({ close: () => pool.end({ timeout: 0 }) })
    const heard: string[] = []
    const states: string[] = []
    const errors: unknown[] = []
    let changed: () => void = () => {}
    /** Resolves once `holds` is true, looked at after each notification, up and down. */
    const until = async (holds: () => boolean) => {
      while (!holds()) await new Promise<void>((resolve) => (changed = resolve))
    }
    const listener = new ListeningConnection(pool, {
      channel: 'rcp_listening_test',
      applicationName: 'rcp listening test',
      onNotify: (payload) => {
        heard.push(payload)
        changed()
      },
      onUp: () => {
        states.push('up')
        changed()
      },
      onDown: () => {
        states.push('down')
        changed()
      },
      onError: (error) => errors.push(error),
      reconnectDelayMs: 10,
      ...options,
    })
    opened.push(listener)
    return { db, proxy, listener, heard, states, errors, until }
  }

  async function listening(options: { heartbeatMs?: number } = {}) {
    const set = await setUp(options)
    set.listener.start()
    await set.until(() => set.listener.listening)
    return set
  }

  it('hears what is notified on its channel, from another session', async () => {
    const { db, listener, heard, until } = await listening()
    expect(listener.listening).toBe(true)
    const [row] = await db.sql<Array<{ application_name: string }>>`select application_name from pg_stat_activity where pid = ${listener.pid}`
    expect(row?.application_name).toBe('rcp listening test')
    await db.sql`select pg_notify('rcp_listening_test', 'first'), pg_notify('rcp_other_channel', 'not this')`
    await until(() => heard.length > 0)
    await listener.delivered()
    expect(heard).toEqual(['first'])
  })

  it('goes down when a heartbeat is not answered (a connection cut without a FIN), and listens again on a new one', async () => {
    const { db, proxy, listener, heard, states, until } = await listening({ heartbeatMs: 250 })
    const frozenPid = listener.pid
    proxy.freezeConnections()
    // Unfrozen, the connection would stay up: it would be lost only when TCP gives up, many minutes later.
    await until(() => listener.pid !== null && listener.pid !== frozenPid)
    expect(states.slice(-2)).toEqual(['down', 'up'])
    await db.sql`select pg_notify('rcp_listening_test', 'after')`
    await until(() => heard.includes('after'))
    expect(heard).toEqual(['after'])
  })

  it('goes down when the server ends its session, and listens again', async () => {
    const { db, listener, states, until } = await listening()
    const endedPid = listener.pid
    await db.sql`select pg_terminate_backend(${endedPid})`
    await until(() => listener.pid !== null && listener.pid !== endedPid)
    expect(states).toEqual(['up', 'down', 'up'])
  })

  it('ends a connection still being made when it is closed, and reports no error for it', async () => {
    const { proxy, listener, errors } = await setUp()
    // The server never answers the startup: the connection stays in the making.
    proxy.freezeNew(true)
    const accepted = proxy.accepted(1)
    listener.start()
    await accepted
    await listener.close()
    await proxy.allClosed()
    expect(listener.listening).toBe(false)
    expect(errors).toEqual([])
  })
})
