import type { Sql, TransactionSql } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { platformSchema } from '../../src/db/schema.js'

/** A finding as stored, timestamps as epoch milliseconds so rows compare with `toEqual`. */
export interface FindingRow {
  id: number
  tenantId: number
  fingerprint: string
  severity: string
  status: string
  firstSeenAt: number | null
  lastSeenAt: number | null
  timesSeen: number | null
  slaDueAt: number | null
  resolvedAt: number | null
  resolvedReason: string | null
  duplicateOfId: number | null
  createdAt: number
  updatedAt: number
}

export const HOUR = 3_600_000
export const DAY = 24 * HOUR
/** A fixed instant tests count from: Monday 2025-01-06 00:00 UTC. */
export const T0 = Date.UTC(2025, 0, 6)

type SqlClient = Sql | TransactionSql

export async function createPlatformTables(sql: Sql): Promise<void> {
  await applyMigrations(sql, [platformSchema])
}

export async function insertTenant(
  sql: SqlClient,
  tenant: { id: number; workspaceId?: number; name?: string; isPlatform?: boolean; archivedAt?: Date | null },
): Promise<void> {
  await sql`
    insert into tenants (id, workspace_id, name, is_platform, archived_at)
    values (${tenant.id}, ${tenant.workspaceId ?? tenant.id}, ${tenant.name ?? `Tenant ${tenant.id}`},
            ${tenant.isPlatform ?? false}, ${tenant.archivedAt ?? null})`
}

/** A clean, already-repaired finding unless overridden: the repair leaves it alone. */
export function finding(id: number, tenantId: number, overrides: Partial<FindingRow> = {}): FindingRow {
  return {
    id,
    tenantId,
    fingerprint: `fp-${id}`,
    severity: 'info',
    status: 'triaged',
    firstSeenAt: T0,
    lastSeenAt: T0 + DAY,
    timesSeen: 1,
    slaDueAt: null,
    resolvedAt: null,
    resolvedReason: null,
    duplicateOfId: null,
    createdAt: T0,
    updatedAt: T0 + 2 * DAY,
    ...overrides,
  }
}

const toDate = (ms: number | null): Date | null => (ms === null ? null : new Date(ms))

export async function insertFindings(sql: SqlClient, rows: readonly FindingRow[]): Promise<void> {
  if (rows.length === 0) return
  const records = rows.map((row) => ({
    id: row.id,
    tenant_id: row.tenantId,
    fingerprint: row.fingerprint,
    severity: row.severity,
    status: row.status,
    first_seen_at: toDate(row.firstSeenAt),
    last_seen_at: toDate(row.lastSeenAt),
    times_seen: row.timesSeen,
    sla_due_at: toDate(row.slaDueAt),
    resolved_at: toDate(row.resolvedAt),
    resolved_reason: row.resolvedReason,
    duplicate_of_id: row.duplicateOfId,
    created_at: new Date(row.createdAt),
    updated_at: new Date(row.updatedAt),
  }))
  await sql`insert into findings ${sql(records)}`
}

interface StoredFinding {
  id: string
  tenant_id: string
  fingerprint: string
  severity: string
  status: string
  first_seen_at: Date | null
  last_seen_at: Date | null
  times_seen: number | null
  sla_due_at: Date | null
  resolved_at: Date | null
  resolved_reason: string | null
  duplicate_of_id: string | null
  created_at: Date
  updated_at: Date
}

const toMs = (date: Date | null): number | null => (date === null ? null : date.getTime())

/** The tenant's findings ordered by id (all tenants when `tenantId` is omitted). */
export async function readFindings(sql: SqlClient, tenantId?: number): Promise<FindingRow[]> {
  const rows = await sql<StoredFinding[]>`
    select * from findings where ${tenantId === undefined ? sql`true` : sql`tenant_id = ${tenantId}`} order by id`
  return rows.map((row) => ({
    id: Number(row.id),
    tenantId: Number(row.tenant_id),
    fingerprint: row.fingerprint,
    severity: row.severity,
    status: row.status,
    firstSeenAt: toMs(row.first_seen_at),
    lastSeenAt: toMs(row.last_seen_at),
    timesSeen: row.times_seen,
    slaDueAt: toMs(row.sla_due_at),
    resolvedAt: toMs(row.resolved_at),
    resolvedReason: row.resolved_reason,
    duplicateOfId: row.duplicate_of_id === null ? null : Number(row.duplicate_of_id),
    createdAt: row.created_at.getTime(),
    updatedAt: row.updated_at.getTime(),
  }))
}
