import pino from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { capabilities } from '../../src/auth/capabilities.js'
import { CredentialCache, credentialCacheFor, PostgresInvalidationSource, type InvalidationSource } from '../../src/auth/credential-cache.js'
import { createOperator, issueToken, type Operator } from '../../src/auth/operator-store.js'
import { cheapScryptParamsForTests } from '../../src/auth/password-hash.js'
import { connectPostgres, type Database, type Sql } from '../../src/db/database.js'
import { migrateService } from '../../src/service-migrations.js'
import { EventLog } from '../../src/store/event-log.js'
import { PostgresEventStore } from '../../src/store/postgres-event-store.js'
import { apiAppFor, testCatalogOfBuiltIns } from '../support/api-app.js'
import { freshEmbeddedDatabase, freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'

/** A source the test drives by hand. */
class ManualSource implements InvalidationSource {
  handlers: Parameters<InvalidationSource['start']>[0] | null = null
  start(handlers: Parameters<InvalidationSource['start']>[0]): void {
    this.handlers = handlers
  }
  async close(): Promise<void> {}
}

const operator: Operator = { id: 'op-1', email: 'a@ops.test', name: 'A', capabilities: ['platform.ops.view'], isBreakGlass: false }
const token = 'rcp_' + 'x'.repeat(43)

/** A stand-in for the database: answers the token lookup with `rows()`, counting the lookups. */
function fakeSql(rows: () => Promise<unknown[]> | unknown[]) {
  const calls = { count: 0 }
  const sql = { unsafe: async () => (calls.count++, rows()) } as unknown as Sql
  return { sql, calls }
}

describe('credential cache (unit)', () => {
  it('serves a cached token only while the source is up; back up, it starts empty', async () => {
    const source = new ManualSource()
    const cache = new CredentialCache({ mode: 'listen', source })
    const { sql, calls } = fakeSql(() => [{ ...toRow(operator), expires_at: new Date(Date.now() + 60_000) }])
    // Not yet listening: every request reads the database and nothing is kept.
    expect(await cache.resolveToken(sql, token)).toMatchObject({ id: 'op-1' })
    expect(cache.size).toBe(0)
    source.handlers!.onUp()
    await cache.resolveToken(sql, token)
    await cache.resolveToken(sql, token)
    expect(calls.count).toBe(2)
    // The listener is lost: the cache is emptied and not trusted.
    source.handlers!.onDown()
    expect(cache.isTrusted).toBe(false)
    await cache.resolveToken(sql, token)
    await cache.resolveToken(sql, token)
    expect(calls.count).toBe(4)
    expect(cache.size).toBe(0)
    source.handlers!.onUp()
    await cache.resolveToken(sql, token)
    await cache.resolveToken(sql, token)
    expect(calls.count).toBe(5)
  })

  it('a notification for the operator drops their tokens; another operator’s stay', async () => {
    const source = new ManualSource()
    const cache = new CredentialCache({ mode: 'listen', source })
    source.handlers!.onUp()
    const { sql, calls } = fakeSql(() => [{ ...toRow(operator), expires_at: new Date(Date.now() + 60_000) }])
    await cache.resolveToken(sql, token)
    source.handlers!.onNotify('someone-else')
    await cache.resolveToken(sql, token)
    expect(calls.count).toBe(1)
    source.handlers!.onNotify('op-1')
    await cache.resolveToken(sql, token)
    expect(calls.count).toBe(2)
  })

  it('a lookup that an invalidation overtook does not store what it read', async () => {
    const source = new ManualSource()
    const cache = new CredentialCache({ mode: 'listen', source })
    source.handlers!.onUp()
    let release!: (rows: unknown[]) => void
    const pending = new Promise<unknown[]>((resolve) => (release = resolve))
    const { sql } = fakeSql(() => pending)
    const lookup = cache.resolveToken(sql, token)
    // The revoking transaction commits (and is heard of) while the lookup's row, read before, is on its way.
    source.handlers!.onNotify('op-1')
    release([{ ...toRow(operator), expires_at: new Date(Date.now() + 60_000) }])
    await lookup
    expect(cache.size).toBe(0)
  })

  it('an entry is not used past its token’s expiry', async () => {
    let now = 1_000_000
    const source = new ManualSource()
    const cache = new CredentialCache({ mode: 'listen', source, now: () => now })
    source.handlers!.onUp()
    let expired = false
    const { sql, calls } = fakeSql(() => (expired ? [] : [{ ...toRow(operator), expires_at: new Date(now + 1_000) }]))
    expect(await cache.resolveToken(sql, token)).not.toBeNull()
    now += 1_000
    expired = true
    expect(await cache.resolveToken(sql, token)).toBeNull()
    expect(calls.count).toBe(2)
  })

  it('never stores an unknown token, and does not look up what cannot be a token', async () => {
    const cache = new CredentialCache({ mode: 'in-process' })
    const { sql, calls } = fakeSql(() => [])
    expect(await cache.resolveToken(sql, token)).toBeNull()
    expect(await cache.resolveToken(sql, 'not-a-token')).toBeNull()
    expect(calls.count).toBe(1)
    expect(cache.size).toBe(0)
  })
})

function toRow(o: Operator) {
  return { id: o.id, email: o.email, name: o.name, capabilities: o.capabilities, is_break_glass: o.isBreakGlass }
}

interface Instance {
  sql: Sql
  cache: CredentialCache
  source: PostgresInvalidationSource | null
  get(path: string, bearer: string): Promise<number>
  send(method: string, path: string, bearer: string, json: unknown): Promise<number>
}

const catalog = testCatalogOfBuiltIns

/** An API "process": its own pool, its own cache (and listener), its own app. */
function apiInstance(sql: Sql, cache: CredentialCache, source: PostgresInvalidationSource | null): Instance {
  const app = apiAppFor(sql, cache)
  return {
    sql,
    cache,
    source,
    async get(path, bearer) {
      return (await app.request(path, { headers: { authorization: `Bearer ${bearer}` } })).status
    },
    async send(method, path, bearer, json) {
      const response = await app.request(path, {
        method,
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify(json),
      })
      return response.status
    },
  }
}

async function seedOperators(sql: Sql) {
  const hashParams = { ...cheapScryptParamsForTests }
  const admin = await createOperator(sql, { email: 'admin@ops.test', name: 'Admin', password: 'admin-password-1', capabilities: [...catalog.knownCapabilities], isBreakGlass: false }, { hashParams })
  const viewer = await createOperator(sql, { email: 'viewer@ops.test', name: 'Viewer', password: 'viewer-password-1', capabilities: [capabilities.opsView], isBreakGlass: false }, { hashParams })
  return { admin, viewer, adminToken: await issueToken(sql, admin.id, 3600), viewerToken: await issueToken(sql, viewer.id, 3600) }
}

describe.skipIf(!TEST_POSTGRES_URL)('credential cache across API processes (PostgreSQL)', () => {
  const opened: Array<{ close(): Promise<void> }> = []
  afterEach(async () => {
    for (const item of opened.splice(0).reverse()) await item.close()
  })

  /** `asTheServiceMakesIt`: each process's cache made by `credentialCacheFor`, as `createApp` makes it. */
  async function setUp(options: { reconnectDelayMs?: number; asTheServiceMakesIt?: boolean } = {}) {
    const db = await freshPostgresDatabase()
    opened.push(db)
    await migrateService(db.sql, { postgresEventStore: true, runbooks: catalog.runbooks })
    const seeded = await seedOperators(db.sql)
    const instances: Instance[] = []
    for (let i = 0; i < 2; i++) {
      const pool: Database = await connectPostgres(db.url)
      const source = options.asTheServiceMakesIt ? null : new PostgresInvalidationSource(pool.sql, { reconnectDelayMs: options.reconnectDelayMs ?? 50 })
      const cache = source ? new CredentialCache({ mode: 'listen', source }) : credentialCacheFor(pool.sql)
      opened.push({ close: async () => (await cache.close(), await pool.close()) })
      await cache.until((c) => c.isTrusted)
      instances.push(apiInstance(pool.sql, cache, source))
    }
    return { db, ...seeded, a: instances[0]!, b: instances[1]! }
  }

  it('an operator disabled through one process is refused by the other on the very next request', async () => {
    const { a, b, viewer, viewerToken, adminToken } = await setUp()
    expect(await b.get('/api/runs', viewerToken)).toBe(200)
    expect(await b.get('/api/runs', viewerToken)).toBe(200)
    expect(b.cache.size).toBe(1)
    expect(await a.send('PATCH', `/api/operators/${viewer.id}`, adminToken, { disabled: true })).toBe(200)
    expect(await b.get('/api/runs', viewerToken)).toBe(401)
    expect(await a.get('/api/runs', viewerToken)).toBe(401)
  })

  it('a capability removed through one process is missing in the other at once', async () => {
    const { a, b, viewer, viewerToken, adminToken } = await setUp()
    expect(await b.get('/api/runs', viewerToken)).toBe(200)
    expect(await a.send('PATCH', `/api/operators/${viewer.id}`, adminToken, { capabilities: [capabilities.runbooksView] })).toBe(200)
    expect(await b.get('/api/runs', viewerToken)).toBe(403)
  })

  it('a token revoked (logout) through one process is refused by the other', async () => {
    const { a, b, viewerToken } = await setUp()
    expect(await b.get('/api/runs', viewerToken)).toBe(200)
    const revoked = await a.send('DELETE', '/api/auth/tokens/current', viewerToken, {})
    expect(revoked).toBeLessThan(300)
    expect(await b.get('/api/runs', viewerToken)).toBe(401)
  })

  it('with the caches the service makes, a token revoked through one process is refused by the other, every time', async () => {
    const { db, a, b, viewer } = await setUp({ asTheServiceMakesIt: true })
    // The answer waits for every process's acknowledgement: the service's cache syncs through its listener.
    const synced = vi.spyOn(PostgresInvalidationSource.prototype, 'sync')
    for (let round = 0; round < 5; round++) {
      const token = await issueToken(db.sql, viewer.id, 3600)
      expect(await b.get('/api/runs', token)).toBe(200)
      expect(await a.send('DELETE', '/api/auth/tokens/current', token, {})).toBeLessThan(300)
      expect(await b.get('/api/runs', token)).toBe(401)
    }
    expect(synced).toHaveBeenCalledTimes(5)
    synced.mockRestore()
  })

  it('a password set through one process ends the operator’s tokens in the other', async () => {
    const { a, b, viewer, viewerToken, adminToken } = await setUp()
    expect(await b.get('/api/runs', viewerToken)).toBe(200)
    expect(await a.send('POST', `/api/operators/${viewer.id}/password`, adminToken, { password: 'a brand new password' })).toBe(200)
    expect(await b.get('/api/runs', viewerToken)).toBe(401)
  })

  it('a process whose listener is lost stops using its cache until it listens again, then starts empty', async () => {
    const { db, b, viewer, viewerToken, adminToken } = await setUp({ reconnectDelayMs: 60_000 })
    expect(await b.get('/api/runs', viewerToken)).toBe(200)
    expect(b.cache.size).toBe(1)
    const pid = b.source!.pid
    await db.sql`select pg_terminate_backend(${pid})`
    await b.cache.until((c) => !c.isTrusted)
    // Changed behind the process's back (its notification goes nowhere): the database is asked again.
    await db.sql`update operators set disabled_at = now() where id = ${viewer.id}`
    expect(await b.get('/api/runs', viewerToken)).toBe(401)
    expect(await b.get('/api/runs', adminToken)).toBe(200)
    expect(b.cache.size).toBe(0)
  })

  it('a process that lost its listener listens again and empties its cache first', async () => {
    const { db, b, viewerToken } = await setUp({ reconnectDelayMs: 10 })
    expect(await b.get('/api/runs', viewerToken)).toBe(200)
    const pid = b.source!.pid
    await db.sql`select pg_terminate_backend(${pid})`
    await b.cache.until((c) => !c.isTrusted)
    await b.cache.until((c) => c.isTrusted)
    expect(b.source!.pid).not.toBe(pid)
    expect(b.cache.size).toBe(0)
    expect(await b.get('/api/runs', viewerToken)).toBe(200)
    expect(b.cache.size).toBe(1)
  })
})

describe('credential cache on the embedded database (one process)', () => {
  it('a revocation through the API is seen by the next request', async () => {
    const db = await freshEmbeddedDatabase()
    try {
      await migrateService(db.sql, { postgresEventStore: true, runbooks: catalog.runbooks })
      const { viewer, viewerToken, adminToken } = await seedOperators(db.sql)
      const cache = new CredentialCache({ mode: 'in-process' })
      const api = apiInstance(db.sql, cache, null)
      expect(await api.get('/api/runs', viewerToken)).toBe(200)
      expect(cache.size).toBe(1)
      expect(await api.send('PATCH', `/api/operators/${viewer.id}`, adminToken, { capabilities: [capabilities.runbooksView] })).toBe(200)
      expect(await api.get('/api/runs', viewerToken)).toBe(403)
      expect(await api.send('PATCH', `/api/operators/${viewer.id}`, adminToken, { disabled: true })).toBe(200)
      expect(await api.get('/api/runs', viewerToken)).toBe(401)
    } finally {
      await db.close()
    }
  })
})
