import { randomUUID } from 'node:crypto'
import postgres from 'postgres'
import type { Sql } from '../db/database.js'
import { ListeningConnection } from '../db/listening-connection.js'
import { CREDENTIALS_CHANNEL, lookupToken, tokenHashOf, type Operator } from './operator-store.js'

export { CREDENTIALS_CHANNEL }
/** Payloads of the sync protocol (operator ids are ULIDs: never these). */
const SYNC_PREFIX = 'sync:'
const ACK_PREFIX = 'ack:'
const LISTENER_APPLICATION_NAME = 'rcp-credential-listener'

/** What the cache needs from its source of invalidations. */
export interface InvalidationSource {
  /** Starts listening; `onUp` once listening (again), `onDown` as soon as it is not, `onNotify` per notification. */
  start(handlers: { onUp(): void; onDown(): void; onNotify(payload: string): void }): void
  /** Resolves once every listening process has heard everything committed before the call (or `timeoutMs`). */
  sync?(sql: Sql, timeoutMs: number): Promise<void>
  close(): Promise<void>
}

export interface CredentialCacheOptions {
  /**
   * `listen`: PostgreSQL, where other API processes may share the database — entries are trusted only while
   * `source` is listening. `in-process`: the embedded database, which one process alone can reach (its
   * socket server takes one connection) — every change goes through this process, which tells the cache.
   */
  mode: 'listen' | 'in-process'
  source?: InvalidationSource
  maxEntries?: number
  /** An entry is read again from the database after this long, whatever was heard. */
  maxAgeMs?: number
  now?: () => number
}

interface Entry {
  operator: Operator
  operatorId: string
  expiresAt: number
  storedAt: number
}

/**
 * API token → operator, in this process (SPEC §10: a revocation takes effect on the very next request in
 * every API process). See docs/decisions.md "Credential cache (issue 11)".
 *
 * - A hit is used only while the cache is trusted: in-process mode, or listen mode with the listener up.
 *   A listener that goes down makes the cache untrusted at once (every request reads the database); when
 *   it is back, the cache is emptied before it is trusted again (notifications in between are lost).
 * - Every invalidation bumps `generation`; a lookup that started before it does not store what it read
 *   (it may have read the row before the revoking transaction committed).
 * - Token expiry holds: an entry keeps the token's `expires_at` and is not used past it.
 * - Unknown or expired tokens are never stored.
 */
export class CredentialCache {
  private readonly entries = new Map<string, Entry>()
  private generation = 0
  private trusted: boolean
  private readonly maxEntries: number
  private readonly maxAgeMs: number
  private readonly now: () => number
  private readonly stateWaiters = new Set<() => void>()

  constructor(private readonly options: CredentialCacheOptions) {
    this.maxEntries = options.maxEntries ?? 10_000
    this.maxAgeMs = options.maxAgeMs ?? 5 * 60_000
    this.now = options.now ?? Date.now
    this.trusted = options.mode === 'in-process'
    options.source?.start({
      onUp: () => {
        this.invalidateAll()
        this.trusted = true
        this.changed()
      },
      onDown: () => {
        this.trusted = false
        this.invalidateAll()
        this.changed()
      },
      onNotify: (payload) => this.invalidateOperator(payload),
    })
  }

  /**
   * After a request that may have changed credentials: returns once every API process's listener has heard
   * a notification sent after that request's commits — notifications arrive in commit order, so each of
   * them has dropped what those commits changed. Bounded by `timeoutMs`; a no-op when not listening.
   */
  async sync(sql: Sql, timeoutMs = 3_000): Promise<void> {
    if (this.options.mode !== 'listen' || !this.trusted) return
    await this.options.source?.sync?.(sql, timeoutMs)
  }

  /** Whether hits are used now (tests, health). */
  get isTrusted(): boolean {
    return this.trusted
  }

  get size(): number {
    return this.entries.size
  }

  /** Resolves once `predicate` holds of the cache (tests wait for the listener this way, never by time). */
  async until(predicate: (cache: CredentialCache) => boolean): Promise<void> {
    while (!predicate(this)) await new Promise<void>((resolve) => this.stateWaiters.add(resolve))
  }

  /** The operator behind an API token, or null (unknown, malformed, expired, or the operator disabled). */
  async resolveToken(sql: Sql, token: string): Promise<Operator | null> {
    const key = tokenHashOf(token)
    if (key === null) return null
    const now = this.now()
    if (this.trusted) {
      const hit = this.entries.get(key)
      if (hit) {
        if (hit.expiresAt > now && now - hit.storedAt < this.maxAgeMs) {
          // One turn of the event loop first: a notification that reached this process's socket before
          // this request (the revoking process answered after its commit, which sent it) is read by then.
          await new Promise<void>((resolve) => setImmediate(resolve))
          if (this.trusted && this.entries.get(key) === hit) return hit.operator
        } else {
          this.entries.delete(key)
        }
      }
    }
    const generation = this.generation
    const found = await lookupToken(sql, key, new Date(now))
    if (!found) return null
    if (this.trusted && generation === this.generation) {
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!)
      const operator = Object.freeze({ ...found.operator, capabilities: Object.freeze([...found.operator.capabilities]) as string[] })
      this.entries.set(key, { operator, operatorId: operator.id, expiresAt: found.expiresAt.getTime(), storedAt: now })
      return operator
    }
    return found.operator
  }

  /** Forgets every token of the operator (their row changed, or a token of theirs was revoked). */
  invalidateOperator(operatorId: string): void {
    this.generation++
    for (const [key, entry] of this.entries) if (entry.operatorId === operatorId) this.entries.delete(key)
  }

  invalidateAll(): void {
    this.generation++
    this.entries.clear()
  }

  async close(): Promise<void> {
    this.trusted = false
    this.invalidateAll()
    await this.options.source?.close()
  }

  private changed(): void {
    const waiters = [...this.stateWaiters]
    this.stateWaiters.clear()
    for (const resolve of waiters) resolve()
  }
}

/**
 * LISTEN on a connection of its own (see ListeningConnection: down as soon as that connection closes or stops
 * answering a heartbeat, then listening again after `reconnectDelayMs`), and the sync protocol: each listener
 * acks a sync from its listening session, so that a revoking process knows every listener has heard what it
 * committed.
 */
export class PostgresInvalidationSource implements InvalidationSource {
  private listener: ListeningConnection | null = null
  private handlers: Parameters<InvalidationSource['start']>[0] | null = null
  private readonly acks = new Map<string, (pid: number) => void>()

  constructor(
    private readonly sql: Sql,
    private readonly options: { reconnectDelayMs?: number; heartbeatMs?: number; onError?: (error: unknown) => void } = {},
  ) {}

  /** The backend pid of the listening connection while up (tests terminate it). */
  get pid(): number | null {
    return this.listener?.pid ?? null
  }

  start(handlers: Parameters<InvalidationSource['start']>[0]): void {
    this.handlers = handlers
    this.listener = new ListeningConnection(this.sql, {
      channel: CREDENTIALS_CHANNEL,
      applicationName: LISTENER_APPLICATION_NAME,
      onNotify: (payload, connection) => this.notified(payload, connection),
      onUp: () => this.handlers?.onUp(),
      onDown: () => this.handlers?.onDown(),
      onError: this.options.onError,
      reconnectDelayMs: this.options.reconnectDelayMs ?? 500,
      heartbeatMs: this.options.heartbeatMs,
    })
    this.listener.start()
  }

  private notified(payload: string, connection: postgres.Sql): void {
    if (payload.startsWith(SYNC_PREFIX)) {
      // Everything committed before this sync has been handled (in order, synchronously): say so. Also while
      // still connecting: the cache trusts nothing until it is up, and it starts empty then.
      const nonce = payload.slice(SYNC_PREFIX.length)
      void connection`select pg_notify(${CREDENTIALS_CHANNEL}, ${ACK_PREFIX + nonce + ':'} || pg_backend_pid())`.catch(() => {})
      return
    }
    if (payload.startsWith(ACK_PREFIX)) {
      const rest = payload.slice(ACK_PREFIX.length)
      const colon = rest.lastIndexOf(':')
      this.acks.get(rest.slice(0, colon))?.(Number(rest.slice(colon + 1)))
      return
    }
    this.handlers?.onNotify(payload)
  }

  async sync(sql: Sql, timeoutMs: number): Promise<void> {
    const nonce = randomUUID()
    // The listeners there are now; one that connects later empties its cache when it is up.
    const rows = await sql<{ pid: number }[]>`
      select pid from pg_stat_activity where datname = current_database() and application_name = ${LISTENER_APPLICATION_NAME}`
    const waiting = new Set(rows.map((row) => row.pid))
    let timer: NodeJS.Timeout | undefined
    const all = new Promise<void>((resolve) => {
      this.acks.set(nonce, (pid) => {
        waiting.delete(pid)
        if (waiting.size === 0) resolve()
      })
      timer = setTimeout(resolve, timeoutMs)
      timer.unref()
    })
    try {
      await sql`select pg_notify(${CREDENTIALS_CHANNEL}, ${SYNC_PREFIX + nonce})`
      if (waiting.size > 0) await all
    } finally {
      clearTimeout(timer)
      this.acks.delete(nonce)
    }
  }

  async close(): Promise<void> {
    await this.listener?.close()
  }
}

/**
 * The cache for `sql`: in-process on the embedded database (PGlite: one process, one connection),
 * listening on PostgreSQL. It is closed before `sql` ends (a listening connection would keep the process,
 * and the database, busy).
 */
export function credentialCacheFor(sql: Sql, options: { onError?: (error: unknown) => void } = {}): CredentialCache {
  const source = new DeferredSource()
  const cache = new CredentialCache({ mode: 'listen', source })
  closeBeforeEnd(sql, () => cache.close())
  void sql`select version() as version`.then(
    ([row]) => {
      const embedded = /emscripten|PGlite/i.test(String(row?.version ?? ''))
      source.become(embedded ? new AlwaysUpSource() : new PostgresInvalidationSource(sql, options))
    },
    (error) => {
      options.onError?.(error)
      source.become(new PostgresInvalidationSource(sql, options))
    },
  )
  return cache
}

/** Stands in until the kind of database is known: down (the cache is not trusted) until then. */
class DeferredSource implements InvalidationSource {
  private inner: InvalidationSource | null = null
  private handlers: Parameters<InvalidationSource['start']>[0] | null = null
  private closed = false
  start(handlers: Parameters<InvalidationSource['start']>[0]): void {
    this.handlers = handlers
  }
  become(inner: InvalidationSource): void {
    if (this.closed || !this.handlers) return
    this.inner = inner
    inner.start(this.handlers)
  }
  /** The sync of the source it became (none while the kind of database is not known yet). */
  async sync(sql: Sql, timeoutMs: number): Promise<void> {
    await this.inner?.sync?.(sql, timeoutMs)
  }
  async close(): Promise<void> {
    this.closed = true
    await this.inner?.close()
  }
}

/** The embedded database: nothing can change credentials but this process, which tells the cache itself. */
class AlwaysUpSource implements InvalidationSource {
  start(handlers: Parameters<InvalidationSource['start']>[0]): void {
    handlers.onUp()
  }
  async close(): Promise<void> {}
}

const closers = new WeakMap<Sql, Array<() => Promise<void>>>()

function closeBeforeEnd(sql: Sql, close: () => Promise<void>): void {
  let list = closers.get(sql)
  if (!list) {
    list = []
    closers.set(sql, list)
    const end = sql.end.bind(sql)
    const registered = list
    ;(sql as { end: Sql['end'] }).end = async (options?: { timeout?: number }) => {
      await Promise.all(registered.splice(0).map((fn) => fn().catch(() => {})))
      return end(options)
    }
  }
  list.push(close)
}
