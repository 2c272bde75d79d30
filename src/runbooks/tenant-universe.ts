import type { Sql, TransactionSql } from '../db/database.js'

/**
 * Queries over the allowed tenant universe (SPEC §1): tenants with `is_platform = false` and
 * `archived_at is null` — the only tenants an operator can pick or a run can target.
 * postgres.js returns bigint as strings; ids here are JS numbers (platform ids stay far below 2^53).
 */

type SqlClient = Sql | TransactionSql

export interface UniverseTenant {
  id: number
  workspaceId: number
  name: string
}

const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000

// Ids are cast to text (postgres.js would return bigint as strings anyway); ordering uses the qualified
// bigint columns `t.id`, because a bare `order by id` would sort the text output column.

/** `%`, `_` and the escape character itself match literally in the name filter. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (character) => `\\${character}`)}%`
}

/** The universe ordered by name then id, optionally filtered by a case-insensitive name substring. */
export async function listUniverse(sql: SqlClient, q?: string, limit: number = DEFAULT_LIMIT): Promise<UniverseTenant[]> {
  const boundedLimit = Math.max(0, Math.min(MAX_LIMIT, Math.trunc(limit)))
  const filter = q ? likePattern(q) : null
  const rows = await sql<Array<{ id: string; workspace_id: string; name: string }>>`
    select t.id::text, t.workspace_id::text, t.name from tenants t
    where t.is_platform = false and t.archived_at is null
      and (${filter}::text is null or t.name ilike ${filter}::text escape '\\')
    order by t.name, t.id
    limit ${boundedLimit}`
  return rows.map((row) => ({ id: Number(row.id), workspaceId: Number(row.workspace_id), name: row.name }))
}

/** Every tenant id of the universe, ascending: the targets of an `all_tenants` run. */
export async function universeTenantIds(sql: SqlClient): Promise<number[]> {
  const rows = await sql<Array<{ id: string }>>`
    select t.id::text from tenants t where t.is_platform = false and t.archived_at is null order by t.id`
  return rows.map((row) => Number(row.id))
}

export async function isInUniverse(sql: SqlClient, tenantId: number): Promise<boolean> {
  const [row] = await sql<Array<{ allowed: boolean }>>`select ${universeMembership(sql, tenantId)} as allowed`
  return row?.allowed ?? false
}

/** Whether the tenant is in the universe, as an expression of a statement (a repair asks it with its slot). */
export function universeMembership(sql: SqlClient, tenantId: number) {
  return sql`exists (select 1 from tenants where id = ${tenantId} and is_platform = false and archived_at is null)`
}

/** The workspace of the (single) platform tenant, or null when the platform has none. */
export async function platformWorkspaceId(sql: SqlClient): Promise<number | null> {
  const [row] = await sql<Array<{ workspace_id: string }>>`
    select t.workspace_id::text from tenants t where t.is_platform = true order by t.id limit 1`
  return row ? Number(row.workspace_id) : null
}

/** The workspace of any tenant (in the universe or not), or null when the tenant does not exist. */
export async function tenantWorkspaceId(sql: SqlClient, tenantId: number): Promise<number | null> {
  const [row] = await sql<Array<{ workspace_id: string }>>`
    select workspace_id::text from tenants where id = ${tenantId}`
  return row ? Number(row.workspace_id) : null
}
