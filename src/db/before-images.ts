import type { Sql, TransactionSql } from './database.js'
import type { MigrationSet } from './migrations.js'

/**
 * SPEC §11 before-images (DESIGN invariant 9): for every row a run changes, the values of the columns it
 * changed as they were before, and as the run wrote them, kept in the repair's own transaction. Generic over
 * runbooks: the tenant worker copies the tenant's rows of the tables the runbook repairs before the repair
 * and compares after it, so no runbook writes code for it, and a change without its before-image (or the
 * reverse) cannot commit. `updated_at` is the one column left out: every change moves it, a revert too.
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
      name: 'before-images kept by one statement',
      statements: [
        // The comparison of the snapshot with the table, column by column, built where the columns are
        // known: asking for them first cost a round trip and a statement per repair. Each changed column
        // becomes `"name":[before,after]`, joined by concat_ws (which skips the unchanged ones' nulls) in
        // slices of 90 (it takes at most 100 arguments): JSON text written, never parsed again. Only rows
        // this transaction wrote count: a row another writer changed meanwhile (READ COMMITTED) is not the
        // run's change, and must not be put back by a revert. `updated_at` is left out: every change moves it.
        `create function ops_keep_before_images(p_run_id text, p_tenant_id bigint, p_table text) returns integer
         language plpgsql as $$
         declare
           snapshot text := 'ops_snapshot_' || p_table;
           columns text[];
           slices text[] := '{}';
           kept integer;
         begin
           select array_agg(attname::text order by attnum) into columns from pg_attribute
           where attrelid = format('pg_temp.%I', snapshot)::regclass and attnum > 0 and not attisdropped and attname <> 'updated_at';
           for i in 1 .. coalesce(array_length(columns, 1), 0) by 90 loop
             slices := slices || format('nullif(concat_ws(%L, %s), %L)', ',', (
               select string_agg(format('case when s.%1$I is distinct from t.%1$I then %2$L || json_build_array(s.%1$I, t.%1$I)::text end',
                                        c, to_json(c)::text || ':'), ', ' order by n)
               from unnest(columns[i:i + 89]) with ordinality as u(c, n)), '');
           end loop;
           execute format(
             'with changed as (
                select s.id, (%L || concat_ws(%L, %s) || %L)::json as image
                from pg_temp.%I s join %I t on t.id = s.id and t.tenant_id = $2
                where t.xmin = pg_current_xact_id()::xid and (%s)
              ), kept as (
                insert into ops_before_images (run_id, tenant_id, table_name, images, row_count)
                select $1, $2, $3, json_object_agg(c.id, c.image), count(*)::integer from changed c
                having count(*) > 0
                returning row_count
              )
              select coalesce((select row_count from kept), 0)::integer',
             '{', ',', array_to_string(slices, ', '), '}', snapshot, p_table,
             (select string_agg(format('s.%1$I is distinct from t.%1$I', c), ' or ') from unnest(columns) c))
           into kept using p_run_id, p_tenant_id, p_table;
           return kept;
         end
         $$`,
      ],
    },
  ],
}

/** The default of OPS_BEFORE_IMAGE_DAYS (SPEC §11). */
export const DEFAULT_BEFORE_IMAGE_DAYS = 30

/** The column every change moves and a revert does not put back (SPEC §11: every column but `updated_at`). */
const MOVED_BY_EVERY_CHANGE = 'updated_at'

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

/**
 * Before the repair: the tenant's rows of each table, copied as they are into the session's temporary
 * snapshot table (emptied when the transaction ends; see migration v2). Tables need `id` and `tenant_id`.
 */
export async function snapshotTenantRows(tx: TransactionSql, tenantId: number, tables: readonly string[]): Promise<void> {
  // Sent together: a transaction's statements run in the order they were sent.
  await Promise.all(tables.map((table) => tx`select ops_snapshot_tenant_rows(${table}, ${tenantId})`.execute()))
}

/**
 * After the repair, in the same transaction: the before-images of every row whose columns (but
 * `updated_at`) differ from the snapshot, each {column: [before, after]} over just the changed columns, in
 * one row for the tenant and table (migration v3's function: one statement per table). Returns how many
 * rows changed.
 */
export async function keepBeforeImages(tx: TransactionSql, runId: string, tenantId: number, tables: readonly string[]): Promise<number> {
  const kept = await Promise.all(
    tables.map(async (table) => (await tx<Array<{ kept: number }>>`select ops_keep_before_images(${runId}, ${tenantId}, ${table}) as kept`)[0]!.kept),
  )
  return kept.reduce((sum, n) => sum + n, 0)
}

/** The before-images of a run (or of one of its tenants), one per changed row, as a reader wants them. */
export interface BeforeImage {
  tenantId: number
  tableName: string
  rowId: number
  /** The changed columns' values before the run, and as it wrote them. */
  before: Record<string, unknown>
  after: Record<string, unknown>
}

/** The images of one run, tenant by tenant, table by table, row by row. */
const IMAGES_OF = `
  select b.tenant_id, b.table_name, e.key::bigint as row_id,
    (select jsonb_object_agg(c.key, c.value -> 0) from jsonb_each(e.value) c) as before,
    (select jsonb_object_agg(c.key, c.value -> 1) from jsonb_each(e.value) c) as after
  from ops_before_images b cross join lateral jsonb_each(b.images::jsonb) e`

export async function readBeforeImages(sql: Sql | TransactionSql, runId: string, tenantId?: number): Promise<BeforeImage[]> {
  const rows = await sql.unsafe<Array<{ tenant_id: string; table_name: string; row_id: string; before: Record<string, unknown>; after: Record<string, unknown> }>>(
    `${IMAGES_OF} where b.run_id = $1 and ($2::bigint is null or b.tenant_id = $2) order by b.tenant_id, b.table_name, row_id`,
    [runId, tenantId ?? null],
  )
  return rows.map((r) => ({ tenantId: Number(r.tenant_id), tableName: r.table_name, rowId: Number(r.row_id), before: r.before, after: r.after }))
}

/**
 * SPEC §11 revert of one tenant, in the caller's transaction: every row the reverted run changed whose
 * changed columns still hold what the run wrote gets its before-image back (and `updated_at` moves, as any
 * change's); a row changed since, or gone, is left alone. `total` counts the before-images, `updated` the
 * rows put back (the rest are the run's `skipped`). What the run wrote is compared after reading it back
 * into the row's types: the JSON of a timestamptz depends on the session's time zone.
 */
export async function revertTenantRows(tx: TransactionSql, revertedRunId: string, tenantId: number): Promise<{ total: number; updated: number }> {
  const tables = await tx<Array<{ table_name: string; columns: string[] }>>`
    select b.table_name, array_agg(distinct c.key order by c.key) as columns
    from ops_before_images b cross join lateral jsonb_each(b.images::jsonb) e cross join lateral jsonb_object_keys(e.value) as c(key)
    where b.run_id = ${revertedRunId} and b.tenant_id = ${tenantId}
    group by b.table_name
    order by b.table_name`
  let total = 0
  let updated = 0
  for (const { table_name: table, columns: imaged } of tables) {
    if (!isRepairableTableName(table)) throw new Error(`a before-image names a table that cannot be repaired: ${table}`)
    // Only names that are columns of the table reach the statement (the keys came from its rows anyway).
    const existing = await tx<Array<{ column_name: string }>>`
      select column_name from information_schema.columns where table_schema = current_schema() and table_name = ${table}`
    const known = new Set(existing.map((c) => c.column_name))
    const columns = imaged.filter((c) => known.has(c) && c !== MOVED_BY_EVERY_CHANGE)
    if (columns.length === 0) continue
    const targets = columns.map(quoted).join(', ')
    const values = columns.map((c) => `r.${quoted(c)}`).join(', ')
    const touch = known.has(MOVED_BY_EVERY_CHANGE) ? `, ${quoted(MOVED_BY_EVERY_CHANGE)} = now()` : ''
    const [row] = await tx.unsafe<Array<{ total: number; updated: number }>>(
      `with images as (
         ${IMAGES_OF} where b.run_id = $1 and b.tenant_id = $2 and b.table_name = $3
       ), restored as (
         update ${quoted(table)} f
         set (${targets}) = (select ${values} from jsonb_populate_record(f, i.before) r)${touch}
         from images i
         where f.id = i.row_id and f.tenant_id = $2 and to_jsonb(jsonb_populate_record(f, i.after)) = to_jsonb(f)
         returning f.id
       )
       select (select count(*) from images)::integer as total, (select count(*) from restored)::integer as updated`,
      [revertedRunId, tenantId, table],
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
