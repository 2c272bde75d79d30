import pino from 'pino'
import type { CredentialCache } from '../../src/auth/credential-cache.js'
import { cheapScryptParamsForTests } from '../../src/auth/password-hash.js'
import type { Sql } from '../../src/db/database.js'
import { createApp } from '../../src/http/app.js'
import { builtInRunbooks } from '../../src/runbooks/built-in-runbooks.js'
import { createRunbookCatalog } from '../../src/runbooks/catalog.js'
import { EventLog } from '../../src/store/event-log.js'
import { PostgresEventStore } from '../../src/store/postgres-event-store.js'

export const testCatalogOfBuiltIns = createRunbookCatalog(builtInRunbooks)

/**
 * The API app alone (no workers, no projector) over `sql`, with the credential cache a test watches: what
 * one API process serves. `trustProxyHops` 1 lets a test speak from many addresses (X-Forwarded-For).
 */
export function apiAppFor(sql: Sql, credentials: CredentialCache, options: { trustProxyHops?: number } = {}) {
  return createApp({
    sql,
    log: new EventLog(new PostgresEventStore(sql)),
    catalog: testCatalogOfBuiltIns,
    logger: pino({ level: 'silent' }),
    config: { TOKEN_TTL_SECONDS: 3600, NODE_ENV: 'test', TRUST_PROXY_HOPS: options.trustProxyHops ?? 0, WORKER_CONCURRENCY: 4, WORKER_CAPACITY: undefined } as never,
    healthy: async () => true,
    serveApi: true,
    hashParams: { ...cheapScryptParamsForTests },
    credentials,
  })
}
