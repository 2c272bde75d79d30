import { z } from 'zod'
import type { Sql, TransactionSql } from '../db/database.js'
import { InvalidCursorError } from '../projections/queries.js'

/**
 * Queries over the allowed tenant universe (SPEC §1): tenants with `is_platform = false` and
 * `archived_at is null` — the only tenants an operator can pick or a run can target.
 * postgres.js returns bigint as strings; ids here are JS numbers, as in the API's JSON: a tenant whose id or
 * workspace id is beyond 2^53 − 1 cannot be named exactly by either, so it is left out of the universe
 * (never targeted as a neighbour's id, never counted without its findings). So is a tenant whose id is 0 or
 * negative (a legal `bigint`): every id the API and the events take is positive, and such a tenant, listed
 * and counted but never targetable, made every all-tenants start refuse.
 */

type SqlClient = Sql | TransactionSql

/** The largest id the API's JSON numbers carry exactly. */
const LARGEST_NAMEABLE_ID = Number.MAX_SAFE_INTEGER

/** The universe's rule, as a condition on `tenants` (one table in the statement: columns unqualified). */
function inUniverse(sql: SqlClient) {
  return sql`is_platform = false and archived_at is null and id between 1 and ${LARGEST_NAMEABLE_ID}::bigint
    and workspace_id between ${-LARGEST_NAMEABLE_ID}::bigint and ${LARGEST_NAMEABLE_ID}::bigint`
}

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

/** The universe ordered by name then id, optionally filtered by a case-insensitive name substring: its first `limit` tenants. */
export async function listUniverse(sql: SqlClient, q?: string, limit: number = DEFAULT_LIMIT): Promise<UniverseTenant[]> {
  return (await pageUniverse(sql, { ...(q ? { q } : {}), limit })).items
}

/** A page of the universe by name then id (`nextCursor` null on the last), for `GET /api/tenants`. */
export async function pageUniverse(
  sql: SqlClient,
  request: { q?: string; limit?: number; cursor?: string },
): Promise<{ items: UniverseTenant[]; nextCursor: string | null }> {
  const limit = Math.max(0, Math.min(MAX_LIMIT, Math.trunc(request.limit ?? MAX_LIMIT)))
  const after = request.cursor === undefined ? null : decodeUniverseCursor(request.cursor)
  const filter = request.q ? likePattern(request.q) : null
  const rows = await sql<Array<{ id: string; workspace_id: string; name: string }>>`
    select t.id::text, t.workspace_id::text, t.name from tenants t
    where ${inUniverse(sql)}
      and (${filter}::text is null or t.name ilike ${filter}::text escape '\\')
      ${after === null ? sql`` : sql`and (t.name, t.id) > (${after.name}::text, ${after.id}::bigint)`}
    order by t.name, t.id
    limit ${limit + 1}`
  const items = rows.slice(0, limit).map((row) => ({ id: Number(row.id), workspaceId: Number(row.workspace_id), name: row.name }))
  const last = items.at(-1)
  const nextCursor = rows.length > limit && last ? Buffer.from(JSON.stringify({ v: 1, n: last.name, i: last.id }), 'utf8').toString('base64url') : null
  return { items, nextCursor }
}

const universeCursorSchema = z.object({ v: z.literal(1), n: z.string().max(10_000).regex(/^[^\u0000]*$/), i: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) }).strict()

function decodeUniverseCursor(cursor: string): { name: string; id: number } {
  if (!/^[A-Za-z0-9_-]{1,20000}$/.test(cursor)) throw new InvalidCursorError(cursor)
  try {
    const parsed = universeCursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')))
    if (parsed.success) return { name: parsed.data.n, id: parsed.data.i }
  } catch {
    // not JSON: refused below
  }
  throw new InvalidCursorError(cursor)
}

/** Every tenant id of the universe, ascending: the targets of an `all_tenants` run. */
export async function universeTenantIds(sql: SqlClient): Promise<number[]> {
  const rows = await sql<Array<{ id: string }>>`
    select t.id::text from tenants t
    where ${inUniverse(sql)}
    order by t.id`
  return rows.map((row) => Number(row.id))
}

export async function isInUniverse(sql: SqlClient, tenantId: number): Promise<boolean> {
  const [row] = await sql<Array<{ allowed: boolean }>>`select ${universeMembership(sql, tenantId)} as allowed`
  return row?.allowed ?? false
}

/** Whether the tenant is in the universe, as an expression of a statement (a repair asks it with its slot). */
export function universeMembership(sql: SqlClient, tenantId: number) {
  return sql`exists (select 1 from tenants where id = ${tenantId} and ${inUniverse(sql)})`
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
