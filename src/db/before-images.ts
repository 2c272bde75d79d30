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
        `create table ops_before_images (
           run_id text not null,
           table_name text not null,
           row_id bigint not null,
           tenant_id bigint not null,
           before jsonb not null,
           after jsonb not null,
           recorded_at timestamptz not null default now(),
           primary key (run_id, table_name, row_id))`,
        `create index ops_before_images_tenant_idx on ops_before_images (run_id, tenant_id)`,
        // The purge deletes by age.
        `create index ops_before_images_recorded_idx on ops_before_images (recorded_at)`,
      ],
    },
  ],
}

/** The default of OPS_BEFORE_IMAGE_DAYS (SPEC §11). */
export const DEFAULT_BEFORE_IMAGE_DAYS = 30

/** The column every change moves and a revert does not put back (SPEC §11: every column but `updated_at`). */
const MOVED_BY_EVERY_CHANGE = 'updated_at'

/** A table a runbook repairs: a plain lower-case name (checked by the catalog), quoted all the same. */
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/

export function isRepairableTableName(name: string): boolean {
  return TABLE_NAME.test(name)
}

function quoted(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`
}

function snapshotOf(table: string): string {
  return quoted(`ops_snapshot_${table}`)
}

/**
 * Before the repair: the tenant's rows of each table, copied as they are into a temporary table that the
 * transaction's end drops. Tables need `id` and `tenant_id`.
 */
export async function snapshotTenantRows(tx: TransactionSql, tenantId: number, tables: readonly string[]): Promise<void> {
  for (const table of tables) {
    await tx.unsafe(`create temporary table ${snapshotOf(table)} on commit drop as select * from ${quoted(table)} where tenant_id = $1`, [tenantId])
  }
}

/**
 * After the repair, in the same transaction: one before-image per row whose columns (but `updated_at`)
 * differ from the snapshot, with the old and the new values of just those columns. Returns how many.
 */
export async function keepBeforeImages(tx: TransactionSql, runId: string, tenantId: number, tables: readonly string[]): Promise<number> {
  let kept = 0
  for (const table of tables) {
    const [row] = await tx.unsafe<Array<{ kept: number }>>(
      `with changed as (
         select s.id, d.before, d.after
         from ${snapshotOf(table)} s
         join ${quoted(table)} t on t.id = s.id
         cross join lateral (
           select jsonb_object_agg(o.key, o.value) as before, jsonb_object_agg(o.key, n.value) as after
           from jsonb_each(to_jsonb(s) - '${MOVED_BY_EVERY_CHANGE}') o
           join jsonb_each(to_jsonb(t) - '${MOVED_BY_EVERY_CHANGE}') n on n.key = o.key
           where o.value is distinct from n.value
         ) d
         where row(s.*) is distinct from row(t.*) and d.before is not null
       ), kept as (
         insert into ops_before_images (run_id, table_name, row_id, tenant_id, before, after)
         select $1, $2, c.id, $3, c.before, c.after from changed c
         on conflict (run_id, table_name, row_id) do nothing
         returning 1
       )
       select count(*)::integer as kept from kept`,
      [runId, table, tenantId],
    )
    await tx.unsafe(`drop table ${snapshotOf(table)}`)
    kept += row?.kept ?? 0
  }
  return kept
}

/**
 * SPEC §11 revert of one tenant, in the caller's transaction: every row the reverted run changed whose
 * changed columns still hold what the run wrote gets its before-image back (and `updated_at` moves, as any
 * change's); a row changed since, or gone, is left alone. `total` counts the before-images, `updated` the
 * rows put back (the rest are the run's `skipped`).
 */
export async function revertTenantRows(tx: TransactionSql, revertedRunId: string, tenantId: number): Promise<{ total: number; updated: number }> {
  const tables = await tx<Array<{ table_name: string; columns: string[] }>>`
    select b.table_name, array_agg(distinct k.key order by k.key) as columns
    from ops_before_images b cross join lateral jsonb_object_keys(b.before) as k(key)
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
         select row_id, before, after from ops_before_images where run_id = $1 and tenant_id = $2 and table_name = $3
       ), restored as (
         update ${quoted(table)} f
         set (${targets}) = (select ${values} from jsonb_populate_record(f, i.before) r)${touch}
         from images i
         where f.id = i.row_id and f.tenant_id = $2
           and not exists (select 1 from jsonb_each(i.after) e where to_jsonb(f) -> e.key is distinct from e.value)
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
    select tenant_id, count(*)::integer as images from ops_before_images where run_id = ${runId} group by tenant_id order by tenant_id`
  return rows.map((r) => ({ tenantId: Number(r.tenant_id), images: r.images }))
}

/** Drops the before-images older than the retention; returns how many. */
export async function purgeBeforeImages(sql: Sql, retentionDays: number): Promise<number> {
  const purged = await sql`delete from ops_before_images where recorded_at < now() - ${retentionDays} * interval '1 day'`
  return purged.count
}
