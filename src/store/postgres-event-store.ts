import { randomUUID } from 'node:crypto'
import { advisoryLockKeys } from '../db/advisory-locks.js'
import { idleInTransactionTimeoutMs, isServerError, isStatementError, type Sql, type TransactionSql } from '../db/database.js'
import type { MigrationSet } from '../db/migrations.js'
import { inTurn } from '../db/transaction-turns.js'
import { appendWakeups, APPENDS_CHANNEL } from './append-wakeups.js'
import type { ListeningConnection } from '../db/listening-connection.js'
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type ReadAllOptions,
  type StoredEvent,
  type StreamAppend,
} from './event-store.js'

/**
 * The event store in PostgreSQL — the same SQL on a PostgreSQL server and on the embedded PGlite.
 *
 * Global order (DESIGN "Known traps", invariant 2): appends take one transaction-scoped advisory lock
 * (`GLOBAL_APPEND_LOCK`) before their insert, so append transactions commit one after the other and the
 * identity column hands out positions in commit order. A reader that sees position n therefore sees every
 * position below n, and "position > checkpoint" never skips a late commit. We chose this over the
 * snapshot-xmin horizon (Emmett's approach) because that horizon is held back by *any* open write
 * transaction on the server — a tenant repair, the platform's own traffic, an idle-in-transaction
 * session — and would stall the dispatcher and the projections for as long; appends here are single
 * short statements, so serialising them costs little (see docs/decisions.md). What it does cost — one
 * lock, one round trip and one commit per append — is shared by group commit: concurrent appends of one
 * process go in one transaction (see `append`).
 *
 * Expected revisions are enforced by a compare-and-set on the stream's row in `event_store_streams`,
 * in the same statement that inserts the events, so an append is atomic without an explicit transaction
 * and concurrent appends to one stream serialise on that row. `unique (stream_id, revision)` is the
 * backstop that makes two events at one revision impossible whatever the code above does.
 *
 * Payloads are stored as `json` (not `jsonb`): they come back exactly as written, `\u0000` included.
 */

/**
 * v1 (baseline): exactly the statements every start applied before versioned migrations. Idempotent, so a
 * deployment the previous release created records v1 without a change. Never edit (its checksum is recorded).
 */
const eventStoreBaseline: readonly string[] = [
  `create table if not exists event_store_streams (
       stream_id text primary key,
       revision bigint not null check (revision >= 0))`,
  `create table if not exists event_store_events (
       global_position bigint generated always as identity primary key,
       -- which transaction wrote the event: for audits and diagnosis; order comes from global_position
       transaction_id xid8 not null default pg_current_xact_id(),
       stream_id text not null,
       revision bigint not null,
       event_id text not null,
       type text not null,
       version integer not null,
       data json not null,
       metadata json not null,
       recorded_at timestamptz not null default now(),
       constraint event_store_events_stream_revision_key unique (stream_id, revision),
       constraint event_store_events_event_id_key unique (event_id))`,
]

/** Every table, index and statement of the adapter lives in this file: `eventStoreSchema` and `statements`. */
export const eventStoreSchema: MigrationSet = {
  owner: 'event-store',
  migrations: [{ version: 1, name: 'baseline', statements: eventStoreBaseline }],
}

type Executor = Sql | TransactionSql

interface AppendedRow {
  revision: string
  position: string
}

/**
 * `recorded_at_ms`: `recorded_at` as milliseconds since the epoch (float8, a number to the driver), since a
 * `Date` made from a number costs a fraction of one parsed from PostgreSQL's text (a replay makes one per
 * event); truncated to the millisecond, as parsing the text did.
 */
interface StoredEventRow {
  stream_id: string
  event_id: string
  type: string
  version: number
  data: unknown
  metadata: unknown
  revision: string
  position: string
  recorded_at_ms: number
}

interface ExistingEventRow {
  stream_id: string
  event_id: string
  revision: string
  position: string
}

/** How the stream row must look before an append; `exact` carries the expected last revision. */
type StreamCondition = { kind: 'any' | 'no_stream' | 'stream_exists' } | { kind: 'exact'; revision: number }

/** The conditions' codes in `appendGroup`'s statement. */
const CONDITION_KINDS = { any: 0, no_stream: 1, stream_exists: 2, exact: 3 } as const

interface GroupRow extends AppendedRow {
  stream_id: string
}

const statements = {
  /**
   * Claims revisions for `count` new events and inserts them, in one statement (hence one transaction).
   * The `stream` CTE returns the stream's new last revision, or no row when the expectation fails — the
   * insert then inserts nothing. Under READ COMMITTED a concurrent writer of the same stream waits on the
   * stream row and re-checks the condition against the committed revision, so exactly one CAS wins.
   */
  appendEvents(db: Executor, streamId: string, condition: StreamCondition, events: EventToAppend[]) {
    const count = events.length
    const stream = (() => {
      switch (condition.kind) {
        case 'any':
          return db`insert into event_store_streams as s (stream_id, revision) values (${streamId}, ${count - 1})
                    on conflict (stream_id) do update set revision = s.revision + ${count}
                    returning s.revision`
        case 'no_stream':
          return db`insert into event_store_streams (stream_id, revision) values (${streamId}, ${count - 1})
                    on conflict (stream_id) do nothing
                    returning revision`
        case 'stream_exists':
          return db`update event_store_streams set revision = revision + ${count}
                    where stream_id = ${streamId}
                    returning revision`
        case 'exact':
          return db`update event_store_streams set revision = revision + ${count}
                    where stream_id = ${streamId} and revision = ${condition.revision}
                    returning revision`
      }
    })()
    return db<AppendedRow[]>`
      with stream as (${stream}),
      inserted as (
        insert into event_store_events (stream_id, revision, event_id, type, version, data, metadata)
        select ${streamId}, stream.revision - ${count} + e.ordinality, e.event_id, e.type, e.version, e.data::json, e.metadata::json
        from stream,
             unnest(${events.map((event) => event.eventId)}::text[],
                    ${events.map((event) => event.type)}::text[],
                    ${events.map((event) => event.version)}::int[],
                    ${events.map((event) => toJsonText(event.data))}::text[],
                    ${events.map((event) => toJsonText(event.metadata))}::text[])
               with ordinality as e(event_id, type, version, data, metadata, ordinality)
        order by e.ordinality
        returning revision, transaction_id, global_position
      )
      select revision::text, transaction_id::text || ':' || global_position::text as position
      from inserted order by inserted.revision desc limit 1`
  },

  /**
   * A group commit's appends in one statement: every append's compare-and-set on its stream row and every
   * event of the appends whose compare-and-set held, inserted in the group's order. The streams of one group
   * are distinct (see `takeGroup`), so each stream row is claimed at most once. Returns one row per append
   * that was written (its stream, new last revision and last position); an append whose expectation failed
   * has none, and inserted nothing. Runs after `lockAppends` in the same transaction: its snapshot is taken
   * after the lock, so it sees every append committed before.
   */
  appendGroup(db: Executor, group: readonly PendingAppend[]) {
    const streams: string[] = []
    const kinds: number[] = []
    const expected: Array<string | null> = []
    const counts: number[] = []
    const owners: number[] = []
    const offsets: number[] = []
    const eventIds: string[] = []
    const types: string[] = []
    const versions: number[] = []
    const data: string[] = []
    const metadata: string[] = []
    for (const [index, append] of group.entries()) {
      streams.push(append.streamId)
      kinds.push(CONDITION_KINDS[append.condition.kind])
      expected.push(append.condition.kind === 'exact' ? String(append.condition.revision) : null)
      counts.push(append.events.length)
      for (const [offset, event] of append.events.entries()) {
        owners.push(index + 1)
        offsets.push(offset + 1)
        eventIds.push(event.eventId)
        types.push(event.type)
        versions.push(event.version)
        data.push(toJsonText(event.data))
        metadata.push(toJsonText(event.metadata))
      }
    }
    return db<GroupRow[]>`
      with a as (
        select * from unnest(${streams}::text[], ${kinds}::int[], ${expected}::bigint[], ${counts}::int[])
          with ordinality as a(stream_id, kind, expected, n, i)
      ),
      appended_any as (
        insert into event_store_streams as s (stream_id, revision)
        select stream_id, n - 1 from a where kind = ${CONDITION_KINDS.any}
        on conflict (stream_id) do update set revision = s.revision + excluded.revision + 1
        returning s.stream_id, s.revision
      ),
      created as (
        insert into event_store_streams (stream_id, revision)
        select stream_id, n - 1 from a where kind = ${CONDITION_KINDS.no_stream}
        on conflict (stream_id) do nothing
        returning stream_id, revision
      ),
      moved as (
        update event_store_streams as s set revision = s.revision + a.n
        from a
        where s.stream_id = a.stream_id
          and (a.kind = ${CONDITION_KINDS.stream_exists} or (a.kind = ${CONDITION_KINDS.exact} and s.revision = a.expected))
        returning s.stream_id, s.revision
      ),
      claimed as (
        select stream_id, revision from appended_any
        union all select stream_id, revision from created
        union all select stream_id, revision from moved
      ),
      inserted as (
        insert into event_store_events (stream_id, revision, event_id, type, version, data, metadata)
        select a.stream_id, c.revision - a.n + e.k, e.event_id, e.type, e.version, e.data::json, e.metadata::json
        from unnest(${owners}::int[], ${offsets}::int[], ${eventIds}::text[], ${types}::text[], ${versions}::int[],
                    ${data}::text[], ${metadata}::text[])
               with ordinality as e(owner, k, event_id, type, version, data, metadata, ordinality)
          join a on a.i = e.owner
          join claimed c on c.stream_id = a.stream_id
        order by e.ordinality
        returning stream_id, revision, transaction_id, global_position
      )
      select distinct on (stream_id) stream_id, revision::text, transaction_id::text || ':' || global_position::text as position
      from inserted order by inserted.stream_id, inserted.revision desc -- qualified: not the text output column`
  },

  async streamRevision(db: Executor, streamId: string): Promise<number | 'no_stream'> {
    const rows = await db<Array<{ revision: string }>>`select revision::text from event_store_streams where stream_id = ${streamId}`
    return rows[0] ? Number(rows[0].revision) : 'no_stream'
  },

  findEvents(db: Executor, eventIds: string[]): Promise<ExistingEventRow[]> {
    return db<ExistingEventRow[]>`
      select stream_id, event_id, revision::text, transaction_id::text || ':' || global_position::text as position
      from event_store_events where event_id = any(${eventIds}::text[])`
  },

  readStream(db: Executor, streamId: string, fromRevision: number, maxCount: number | null): Promise<StoredEventRow[]> {
    return db<StoredEventRow[]>`
      select stream_id, event_id, type, version, data, metadata, revision::text,
             transaction_id::text || ':' || global_position::text as position, floor(extract(epoch from recorded_at) * 1000)::float8 as recorded_at_ms
      from event_store_events
      where stream_id = ${streamId} and revision >= ${fromRevision}
      order by event_store_events.revision -- qualified: the bare name would sort the text output column
      limit ${maxCount}`
  },

  /** Positions are handed out in commit order (see the module comment), so plain position order is safe. */
  readAll(db: Executor, after: { transactionId: string; globalPosition: string }, maxCount: number): Promise<StoredEventRow[]> {
    return db<StoredEventRow[]>`
      select stream_id, event_id, type, version, data, metadata, revision::text,
             transaction_id::text || ':' || global_position::text as position, floor(extract(epoch from recorded_at) * 1000)::float8 as recorded_at_ms
      from event_store_events
      where global_position > ${after.globalPosition}::bigint
      order by global_position
      limit ${maxCount}`
  },

  /**
   * Held until the appending transaction ends: appends commit one at a time, in position order. Every append
   * of the deployment waits while one holds it, so the transaction may not sit idle for longer than
   * APPENDS_LOCK_IDLE_MS from here on (a shorter bound the transaction set is kept): a process frozen or cut
   * off between two of its round trips would otherwise stop every append until its connection dies.
   */
  lockAppends(db: Executor, notifyAs: string | null) {
    // `notifyAs` (null: none): other processes follow the store too (see appendWakeups), and this process's
    // appends notify with it; the notification is sent at the commit, once, however many appends the
    // transaction made.
    return db`
      select set_config('idle_in_transaction_session_timeout',
               (case when s.ms > 0 and s.ms <= ${APPENDS_LOCK_IDLE_MS} then s.ms else ${APPENDS_LOCK_IDLE_MS} end)::text, true),
             pg_advisory_xact_lock(${GLOBAL_APPEND_LOCK}),
             case when ${notifyAs}::text is not null then pg_notify(${APPENDS_CHANNEL}, ${notifyAs}::text) end
      from (select ${idleInTransactionTimeoutMs(db)} as ms) s`
  },
}

const GLOBAL_APPEND_LOCK = advisoryLockKeys.eventAppend

/** How long a transaction holding the appends' ordering lock may sit idle before PostgreSQL ends it. */
export const APPENDS_LOCK_IDLE_MS = 10_000

/** Appends written in one group commit at most: bounds one transaction's statements and the lock's hold. */
const MAX_GROUP_APPENDS = 64

/**
 * Groups written at once at most. The next group is sent while one is in flight: on the server it waits for
 * the ordering lock and runs as soon as the one before commits, instead of after that one's answer came back.
 */
const MAX_GROUPS_IN_FLIGHT = 2

interface PendingAppend {
  streamId: string
  events: EventToAppend[]
  expected: ExpectedRevision
  condition: StreamCondition
  resolve: (result: AppendResult) => void
  reject: (error: unknown) => void
}

const UNIQUE_VIOLATION = '23505'
const EVENT_ID_CONSTRAINT = 'event_store_events_event_id_key'
const POSITION_PATTERN = /^(\d+):(\d+)$/

export interface PostgresEventStoreOptions {
  /**
   * Other processes append to this store and follow it (PostgreSQL, the roles as processes): every append
   * NOTIFYs at its commit, and `onAppended` listeners hear of every process's appends (appendWakeups), not
   * of this process's alone. Not on the embedded database: one process owns it.
   */
  acrossProcesses?: boolean
}

export class PostgresEventStore implements EventStore {
  private readonly listeners = new Set<() => void>()
  /** What this process's appends NOTIFY with when other processes follow the store too (else null): see appendWakeups. */
  private readonly notifyAs: string | null
  /** Listening for other processes' appends: from the first `onAppended` listener on, until `close()`. */
  private wakeups: ListeningConnection | null = null
  private closed = false

  readonly atomicMultiStreamAppend = true

  /** The connection belongs to the caller; `close()` does not end it. */
  constructor(
    private readonly sql: Sql,
    options: PostgresEventStoreOptions = {},
  ) {
    this.notifyAs = options.acrossProcesses ? `process ${randomUUID()}` : null
  }

  async appendMany(appends: StreamAppend[]): Promise<AppendResult[]> {
    const results = (await this.sql.begin(async (tx) => {
      const done: AppendResult[] = []
      for (const { streamId, events, expectedRevision } of appends) {
        done.push(await this.appendInTransaction(tx, streamId, events, { expectedRevision }))
      }
      return done
    })) as AppendResult[]
    this.notifyAppended()
    return results
  }

  /**
   * Group commit: appends that arrive while a group is being written wait and go together in the next one:
   * one transaction under the ordering lock and one statement for all of them, sent in one round trip (see
   * `writeGroup`), so many writers pay one lock, one round trip and one commit between them instead of one
   * each. Each append keeps its own expected revision: a failed compare-and-set inserts nothing and does not
   * disturb the group. A statement error (a retried append's event ids) aborts the group's transaction: its
   * appends are then written one by one, so each learns its own fate. A database out of reach fails the
   * group's appends at once. As with any commit whose answer is lost, an append that failed on a lost
   * connection may have committed: appending the same events again is then a no-op with the same result.
   */
  async append(streamId: string, events: EventToAppend[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    validateBatch(streamId, events)
    const condition = toCondition(options.expectedRevision)
    return new Promise<AppendResult>((resolve, reject) => {
      this.waiting.push({ streamId, events, expected: options.expectedRevision, condition, resolve, reject })
      this.startGroups()
    })
  }

  private readonly waiting: PendingAppend[] = []
  /** The streams of the groups being written: their next appends wait for them (a stream's appends keep their order). */
  private readonly streamsInFlight = new Set<string>()
  private groupsInFlight = 0
  private startScheduled = false

  /**
   * Starts groups while there is room. With no group in flight one starts at once (a lone append waits for
   * nothing); beside one in flight, the next starts on the next turn of the event loop, so that the appends
   * its writers send on hearing back go together.
   */
  private startGroups(): void {
    while (this.groupsInFlight === 0 && this.waiting.length > 0) {
      if (!this.startGroup()) return
    }
    if (this.groupsInFlight > 0 && this.groupsInFlight < MAX_GROUPS_IN_FLIGHT && this.waiting.length > 0 && !this.startScheduled) {
      this.startScheduled = true
      setImmediate(() => {
        this.startScheduled = false
        while (this.groupsInFlight < MAX_GROUPS_IN_FLIGHT && this.waiting.length > 0) {
          if (!this.startGroup()) return
        }
      })
    }
  }

  /** Starts the next group, if a waiting append's stream is not in flight; false when none could start. */
  private startGroup(): boolean {
    const group = takeGroup(this.waiting, this.streamsInFlight)
    if (group.length === 0) return false
    this.groupsInFlight++
    for (const append of group) this.streamsInFlight.add(append.streamId)
    void this.settleGroup(group).finally(() => {
      this.groupsInFlight--
      for (const append of group) this.streamsInFlight.delete(append.streamId)
      this.startGroups()
    })
    return true
  }

  /** Writes a group and tells each of its appends its outcome. */
  private async settleGroup(group: readonly PendingAppend[]): Promise<void> {
    let written: Map<string, AppendedRow> | null = null
    let unreachable: unknown = null
    try {
      written = await this.writeGroup(group)
    } catch (error) {
      // A statement's error is told apart below, append by append; a database out of reach fails the group
      // at once (one by one, each would wait out the connection timeout while the rest queue behind it).
      if (!isStatementError(error)) unreachable = error
    }
    if (written) this.notifyAppended()
    for (const append of group) {
      if (unreachable) {
        append.reject(unreachable)
        continue
      }
      try {
        const row = written?.get(append.streamId)
        const result = row
          ? { nextExpectedRevision: Number(row.revision), position: row.position }
          : written
            ? await this.appendWith(this.sql, append.streamId, append.events, append.expected, async () => undefined)
            : await this.appendAlone(append)
        append.resolve(result)
      } catch (error) {
        append.reject(error)
      }
    }
  }

  /**
   * One transaction — begin, the ordering lock, the whole group in one statement, commit — sent at once on a
   * reserved connection: one round trip. The server runs them in order (the lock before any insert, so
   * positions follow commit order); a failed statement aborts the transaction and its commit rolls back.
   * Returns the written appends' rows by stream.
   */
  private writeGroup(group: readonly PendingAppend[]): Promise<Map<string, AppendedRow>> {
    return inTurn(this.sql, () => this.writeGroupNow(group))
  }

  private async writeGroupNow(group: readonly PendingAppend[]): Promise<Map<string, AppendedRow>> {
    const db = await this.sql.reserve()
    const sent = [db`begin`.execute(), statements.lockAppends(db, this.notifyAs).execute(), statements.appendGroup(db, group).execute(), db`commit`.execute()]
    const settled = await Promise.allSettled(sent)
    // Back to the pool only if it still talks to the server: the commit's answer (a result or the server's
    // error) came on it. A connection that died is the pool's already (closed, to be opened again).
    const commit = settled[3]!
    if (commit.status === 'fulfilled' || isServerError(commit.reason)) db.release()
    const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected')
    if (failed) throw failed.reason
    // A commit of a transaction that failed answers ROLLBACK without an error; a statement above said why.
    if ((commit as PromiseFulfilledResult<{ command: string }>).value.command !== 'COMMIT') throw new Error('group commit rolled back')
    const rows = (settled[2] as PromiseFulfilledResult<GroupRow[]>).value
    return new Map(rows.map((row) => [row.stream_id, row]))
  }

  /** One append in its own transaction under the ordering lock. */
  private async appendAlone(append: PendingAppend): Promise<AppendResult> {
    const result = await this.appendWith(this.sql, append.streamId, append.events, append.expected, (condition) =>
      this.sql.begin(async (tx) => {
        const [, rows] = await Promise.all([statements.lockAppends(tx, this.notifyAs).execute(), statements.appendEvents(tx, append.streamId, condition, append.events).execute()])
        return rows[0]
      }) as Promise<AppendedRow | undefined>,
    )
    this.notifyAppended()
    return result
  }

  /**
   * Appends inside a transaction the caller holds (e.g. to make an append and another write atomic, or
   * to keep a transaction open in tests). Same semantics as `append`, except that `onAppended` listeners
   * are not told — the caller knows when it commits and may call `notifyAppended()` then (other processes'
   * followers are told by the commit's notification); subscribers find the events on their next poll
   * anyway. The append runs in a savepoint so that a retried batch (an event id violation) does not abort
   * the caller's transaction.
   */
  async appendInTransaction(tx: TransactionSql, streamId: string, events: EventToAppend[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    // The lock is taken outside the savepoint so that it is held to the caller's commit, whatever the retry does.
    // Every other append waits for that commit: keep such transactions short.
    await statements.lockAppends(tx, this.notifyAs)
    return this.appendWith(tx, streamId, events, options.expectedRevision, (condition) =>
      tx.savepoint(async (savepoint) => (await statements.appendEvents(savepoint, streamId, condition, events))[0]),
    )
  }

  async readStream(streamId: string, options: { fromRevision?: number; maxCount?: number } = {}): Promise<StoredEvent[]> {
    const fromRevision = options.fromRevision ?? 0
    const maxCount = options.maxCount ?? null
    if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) throw new RangeError(`fromRevision must be a non-negative integer, got ${fromRevision}`)
    if (maxCount !== null && (!Number.isSafeInteger(maxCount) || maxCount < 0)) throw new RangeError(`maxCount must be a non-negative integer, got ${maxCount}`)
    const rows = await statements.readStream(this.sql, streamId, fromRevision, maxCount)
    return rows.map(toStoredEvent)
  }

  /**
   * This store as read from inside a caller's transaction: its reads see what that transaction sees (and
   * use its connection — the embedded database has only one). Writing through it is a programming error.
   */
  readingIn(tx: TransactionSql): EventStore {
    const refuse = (): never => {
      throw new Error('a transaction-bound event store reader cannot append')
    }
    const reader = new PostgresEventStore(tx as unknown as Sql)
    return {
      atomicMultiStreamAppend: true,
      append: refuse,
      appendMany: refuse,
      readStream: (streamId, options) => reader.readStream(streamId, options),
      readAll: (options) => reader.readAll(options),
      onAppended: () => () => {},
      close: async () => {},
    }
  }

  async readAll(options: ReadAllOptions): Promise<StoredEvent[]> {
    if (!Number.isSafeInteger(options.maxCount) || options.maxCount < 0) throw new RangeError(`maxCount must be a non-negative integer, got ${options.maxCount}`)
    const rows = await statements.readAll(this.sql, parsePosition(options.after), options.maxCount)
    return rows.map(toStoredEvent)
  }

  onAppended(listener: () => void): () => void {
    this.listeners.add(listener)
    if (this.notifyAs !== null && !this.wakeups && !this.closed) {
      this.wakeups = appendWakeups(this.sql, this.notifyAs, () => this.notifyAppended())
      this.wakeups.start()
    }
    return () => this.listeners.delete(listener)
  }

  /** Tells the `onAppended` listeners; `append` calls it after each commit. */
  notifyAppended(): void {
    for (const listener of this.listeners) {
      try {
        listener()
      } catch {
        // A listener's failure must not turn a committed append into a reported failure.
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true
    this.listeners.clear()
    const wakeups = this.wakeups
    this.wakeups = null
    await wakeups?.close()
  }

  /** The backend pid of the connection listening for other processes' appends, while it listens (tests). */
  get wakeupsPid(): number | null {
    return this.wakeups?.pid ?? null
  }

  /** Resolves once the notifications of appends committed so far were handled (tests: see appendWakeups). */
  async wakeupsDelivered(): Promise<void> {
    await this.wakeups?.delivered()
  }

  /** `insert` runs the append statement; `db` answers the follow-up questions when it inserted nothing. */
  private async appendWith(
    db: Executor,
    streamId: string,
    events: EventToAppend[],
    expected: ExpectedRevision,
    insert: (condition: StreamCondition) => Promise<AppendedRow | undefined>,
  ): Promise<AppendResult> {
    validateBatch(streamId, events)
    const condition = toCondition(expected)
    let appended: AppendedRow | undefined
    try {
      appended = await insert(condition)
    } catch (error) {
      // An event id already stored: with 'any'/'stream_exists' the CAS cannot notice a retried append,
      // the unique event id does. The statement rolled back as a whole; decide what the retry means.
      if (!isEventIdViolation(error)) throw error
      const retried = await this.findRetriedAppend(db, streamId, events, condition)
      if (retried) return retried
      throw new Error(`stream ${streamId}: some event ids of this append are already stored elsewhere (not a retry of one append)`, { cause: error })
    }
    if (appended) return { nextExpectedRevision: Number(appended.revision), position: appended.position }

    const retried = await this.findRetriedAppend(db, streamId, events, condition)
    if (retried) return retried
    throw new WrongExpectedRevisionError(streamId, expected, await statements.streamRevision(db, streamId))
  }

  /**
   * A retried append is one whose events are all stored already, in this stream, consecutively, in this
   * order, where the original expectation put them. Its result is the original append's result.
   */
  private async findRetriedAppend(db: Executor, streamId: string, events: EventToAppend[], condition: StreamCondition): Promise<AppendResult | undefined> {
    const found = await statements.findEvents(db, events.map((event) => event.eventId))
    const byId = new Map(found.map((row) => [row.event_id, row]))
    const stored = events.map((event) => byId.get(event.eventId))
    if (stored.some((row) => row === undefined || row.stream_id !== streamId)) return undefined
    const revisions = stored.map((row) => Number(row!.revision))
    const first = revisions[0]!
    if (revisions.some((revision, index) => revision !== first + index)) return undefined
    if (condition.kind === 'no_stream' && first !== 0) return undefined
    if (condition.kind === 'exact' && first !== condition.revision + 1) return undefined
    const last = stored[stored.length - 1]!
    return { nextExpectedRevision: Number(last.revision), position: last.position }
  }
}

/**
 * Takes the next group out of the waiting appends: in arrival order, at most MAX_GROUP_APPENDS, one append
 * per stream, none to a stream of a group in flight. An append left for later keeps every later append to
 * its stream with it: it must see the earlier one's outcome, and a stream's appends keep their order.
 */
function takeGroup(waiting: PendingAppend[], inFlight: ReadonlySet<string>): PendingAppend[] {
  const streams = new Set<string>(inFlight)
  const group: PendingAppend[] = []
  const left: PendingAppend[] = []
  for (const append of waiting) {
    if (group.length < MAX_GROUP_APPENDS && !streams.has(append.streamId)) group.push(append)
    else left.push(append)
    streams.add(append.streamId)
  }
  waiting.splice(0, waiting.length, ...left)
  return group
}

function toCondition(expected: ExpectedRevision): StreamCondition {
  if (typeof expected === 'number') {
    if (!Number.isSafeInteger(expected) || expected < 0) throw new RangeError(`expected revision must be a non-negative integer, got ${expected}`)
    return { kind: 'exact', revision: expected }
  }
  return { kind: expected }
}

function validateBatch(streamId: string, events: EventToAppend[]): void {
  if (events.length === 0) throw new RangeError(`stream ${streamId}: an append needs at least one event`)
  const ids = new Set(events.map((event) => event.eventId))
  if (ids.size !== events.length) throw new RangeError(`stream ${streamId}: the events of one append must have distinct event ids`)
  for (const event of events) {
    if (!Number.isInteger(event.version)) throw new RangeError(`event ${event.eventId}: version must be an integer`)
  }
}

/** `undefined` (a JSON.stringify blind spot) is stored as JSON null, so every row holds valid JSON. */
function toJsonText(value: unknown): string {
  return JSON.stringify(value) ?? 'null'
}

/** A retried append: its event ids are in the store already. */
function isEventIdViolation(error: unknown): boolean {
  const candidate = error as { code?: string; constraint_name?: string } | null
  return candidate?.code === UNIQUE_VIOLATION && candidate.constraint_name === EVENT_ID_CONSTRAINT
}

function parsePosition(position: string | null | undefined): { transactionId: string; globalPosition: string } {
  if (position === null || position === undefined) return { transactionId: '0', globalPosition: '0' }
  const match = POSITION_PATTERN.exec(position)
  if (!match) throw new RangeError(`not a position of this event store: ${JSON.stringify(position)}`)
  return { transactionId: match[1]!, globalPosition: match[2]! }
}

function toStoredEvent(row: StoredEventRow): StoredEvent {
  return {
    streamId: row.stream_id,
    eventId: row.event_id,
    type: row.type,
    version: row.version,
    data: row.data,
    metadata: row.metadata,
    revision: Number(row.revision),
    position: row.position,
    recordedAt: new Date(row.recorded_at_ms),
  }
}
