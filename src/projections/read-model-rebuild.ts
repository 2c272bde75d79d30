import { decodeTime, ulid } from 'ulid'
import type { Sql, TransactionSql } from '../db/database.js'
import { toLoggedEvent } from '../store/event-log.js'
import type { EventStore, StoredEvent } from '../store/event-store.js'
import { Projector, type Projection, type ProjectorLogger } from './projector.js'
import {
  readModelProjections,
  readModelProjectorName,
  rebuiltReadModelProjections,
  rebuiltReadModelTables,
} from './read-model-projections.js'
import { readModelSchema } from './read-model-schema.js'
import type { RebuildReport, RebuiltTable, TableChecksum } from './rebuild-report.js'

export { formatRebuildReport, type RebuildReport, type RebuiltTable, type TableChecksum } from './rebuild-report.js'

/**
 * The projection rebuild of SPEC §12: every read model rebuilt from position zero into new tables, switched
 * to in one transaction while the service keeps answering.
 *
 * 1. The tables are made again, empty, in a schema of their own (`rebuild_<ulid>`), by the very statements
 *    of `readModelSchema` run with that schema alone on the `search_path` (same columns in the same order,
 *    same indexes and constraints under the same names).
 * 2. A projector with the rebuilt projections replays the whole store into them, its transactions on the
 *    `search_path` `rebuild_<ulid>, <the service's>`, so the projection SQL is the service's, unchanged. The
 *    live projector meanwhile goes on projecting into the live tables, and readers read those.
 * 3. The switch, ONE transaction: the live checkpoint row is locked (the live projector, whichever process
 *    runs it, waits on it), the events neither side has applied yet are applied to each (both then stand
 *    at the same position), each table's checksum is taken on both sides, the live tables are locked
 *    (briefly: a reader waits for the commit, then reads the new table), moved out to a `retired_<ulid>`
 *    schema and dropped, and the new ones moved in. The live checkpoint moves to that position.
 *
 * Not rebuilt, never touched: `alert_destinations` (configuration) and `alert_deliveries` (a record of alerts
 * raised), nor `projection_checkpoints` (its row is moved, not replaced). The events the live side catches
 * up in the switch go through the live projector's own projections, alerts included, as the live projector
 * would have applied them.
 *
 * Readers never fail: the live tables are locked with a short `lock_timeout` (below PostgreSQL's deadlock
 * timeout), so that a reader holding one table and waiting for another makes the switch give way and try
 * again, rather than PostgreSQL aborting one of the two. On the embedded database (one connection) the
 * statements of the rebuild, of the live projector and of readers take turns on that connection: nothing
 * waits on a lock, and readers are answered between the rebuild's transactions (each a batch).
 */

export interface RebuildOptions {
  sql: Sql
  store: EventStore
  /** The live projector's projections need it (alert payloads link to the console). */
  consoleBaseUrl: string
  logger?: ProjectorLogger
  batchSize?: number
  /** How many times the switch is tried, and the live tables' locks within one try (tests shorten them). */
  patience?: { switchAttempts: number; lockAttempts: number }
}

/** The switch gives way to readers after this long and tries again (below `deadlock_timeout`, 1 s by default). */
const LOCK_TIMEOUT_MS = 200
const LOCK_ATTEMPTS = 150
const SWITCH_ATTEMPTS = 50
/** Events the switch applies at most (beyond, the rebuilt side catches up outside the switch first). */
const PENDING_LIMIT = 20_000
/** Schemas a crashed rebuild left behind are dropped by the next one after this long. */
const STALE_AFTER_MS = 24 * 60 * 60 * 1000

/** The live projector kept out of reach (stuck far behind, or ahead at every try): nothing was switched. */
export class RebuildNotSwitchedError extends Error {
  constructor(attempts: number) {
    super(
      `the rebuilt read models were not switched in: the live and the rebuilt ones could not be brought to one position ` +
        `in ${attempts} attempts (is the live projector stuck far behind?); the live read models are unchanged`,
    )
    this.name = 'RebuildNotSwitchedError'
  }
}

const silentLogger: ProjectorLogger = { info: () => {}, error: () => {} }

export async function rebuildReadModels(options: RebuildOptions): Promise<RebuildReport> {
  const { sql, store } = options
  const logger = options.logger ?? silentLogger
  const patience = options.patience ?? { switchAttempts: SWITCH_ATTEMPTS, lockAttempts: LOCK_ATTEMPTS }
  const started = Date.now()
  const id = ulid().toLowerCase()
  const schema = `rebuild_${id}`
  const [{ path, live } = { path: '', live: null }] = await sql<Array<{ path: string; live: string | null }>>`
    select current_setting('search_path') as path,
           (select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where c.oid = to_regclass('operation_runs')) as live`
  if (live === null) throw Object.assign(new Error('the read models are not in this database'), { code: '42P01' })
  await dropStaleSchemas(sql)
  const deferredIndexes = await createTables(sql, schema)
  try {
    logger.info({ schema }, 'rebuilding the read models into new tables')
    const rebuilder = new Projector({
      store,
      sql,
      name: readModelProjectorName,
      projections: rebuiltReadModelProjections(),
      searchPath: `${quoteIdent(schema)}, ${path}`,
      // Its own news ("no checkpoint: read models emptied") would read as the live tables'; the steps are logged here.
      logger: { info: () => {}, error: (obj, msg) => logger.error(obj, msg) },
      ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    })
    const liveSide = { schema: live, path, projections: readModelProjections({ consoleBaseUrl: options.consoleBaseUrl }) }
    let replayed = 0
    for (let attempt = 1; ; attempt++) {
      replayed += await rebuilder.runOnce()
      if (attempt === 1) {
        logger.info({ schema, events: replayed, ms: Date.now() - started }, 'read models replayed into new tables; indexing')
        for (const definition of deferredIndexes) await sql.unsafe(definition)
        logger.info({ schema, indexes: deferredIndexes.length, ms: Date.now() - started }, 'secondary indexes built; switching')
      }
      const built = await rebuilder.position()
      const pending = await pendingEvents(sql, store, built)
      if (pending) {
        const switched = await switchTables(sql, {
          schema,
          id,
          built,
          pending,
          live: liveSide,
          rebuilt: rebuiltReadModelProjections(),
          lockAttempts: patience.lockAttempts,
        })
        if (switched) {
          const events = replayed + pending.events.length - positionsOf(pending).indexOf(built)
          const report = { events, position: switched.position, tables: switched.tables, same: switched.tables.every((t) => t.same), durationMs: Date.now() - started }
          logger.info({ events, same: report.same }, 'read models rebuilt and switched')
          return report
        }
      }
      if (attempt >= patience.switchAttempts) throw new RebuildNotSwitchedError(attempt)
      await new Promise((resolve) => setTimeout(resolve, Math.min(20 * attempt, 500)))
    }
  } finally {
    // Gone already after a switch; after a failure, the half-built tables go.
    await sql.unsafe(`drop schema if exists ${quoteIdent(schema)} cascade`).catch(() => {})
  }
}

/** Per table: its row count and a digest of its rows. */
export async function readModelChecksums(sql: Sql | TransactionSql, schema?: string): Promise<Map<string, TableChecksum>> {
  const result = new Map<string, TableChecksum>()
  for (const table of rebuiltReadModelTables) {
    const [row] = await sql.unsafe<TableChecksum[]>(checksumQuery(schema ? `${quoteIdent(schema)}.${quoteIdent(table)}` : quoteIdent(table)))
    result.set(table, row!)
  }
  return result
}

/**
 * The rows' digest: MD5 over the row count and the sums of two 64-bit hashes of each row. Each is
 * `hash_record_extended` (every column hashed by its type's own hash function, so equal values hash alike
 * whatever their text) with its own seed, mixed once more through `hashtextextended`: the record's hash is
 * linear in its columns' hashes, so summed as it is, values swapped between two rows would cancel out.
 * Order-independent, so no sort and no table-sized string (a `string_agg` of the rows in order would fail
 * past PostgreSQL's 1 GB value limit on a large store); two tables with the same rows, whatever their
 * physical order, give the same digest. A column type without an extended hash function (`json`, `point`)
 * would fail it: the read models use none.
 */
function checksumQuery(table: string): string {
  // sum(bigint) is numeric already, summed in 128-bit integers. Hashing the record skips writing each row as
  // text, which cost about eight times as much (docs/decisions.md, "Session 19").
  return `select count(*)::int as rows,
      md5(count(*)::text || ':' || coalesce(sum(hashtextextended(hash_record_extended(t, 0)::text, 0)), 0)::text
          || ':' || coalesce(sum(hashtextextended(hash_record_extended(t, 1)::text, 1)), 0)::text) as checksum
    from ${table} t`
}

/**
 * The read-model tables of this release, empty, in `schema`: `readModelSchema` run there. The secondary
 * indexes (those no constraint needs: the projections' upserts need the primary and unique keys, and read
 * only by them) are dropped again and their definitions returned: made after the replay, each is built once
 * from sorted rows instead of updated row by row.
 */
async function createTables(sql: Sql, schema: string): Promise<string[]> {
  return (await sql.begin(async (tx) => {
    await tx.unsafe(`create schema ${quoteIdent(schema)}`)
    await tx`select set_config('search_path', ${quoteIdent(schema)}, true)`
    // One simple query, one round trip, for the lot (each statement alone would be a parse, bind and execute).
    await tx.unsafe(readModelSchema.migrations.flatMap((migration) => migration.statements).join(';\n')).simple()
    return dropSecondaryIndexes(tx, schema)
  })) as string[]
}

/**
 * Drops the indexes of the rebuilt tables in `schema` that no constraint needs (the projections' upserts need
 * the primary and unique keys), and returns their definitions, to be made again once the rows are in.
 */
export async function dropSecondaryIndexes(sql: Sql | TransactionSql, schema: string): Promise<string[]> {
  const secondary = await sql<Array<{ name: string; definition: string }>>`
    select i.indexname as name, i.indexdef as definition from pg_indexes i
    where i.schemaname = ${schema}
      and i.tablename = any(${[...rebuiltReadModelTables]}::text[])
      and not exists (select 1 from pg_constraint c where c.conname = i.indexname and c.connamespace = ${schema}::regnamespace)
    order by i.indexname`
  for (const index of secondary) await sql.unsafe(`drop index ${quoteIdent(schema)}.${quoteIdent(index.name)}`)
  return secondary.map((index) => index.definition)
}

/** Schemas left by rebuilds that crashed a day ago or more (a rebuild under way is younger). */
async function dropStaleSchemas(sql: Sql): Promise<void> {
  const schemas = await sql<Array<{ name: string }>>`
    select nspname as name from pg_namespace where nspname ~ '^(rebuild|retired)_[0-9a-z]{26}$'`
  for (const { name } of schemas) {
    let madeAt: number
    try {
      madeAt = decodeTime(name.slice(name.indexOf('_') + 1).toUpperCase())
    } catch {
      continue
    }
    if (Date.now() - madeAt >= STALE_AFTER_MS) await sql.unsafe(`drop schema if exists ${quoteIdent(name)} cascade`)
  }
}

/** The events after the earlier of the two checkpoints, to the end of the store as read. */
interface Pending {
  /** The earlier checkpoint; `events` follow it. */
  from: string | null
  events: StoredEvent[]
}

/**
 * Reads what the switch will apply: the events from the rebuilt side's checkpoint on, or from the live one's
 * when it is behind (positions are opaque: which one is behind shows in which read holds the other). Null
 * when neither read holds the other's checkpoint (the live projector moved meanwhile) or too many events
 * separate them: the caller catches up and tries again.
 */
async function pendingEvents(sql: Sql, store: EventStore, built: string | null): Promise<Pending | null> {
  const [row] = await sql<Array<{ position: string | null }>>`
    select position from projection_checkpoints where name = ${readModelProjectorName}`
  const fromBuilt = await readToEnd(store, built)
  if (!fromBuilt) return null
  if (!row || positionsOf({ from: built, events: fromBuilt }).includes(row.position)) return { from: built, events: fromBuilt }
  const fromLive = await readToEnd(store, row.position)
  if (fromLive && positionsOf({ from: row.position, events: fromLive }).includes(built)) return { from: row.position, events: fromLive }
  return null
}

async function readToEnd(store: EventStore, after: string | null): Promise<StoredEvent[] | null> {
  const events: StoredEvent[] = []
  for (;;) {
    const batch = await store.readAll({ after: events.at(-1)?.position ?? after, maxCount: 1_000 })
    events.push(...batch)
    if (events.length > PENDING_LIMIT) return null
    if (batch.length < 1_000) return events
  }
}

function positionsOf(pending: Pending): Array<string | null> {
  return [pending.from, ...pending.events.map((e) => e.position)]
}

interface SwitchPlan {
  schema: string
  id: string
  /** The rebuilt side's checkpoint. */
  built: string | null
  pending: Pending
  live: { schema: string; path: string; projections: Projection[] }
  rebuilt: Projection[]
  lockAttempts: number
}

/**
 * The switch transaction; null (rolled back, nothing changed) when the live projector got past what was
 * read before it could be stopped.
 */
async function switchTables(sql: Sql, plan: SwitchPlan): Promise<{ position: string | null; tables: RebuiltTable[] } | null> {
  const { pending, live } = plan
  const positions = positionsOf(pending)
  const position = positions.at(-1)!
  const newSchema = quoteIdent(plan.schema)
  const liveSchema = quoteIdent(live.schema)
  const switched = sql.begin(async (tx) => {
    // The live projector's next batch starts with a compare-and-set on this row: it waits from here on.
    const [row] = await tx<Array<{ position: string | null }>>`
      select position from projection_checkpoints where name = ${readModelProjectorName} for update`
    if (row) {
      const liveAt = positions.indexOf(row.position)
      if (liveAt < 0) return null
      await applyEvents(tx, live.projections, pending.events.slice(liveAt))
      await tx`update projection_checkpoints set position = ${position} where name = ${readModelProjectorName}`
    } else {
      // No live checkpoint: nobody knows what the live tables hold; they are replaced all the same.
      await tx`insert into projection_checkpoints (name, position) values (${readModelProjectorName}, ${position})`
    }
    await tx`select set_config('search_path', ${`${newSchema}, ${live.path}`}, true)`
    await applyEvents(tx, plan.rebuilt, pending.events.slice(positions.indexOf(plan.built)))
    await tx`select set_config('search_path', ${live.path}, true)`

    const before = await readModelChecksums(tx, live.schema)
    const after = await readModelChecksums(tx, plan.schema)
    await lockLiveTables(tx, live.schema, plan.lockAttempts)
    const retired = quoteIdent(`retired_${plan.id}`)
    await tx.unsafe(`create schema ${retired}`)
    for (const table of rebuiltReadModelTables) await tx.unsafe(`alter table ${liveSchema}.${quoteIdent(table)} set schema ${retired}`)
    for (const table of rebuiltReadModelTables) await tx.unsafe(`alter table ${newSchema}.${quoteIdent(table)} set schema ${liveSchema}`)
    // Without cascade: an object that depends on an old table (a view, say) or that the migrations made in the
    // new schema (a function a moved table's trigger would call) fails the switch, rolled back, rather than
    // being dropped with it unseen.
    await tx.unsafe(`drop table ${rebuiltReadModelTables.map((table) => `${retired}.${quoteIdent(table)}`).join(', ')}`)
    await tx.unsafe(`drop schema ${retired}`)
    const leftovers = await tx<Array<{ name: string }>>`select tablename as name from pg_tables where schemaname = ${plan.schema}`
    if (leftovers.length > 0) await tx.unsafe(`drop table ${leftovers.map((t) => `${newSchema}.${quoteIdent(t.name)}`).join(', ')}`)
    await tx.unsafe(`drop schema ${newSchema}`)
    const tables = rebuiltReadModelTables.map((table) => {
      const [was, is] = [before.get(table)!, after.get(table)!]
      return { table, before: was, after: is, same: was.rows === is.rows && was.checksum === is.checksum }
    })
    return { position, tables }
  }) as Promise<{ position: string | null; tables: RebuiltTable[] } | null>
  try {
    return await switched
  } catch (error) {
    if (error instanceof LiveTablesBusyError) return null
    throw error
  }
}

/** Decoded and applied in batches, as the projector would (each projection over the batch, in order). */
async function applyEvents(tx: TransactionSql, projections: Projection[], events: StoredEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 2_000) {
    const batch = events.slice(i, i + 2_000).map(toLoggedEvent)
    for (const projection of projections) await projection.apply(tx, batch)
  }
}

/**
 * Every live table, in access exclusive mode, waiting at most LOCK_TIMEOUT_MS per try: a reader that holds
 * one of them while waiting behind this lock for another would otherwise deadlock with the switch, and
 * PostgreSQL would abort one of the two (possibly the reader). Giving way first means readers never fail.
 */
async function lockLiveTables(tx: TransactionSql, schema: string, attempts: number): Promise<void> {
  const tables = rebuiltReadModelTables.map((table) => `${quoteIdent(schema)}.${quoteIdent(table)}`).join(', ')
  for (let attempt = 1; ; attempt++) {
    try {
      await tx.savepoint(async (sp) => {
        await sp.unsafe(`set local lock_timeout = ${LOCK_TIMEOUT_MS}`)
        await sp.unsafe(`lock table ${tables} in access exclusive mode`)
      })
      return
    } catch (error) {
      if ((error as { code?: unknown }).code !== '55P03') throw error
      // Readers (or an autovacuum, which a lock_timeout below deadlock_timeout never cancels) held on: the
      // switch is rolled back, nothing changed, and the caller tries it again from the start.
      if (attempt >= attempts) throw new LiveTablesBusyError()
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.floor(Math.random() * 40)))
    }
  }
}

/** The live tables could not be locked for the switch within its tries (see lockLiveTables). */
class LiveTablesBusyError extends Error {
  constructor() {
    super('the live read-model tables stayed locked by others')
    this.name = 'LiveTablesBusyError'
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
