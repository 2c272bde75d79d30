import type { Sql, TransactionSql } from './database.js'
import type { MigrationSet } from './migrations.js'

/**
 * SPEC §11 before-images (DESIGN invariant 9): for every row a run changes, the values of the columns it
 * changed as they were before, and a hash of what it wrote, kept in the repair's own transaction. Generic
 * over runbooks: the tenant worker declares a cursor over the tenant's rows of the tables the runbook repairs
 * before the repair and compares after it, so no runbook writes code for it, and a change without its
 * before-image (or the reverse) cannot commit. `updated_at` is the one column left out: every change moves
 * it, a revert too. Needs PostgreSQL 14 or later (`hash_record_extended`, column compression).
 */
export const beforeImageSchema: MigrationSet = {
  owner: 'before-images',
  migrations: [
    {
      version: 1,
      name: 'before-images of repaired rows',
      statements: [
        // One row per run, tenant and table, written by the tenant's repair transaction: `images` is
        // {"<row id>": {"<column>": [before, after], …}, …} over the rows it changed, `row_count` their number.
        // One row (not one per finding) keeps the repair's cost to one insert, whatever it changed.
        `create table ops_before_images (
           run_id text not null,
           tenant_id bigint not null,
           table_name text not null,
           images json not null,
           row_count integer not null,
           recorded_at timestamptz not null default now(),
           primary key (run_id, tenant_id, table_name))`,
        // The purge deletes by age.
        `create index ops_before_images_recorded_idx on ops_before_images (recorded_at)`,
      ],
    },
    {
      version: 2,
      name: 'snapshots in a temporary table kept by the session',
      statements: [
        // Creating and dropping a temporary table per repair costs more than a small tenant's repair
        // (catalog rows, a file created and unlinked). The snapshot table is created once per session and
        // emptied by every commit; made again when the repaired table's columns changed since (a
        // migration while the session lived), so a snapshot always has the table's columns and types.
        `create function ops_snapshot_tenant_rows(p_table text, p_tenant_id bigint) returns void
         language plpgsql as $$
         declare
           snapshot text := 'ops_snapshot_' || p_table;
           existing regclass := to_regclass(format('pg_temp.%I', snapshot));
         begin
           -- Names and full types (a varchar's length, a numeric's scale): a snapshot column narrower than
           -- the table's would refuse or round what it copies.
           if existing is not null and (
             select array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) order by attnum) from pg_attribute
             where attrelid = existing and attnum > 0 and not attisdropped
           ) is distinct from (
             select array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) order by attnum) from pg_attribute
             where attrelid = format('%I', p_table)::regclass and attnum > 0 and not attisdropped
           ) then
             execute format('drop table pg_temp.%I', snapshot);
             existing := null;
           end if;
           if existing is null then
             -- The table's columns and types only, no constraint: a copy holds what the table holds.
             execute format('create temporary table %I on commit delete rows as select * from %I with no data', snapshot, p_table);
           end if;
           execute format('insert into pg_temp.%I select * from %I where tenant_id = $1', snapshot, p_table) using p_tenant_id;
         end
         $$`,
      ],
    },
    {
      version: 3,
      name: 'snapshot statements prepared once per session',
      statements: [
        // v2 copied the rows with a statement made (and planned) anew in every repair. Now this function
        // only makes sure the session's snapshot table matches the repaired table and answers its columns;
        // the copy and the comparison are fixed statements per table and column list, prepared once per
        // connection (src/db/before-images.ts).
        `drop function ops_snapshot_tenant_rows(text, bigint)`,
        `create function ops_snapshot_table(p_table text) returns text[]
         language plpgsql as $$
         declare
           snapshot text := 'ops_snapshot_' || p_table;
           existing regclass := to_regclass(format('pg_temp.%I', snapshot));
           wanted text[];
         begin
           -- Names and full types (a varchar's length, a numeric's scale): a snapshot column narrower than
           -- the table's would refuse or round what it copies.
           select array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) order by attnum) into wanted
           from pg_attribute where attrelid = format('%I', p_table)::regclass and attnum > 0 and not attisdropped;
           if existing is not null and (
             select array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) order by attnum) from pg_attribute
             where attrelid = existing and attnum > 0 and not attisdropped
           ) is distinct from wanted then
             execute format('drop table pg_temp.%I', snapshot);
             existing := null;
           end if;
           if existing is null then
             -- The table's columns and types only, no constraint: a copy holds what the table holds.
             execute format('create temporary table %I on commit delete rows as select * from %I with no data', snapshot, p_table);
           end if;
           return (select array_agg(attname::text order by attnum) from pg_attribute
                   where attrelid = format('%I', p_table)::regclass and attnum > 0 and not attisdropped);
         end
         $$`,
      ],
    },
    {
      version: 4,
      name: 'snapshots read through a cursor declared before the repair',
      statements: [
        // v3 copied every row of the tenant into a temporary table before the repair, and the commit emptied
        // it: about a third of what before-images cost. A cursor declared before the repair reads the rows as
        // they were when it was declared (every cursor is insensitive: it keeps the snapshot of its DECLARE,
        // the transaction's later changes included), so nothing is copied until the comparison reads it, and
        // the rows come with the table's own types, whatever a migration changed while the session lived.
        // v3's ops_snapshot_table stays: a worker of the previous release, still running during a rolling
        // upgrade, calls it (and writes images in the v1 format, which a revert still reads).
        // A cursor cannot be read in a FROM clause; this function returns its rows as a set, typed as the
        // table's rows (`ops_snapshot_rows('<cursor>', null::<table>)`).
        `create function ops_snapshot_rows(p_cursor refcursor, p_row_type anyelement) returns setof anyelement
         language plpgsql as $$
         begin
           return query execute format('fetch all from %I', p_cursor);
         end
         $$`,
        // What the run wrote is kept as a hash, not as JSON (formatting every changed value twice cost more
        // than the rest of an image), the rows' ids and hashes as arrays, and the values before as JSON text
        // (written by the statement that builds it, never parsed on the way in): `befores` is the JSON array
        // [{"<column>": before, …}, …], row by row as `row_ids` and `written` (the hash over the row's
        // `hashed_columns` in that order: the changed ones' new values, null for the others). Rows written
        // before this version keep {"<row id>": {"<column>": [before, after]}} in `images`, the new columns
        // null; a revert reads both. New columns, not a new type for `images`: altering its type would
        // rewrite up to OPS_BEFORE_IMAGE_DAYS of images under a lock that holds every repair meanwhile.
        `alter table ops_before_images alter column images drop not null,
           add column hashed_columns text[], add column row_ids bigint[], add column written bigint[], add column befores text`,
        // lz4 compresses a tenant's images several times faster than the default pglz, in the repair's
        // transaction; a server built without lz4 keeps pglz.
        `do $$ begin
           alter table ops_before_images alter column befores set compression lz4,
             alter column row_ids set compression lz4, alter column written set compression lz4;
         exception when feature_not_supported then null;
         end $$`,
      ],
    },
  ],
}

/** The default of OPS_BEFORE_IMAGE_DAYS (SPEC §11). */
export const DEFAULT_BEFORE_IMAGE_DAYS = 30

/** The column every change moves and a revert does not put back (SPEC §11: every column but `updated_at`). */
const MOVED_BY_EVERY_CHANGE = 'updated_at'

/**
 * The columns the keep matches a row's snapshot and its row on: equal on both sides of every pair it
 * compares (a row moved to another id or tenant is not found, hence not imaged), so never compared nor hashed.
 */
const ROW_KEYS = new Set(['id', 'tenant_id'])

/**
 * A table a runbook repairs: a plain lower-case name (checked by the catalog), quoted all the same; at most
 * 50 characters, so that its snapshot's name stays within PostgreSQL's 63.
 */
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,49}$/

export function isRepairableTableName(name: string): boolean {
  return TABLE_NAME.test(name)
}

function quoted(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`
}

/** The cursor over a tenant's rows of `table` as they were before the repair: at most 63 characters. */
function snapshotCursorOf(table: string): string {
  return `ops_snapshot_${table}`
}

/**
 * The transaction a runbook repairs in: the worker's, with savepoints refused. A row written inside a
 * savepoint carries the subtransaction's id, not the transaction's, and `keepBeforeImages` takes only the
 * rows the transaction itself wrote (another writer's rows must not be imaged as the run's): a change made in
 * a savepoint would commit without its before-image. A runbook's repair is one transaction (README).
 */
export function repairTransaction(tx: TransactionSql): TransactionSql {
  return new Proxy(tx, {
    get(target, property, receiver) {
      if (property === 'savepoint') return () => Promise.reject(new Error('a runbook repairs in one transaction: savepoints would lose before-images'))
      return Reflect.get(target, property, receiver) as unknown
    },
  })
}

/** A column of a repaired table, and how its values are compared and hashed (see COLUMNS_OF). */
export interface SnapshotColumn {
  name: string
  /** '' the value itself; 'text' its text; else the name of the type's send function. */
  compareBy: string
}

/** A table's snapshot in the repair's transaction: its columns, which `keepBeforeImages` compares. */
export interface TableSnapshot {
  table: string
  columns: readonly SnapshotColumn[]
}

/**
 * The columns of table `$1` in order (none when it is gone), each with how its values are compared and
 * hashed: as they are (`''`) when the type's equality is identity — the built-in integers, booleans, text
 * under a deterministic collation, dates and timestamps, uuid, bytea — and otherwise by the type's binary
 * send function (exact and session-independent: `numeric` keeps its scale, `citext` its case, `interval`
 * its fields, `json` its text, and ranges, composites, `tsvector`, … are compared at all), or by `::text`
 * for a type without one. Keep and revert read it the same way; a type changed in between compares unequal,
 * so the row is skipped, never put back wrongly.
 *
 * Asked once per repair: the type of each column is looked up by its index (a join with `pg_type` is
 * planned, as a prepared statement, as a hash of the whole catalog table: 9× the time, ~0.17 ms a repair).
 */
const COLUMNS_OF = `
  select a.attname::text as name,
    case
      when a.atttypid in (16, 17, 18, 19, 20, 21, 23, 25, 26, 1042, 1043, 1082, 1083, 1114, 1184, 2950)
        and coalesce((select c.collisdeterministic from pg_collation c where c.oid = a.attcollation), true) then ''
      else coalesce((select t.typsend::regproc::text from pg_type t where t.oid = a.atttypid and t.typsend <> 0), 'text')
    end as compare_by
  from pg_attribute a
  where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped
  order by a.attnum`

/** COLUMNS_OF of `table`, sent at once (a transaction's statements run in the order they were sent). */
async function columnsOf(sql: Sql | TransactionSql, table: string): Promise<SnapshotColumn[]> {
  const rows = await sql.unsafe<Array<{ name: string; compare_by: string }>>(COLUMNS_OF, [quoted(table)], { prepare: true }).execute()
  return rows.map(({ name, compare_by }) => ({ name, compareBy: compare_by }))
}

/**
 * Before the repair: a cursor over the tenant's rows of each table, declared now and read by
 * `keepBeforeImages` after the repair, when it still gives the rows as they were at its DECLARE (migration
 * v4). Tables need `id` and `tenant_id`. The columns are read after the cursor is declared (a transaction's
 * statements run in the order they were sent): the cursor's lock on the table keeps them as they are until
 * the transaction ends. The DECLAREs are sent before this returns, so the repair's statements, sent after
 * the call, run after them (the repair need not wait for this round trip).
 */
export async function snapshotTenantRows(tx: TransactionSql, tenantId: number, tables: readonly string[]): Promise<TableSnapshot[]> {
  const sent = tables.map((table) => ({
    table,
    // Prepared (one text per table): an unprepared statement with a parameter costs a round trip of its own
    // to describe it first, and stops the statements sent after it from going in the same write.
    declared: tx
      .unsafe(`declare ${quoted(snapshotCursorOf(table))} no scroll cursor for select * from ${quoted(table)} where tenant_id = $1`, [tenantId], { prepare: true })
      .execute(),
    columns: columnsOf(tx, table),
  }))
  return Promise.all(
    sent.map(async ({ table, declared, columns }) => {
      const [, read] = await Promise.all([declared, columns])
      return { table, columns: read }
    }),
  )
}

/**
 * After the repair, in the same transaction: the before-images of every row whose columns (but
 * `updated_at`) differ from the snapshot, each the changed columns' values before and a hash of what the run
 * wrote, in one row for the tenant and table. Returns how many rows changed.
 */
export async function keepBeforeImages(tx: TransactionSql, runId: string, tenantId: number, snapshots: readonly TableSnapshot[]): Promise<number> {
  const [, ...kept] = await Promise.all([
    fixedOutputSettings(tx).execute(),
    ...snapshots.map(async ({ table, columns: all }) => {
      const columns = all.filter(({ name }) => name !== MOVED_BY_EVERY_CHANGE && !ROW_KEYS.has(name))
      // Nothing but the keys and `updated_at`: no change a revert could put back.
      if (columns.length === 0) return 0
      // Sent now (not when awaited): a transaction may commit right behind it (`CommitBehind`).
      const [row] = await tx
        .unsafe<Array<{ kept: number }>>(keepStatement(table, columns), [runId, table, tenantId, columns.map(({ name }) => name)], { prepare: true })
        .execute()
      return row?.kept ?? 0
    }),
  ])
  return kept.reduce((sum, n) => sum + n, 0)
}

/**
 * The settings a value's text depends on, fixed for the rest of the transaction (after the repair): the
 * values before are kept as JSON, and the JSON of a range, a composite, an interval or money is the type's
 * text, which DateStyle, IntervalStyle, TimeZone, extra_float_digits and lc_monetary change. Kept and put
 * back under the same settings, a value reads back as itself whatever the sessions' own.
 */
function fixedOutputSettings(tx: TransactionSql) {
  return tx`
    select set_config('DateStyle', 'ISO, MDY', true), set_config('IntervalStyle', 'postgres', true), set_config('TimeZone', 'UTC', true),
           set_config('extra_float_digits', '3', true), set_config('lc_monetary', 'C', true)`
}

/** A column's value in `alias`'s row as it is compared and hashed (see COLUMNS_OF). */
function comparable(alias: string, { name, compareBy }: SnapshotColumn): string {
  const value = `${alias}.${quoted(name)}`
  if (compareBy === '') return value
  return compareBy === 'text' ? `${value}::text` : `${compareBy}(${value})`
}

/** The keep statement of a table and column list: one text per pair, so that each connection prepares it once. */
const keepStatements = new Map<string, string>()

function keepStatement(table: string, columns: readonly SnapshotColumn[]): string {
  const key = `${table}\u0000${columns.map(({ name, compareBy }) => `${name}:${compareBy}`).join('\u0000')}`
  const known = keepStatements.get(key)
  if (known) return known
  const changed = (c: SnapshotColumn) => `${comparable('s', c)} is distinct from ${comparable('t', c)}`
  // Each changed column as `"name":before`, joined by concat_ws (which skips the unchanged ones' nulls), the
  // rows' images joined as text too: JSON text is written and never parsed on the way in.
  const entries = columns.map((c) => `case when ${changed(c)} then ${literal(`${JSON.stringify(c.name)}:`)} || coalesce(to_json(s.${quoted(c.name)})::text, 'null') end`)
  // concat_ws takes at most 100 arguments: a wide table's columns are joined in slices, then the slices.
  const slices: string[] = []
  for (let i = 0; i < entries.length; i += CONCAT_SLICE) slices.push(`nullif(concat_ws(',', ${entries.slice(i, i + CONCAT_SLICE).join(', ')}), '')`)
  // What the run wrote: the changed columns' new values, null in place of the others, hashed in the order
  // of `columns` (kept as hashed_columns); a revert hashes the row's values the same way to know whether
  // anybody changed them since.
  const written = `hash_record_extended(row(${columns.map((c) => `case when ${changed(c)} then ${comparable('t', c)} end`).join(', ')}), 0)`
  // The rows' images go straight into the aggregate (`offset 0` keeps each row's image computed once for
  // the filter and the aggregate, and nothing is materialised in between).
  const statement = `
    with kept as (
      insert into ops_before_images (run_id, tenant_id, table_name, befores, row_ids, written, hashed_columns, row_count)
      select $1, $3, $2, '[{' || string_agg(c.image, '},{') || '}]', array_agg(c.id), array_agg(c.written), $4::text[], count(*)::integer
      from (
        select s.id, concat_ws(',', ${slices.join(', ')}) as image, ${written} as written
        from ops_snapshot_rows(${literal(snapshotCursorOf(table))}, null::${quoted(table)}) s
        join ${quoted(table)} t on t.id = s.id and t.tenant_id = $3
        -- Rows this transaction wrote: a row another writer changed meanwhile (this is READ COMMITTED) is
        -- not the run's change, and must not be put back by a revert.
        where t.xmin = pg_current_xact_id()::xid
        offset 0
      ) c
      where c.image <> ''
      having count(*) > 0
      returning row_count
    )
    select coalesce((select row_count from kept), 0)::integer as kept`
  keepStatements.set(key, statement)
  return statement
}

const CONCAT_SLICE = 90

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`
}

/** The before-images of a run (or of one of its tenants), one per changed row, as a reader wants them. */
export interface BeforeImage {
  tenantId: number
  tableName: string
  rowId: number
  /** The changed columns' values before the run. */
  before: Record<string, unknown>
}

/**
 * The images of the `ops_before_images` row `b`, one row each, in both formats (migration v4): `before` the
 * changed columns' values before the run; what the run wrote as `written` (a hash over `hashed_columns`)
 * or, in images written before v4, as `after` (the changed columns' values). Each function is handed an
 * empty value in the other format's rows, so that neither sees what it cannot read.
 */
const IMAGES_OF_ROW = `
  select e.key::bigint as row_id,
    (select jsonb_object_agg(c.key, c.value -> 0) from jsonb_each(e.value) c) as before,
    (select jsonb_object_agg(c.key, c.value -> 1) from jsonb_each(e.value) c) as after,
    null::bigint as written
  from jsonb_each(case when b.hashed_columns is null then b.images::jsonb else '{}' end) e
  union all
  select r.row_id, r.before, null, r.written
  from rows from (unnest(b.row_ids), unnest(b.written), jsonb_array_elements(case when b.hashed_columns is null then '[]' else b.befores::jsonb end))
    as r(row_id, written, before)`

/** The images of one run, tenant by tenant, table by table, row by row. */
const IMAGES_OF = `
  select b.tenant_id, b.table_name, b.hashed_columns, i.row_id, i.before, i.after, i.written
  from ops_before_images b cross join lateral (${IMAGES_OF_ROW}) i`

export async function readBeforeImages(sql: Sql | TransactionSql, runId: string, tenantId?: number): Promise<BeforeImage[]> {
  const rows = await sql.unsafe<Array<{ tenant_id: string; table_name: string; row_id: string; before: Record<string, unknown> }>>(
    `select tenant_id, table_name, row_id, before from (${IMAGES_OF} where b.run_id = $1 and ($2::bigint is null or b.tenant_id = $2)) i
     order by tenant_id, table_name, row_id`,
    [runId, tenantId ?? null],
  )
  return rows.map((r) => ({ tenantId: Number(r.tenant_id), tableName: r.table_name, rowId: Number(r.row_id), before: r.before }))
}

/**
 * SPEC §11 revert of one tenant, in the caller's transaction: every row the reverted run changed whose
 * changed columns still hold what the run wrote gets its before-image back (and `updated_at` moves, as any
 * change's); a row changed since, or gone, is left alone. `total` counts the before-images, `updated` the
 * rows put back (the rest are the run's `skipped`). What the run wrote is compared in the row's types: by
 * hash over the same columns in the same order, or, for images written before migration v4, by reading
 * the JSON it kept back into the row's types (the JSON of a timestamptz depends on the session's time zone).
 */
export async function revertTenantRows(tx: TransactionSql, revertedRunId: string, tenantId: number): Promise<{ total: number; updated: number }> {
  await fixedOutputSettings(tx)
  const groups = await tx<Array<{ table_name: string; hashed_columns: string[] | null; columns: string[] }>>`
    select b.table_name, b.hashed_columns, array_agg(distinct c.key order by c.key) as columns
    from ops_before_images b cross join lateral (${tx.unsafe(IMAGES_OF_ROW)}) i cross join lateral jsonb_object_keys(i.before) as c(key)
    where b.run_id = ${revertedRunId} and b.tenant_id = ${tenantId}
    group by b.table_name, b.hashed_columns
    order by b.table_name, b.hashed_columns`
  let total = 0
  let updated = 0
  for (const { table_name: table, hashed_columns: hashed, columns: imaged } of groups) {
    if (!isRepairableTableName(table)) throw new Error(`a before-image names a table that cannot be repaired: ${table}`)
    // Only names that are columns of the table reach the statement (the keys came from its rows anyway).
    const present = new Map((await columnsOf(tx, table)).map((column) => [column.name, column]))
    const columns = imaged.filter((c) => present.has(c) && c !== MOVED_BY_EVERY_CHANGE)
    // A hashed column dropped since that the run did not write stood as null in the hash, and still does; a
    // row in which the run wrote a column dropped since cannot be compared, and counts as changed since.
    const element = (name: string) => {
      const column = present.get(name)
      return column ? `case when i.before ? ${literal(name)} then ${comparable('f', column)} end` : 'null::text'
    }
    const dropped = imaged.filter((c) => !present.has(c))
    const unchangedSince = [
      hashed ? `hash_record_extended(row(${hashed.map(element).join(', ')}), 0) = i.written` : 'to_jsonb(jsonb_populate_record(f, i.after)) = to_jsonb(f)',
      ...(dropped.length > 0 ? [`not (i.before ?| array[${dropped.map(literal).join(', ')}])`] : []),
    ].join(' and ')
    const targets = columns.map(quoted).join(', ')
    const values = columns.map((c) => `r.${quoted(c)}`).join(', ')
    const touch = present.has(MOVED_BY_EVERY_CHANGE) ? `, ${quoted(MOVED_BY_EVERY_CHANGE)} = now()` : ''
    const restore =
      columns.length > 0
        ? `update ${quoted(table)} f
         set (${targets}) = (select ${values} from jsonb_populate_record(f, i.before) r)${touch}
         from images i
         where f.id = i.row_id and f.tenant_id = $2 and ${unchangedSince}
         returning f.id`
        : `select null::bigint as id where false`
    const [row] = await tx.unsafe<Array<{ total: number; updated: number }>>(
      `with images as (
         ${IMAGES_OF} where b.run_id = $1 and b.tenant_id = $2 and b.table_name = $3 and b.hashed_columns is not distinct from $4::text[]
       ), restored as (
         ${restore}
       )
       select (select count(*) from images)::integer as total, (select count(*) from restored)::integer as updated`,
      [revertedRunId, tenantId, table, hashed],
    )
    total += row?.total ?? 0
    updated += row?.updated ?? 0
  }
  return { total, updated }
}

/** Before-images of a run per tenant, in tenant order: what a revert of it would go through. */
export async function beforeImageCounts(sql: Sql, runId: string): Promise<Array<{ tenantId: number; images: number }>> {
  const rows = await sql<Array<{ tenant_id: string; images: number }>>`
    select tenant_id, sum(row_count)::integer as images from ops_before_images where run_id = ${runId} group by tenant_id order by tenant_id`
  return rows.map((r) => ({ tenantId: Number(r.tenant_id), images: r.images }))
}

/** Drops the before-images older than the retention; returns how many rows (a row holds a tenant's images of one table). */
export async function purgeBeforeImages(sql: Sql, retentionDays: number): Promise<number> {
  // In seconds, not calendar days: a day of the session's time zone can be 23 or 25 hours long.
  const purged = await sql`delete from ops_before_images where recorded_at < now() - ${retentionDays * 86_400} * interval '1 second'`
  return purged.count
}
