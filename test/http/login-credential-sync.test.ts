import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { capabilities } from '../../src/auth/capabilities.js'
import { CredentialCache } from '../../src/auth/credential-cache.js'
import { LOGIN_ATTEMPTS_PER_IP_PER_WINDOW } from '../../src/auth/login-rate-limit.js'
import { createOperator } from '../../src/auth/operator-store.js'
import { cheapScryptParamsForTests } from '../../src/auth/password-hash.js'
import type { Database, Sql } from '../../src/db/database.js'
import { migrateService } from '../../src/service-migrations.js'
import { apiAppFor, testCatalogOfBuiltIns } from '../support/api-app.js'
import { freshEmbeddedDatabase } from '../support/databases.js'

/** Counts what the app's write middleware asks of the cache: on PostgreSQL a sync is two queries and a NOTIFY. */
class CountingCache extends CredentialCache {
  syncs = 0
  emptied = 0
  override async sync(sql: Sql, timeoutMs?: number): Promise<void> {
    this.syncs++
    await super.sync(sql, timeoutMs)
  }
  override invalidateAll(): void {
    this.emptied++
    super.invalidateAll()
  }
}

const catalog = testCatalogOfBuiltIns
const admin = { email: 'admin@ops.test', password: 'admin-password-1' }

/**
 * Issue 7: a refused login changes no credential, so it costs the credential cache nothing — before, every
 * refused login (a flood's thousands of 429s) emptied the process's token cache and, on PostgreSQL, waited
 * for every API process to acknowledge a sync: database round trips the refusal memory is there to avoid.
 */
describe('refused logins and the credential cache', () => {
  let db: Database
  let cache: CountingCache
  let app: ReturnType<typeof apiAppFor>

  const login = async (from: string, email: string, password: string) =>
    (
      await app.request('/api/auth/tokens', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
        body: JSON.stringify({ email, password }),
      })
    ).status

  beforeAll(async () => {
    db = await freshEmbeddedDatabase()
    await migrateService(db.sql, { postgresEventStore: true, runbooks: catalog.runbooks })
    await createOperator(db.sql, { ...admin, name: 'Admin', capabilities: [capabilities.opsView], isBreakGlass: false }, { hashParams: { ...cheapScryptParamsForTests } })
    cache = new CountingCache({ mode: 'in-process' })
    app = apiAppFor(db.sql, cache, { trustProxyHops: 1 })
  })
  afterAll(async () => {
    await db?.close()
  })

  it('a failed or rate-limited login neither empties the token cache nor syncs it; a login that issues a token may', async () => {
    const flooding = '198.51.100.77'
    const statuses: number[] = []
    for (let i = 0; i <= LOGIN_ATTEMPTS_PER_IP_PER_WINDOW + 5; i++) statuses.push(await login(flooding, `nobody-${i}@ops.test`, 'wrong'))
    expect(statuses.slice(0, LOGIN_ATTEMPTS_PER_IP_PER_WINDOW)).toEqual(Array(LOGIN_ATTEMPTS_PER_IP_PER_WINDOW).fill(401))
    expect(new Set(statuses.slice(LOGIN_ATTEMPTS_PER_IP_PER_WINDOW))).toEqual(new Set([429]))
    expect({ syncs: cache.syncs, emptied: cache.emptied }).toEqual({ syncs: 0, emptied: 0 })

    expect(await login('203.0.113.9', admin.email, admin.password)).toBe(201)
    expect(cache.syncs).toBe(1)
  })
})
