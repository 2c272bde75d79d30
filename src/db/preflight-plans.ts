import { z } from 'zod'
import { InvalidCursorError } from '../projections/queries.js'
import type { Sql, TransactionSql } from './database.js'
import type { MigrationSet } from './migrations.js'

/**
 * SPEC §11: a preflight's per-tenant plan, kept 24 hours for the operator to page through and for a start
 * pinned to it to compare with. The PreflightRecorded event holds the totals forever; this table holds the
 * rows, written in the same transaction as the event (PostgreSQL store) and purged when they expire.
 */
export const preflightPlanSchema: MigrationSet = {
  owner: 'preflight-plans',
  migrations: [
    {
      version: 1,
      name: 'per-tenant preflight plans',
      statements: [
        `create table preflight_plans (
           preflight_id text primary key,
           runbook_key text not null,
           scope text not null,
           target_tenant_id bigint null,
           parameters jsonb not null,
           recorded_at timestamptz not null)`,
        `create index preflight_plans_recorded_idx on preflight_plans (recorded_at)`,
        `create table preflight_plan_tenants (
           preflight_id text not null references preflight_plans (preflight_id) on delete cascade,
           tenant_id bigint not null,
           affected integer not null,
           total integer not null,
           would_fail text null,
           message text null,
           primary key (preflight_id, tenant_id))`,
        // The plan's page order (would-fail tenants first): keyset pages read it without sorting the plan.
        `create index preflight_plan_tenants_page_idx on preflight_plan_tenants (preflight_id, (would_fail is null), tenant_id)`,
      ],
    },
  ],
}

/** How long a plan can be paged and pinned (SPEC §11). */
export const PREFLIGHT_PLAN_TTL_MS = 24 * 60 * 60 * 1000

export interface TenantPlan {
  tenantId: number
  affected: number
  total: number
  wouldFail: { reasonCode: 'INVALID_DATA'; message: string } | null
}

export interface PreflightPlanHeader {
  preflightId: string
  runbookKey: string
  scope: string
  targetTenantId: number | null
  parameters: Record<string, unknown>
  recordedAt: string
}

/** Stores a plan and drops the expired ones (there is no other reader of them: cheap, and bounded). */
export async function insertPreflightPlan(tx: TransactionSql, header: PreflightPlanHeader, tenants: readonly TenantPlan[]): Promise<void> {
  await tx`delete from preflight_plans where recorded_at < now() - ${PREFLIGHT_PLAN_TTL_MS / 1000} * interval '1 second'`
  await tx`
    insert into preflight_plans (preflight_id, runbook_key, scope, target_tenant_id, parameters, recorded_at)
    values (${header.preflightId}, ${header.runbookKey}, ${header.scope}, ${header.targetTenantId},
            ${JSON.stringify(header.parameters)}::text::jsonb, ${header.recordedAt}::timestamptz)`
  // In slices: one statement per tenant would be thousands of round trips for an all-tenants plan.
  for (let i = 0; i < tenants.length; i += 1000) {
    const slice = tenants.slice(i, i + 1000)
    await tx`
      insert into preflight_plan_tenants (preflight_id, tenant_id, affected, total, would_fail, message)
      select ${header.preflightId}, t.tenant_id, t.affected, t.total, t.would_fail, t.message
      from unnest(${slice.map((t) => t.tenantId)}::bigint[], ${slice.map((t) => t.affected)}::int[], ${slice.map((t) => t.total)}::int[],
                  ${slice.map((t) => t.wouldFail?.reasonCode ?? null)}::text[], ${slice.map((t) => t.wouldFail?.message ?? null)}::text[])
        as t(tenant_id, affected, total, would_fail, message)`
  }
}

/** The plan's header while it is kept (null once expired or never recorded). */
export async function findPreflightPlan(sql: Sql | TransactionSql, preflightId: string): Promise<PreflightPlanHeader | null> {
  const [row] = await sql<Array<{ preflight_id: string; runbook_key: string; scope: string; target_tenant_id: string | null; parameters: string; recorded_at: Date }>>`
    select preflight_id, runbook_key, scope, target_tenant_id, parameters::text as parameters, recorded_at from preflight_plans
    where preflight_id = ${preflightId} and recorded_at >= now() - ${PREFLIGHT_PLAN_TTL_MS / 1000} * interval '1 second'`
  if (!row) return null
  return {
    preflightId: row.preflight_id,
    runbookKey: row.runbook_key,
    scope: row.scope,
    targetTenantId: row.target_tenant_id === null ? null : Number(row.target_tenant_id),
    parameters: JSON.parse(row.parameters) as Record<string, unknown>,
    recordedAt: row.recorded_at.toISOString(),
  }
}

export interface PlanTenantItem {
  tenantId: number
  tenantName: string | null
  affected: number
  total: number
  wouldFail: string | null
  message: string | null
}

const planCursorSchema = z.object({ v: z.literal(1), f: z.boolean(), t: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) }).strict()

/** A page of a plan: the tenants that would fail first, then by tenant id. */
export async function listPlanTenants(
  sql: Sql,
  preflightId: string,
  page: { cursor?: string | null | undefined; limit: number },
): Promise<{ items: PlanTenantItem[]; nextCursor: string | null }> {
  const after = page.cursor ? decodePlanCursor(page.cursor) : null
  // `fails_later` false sorts first: would-fail tenants lead.
  const rows = await sql<Array<{ tenant_id: string; tenant_name: string | null; affected: number; total: number; would_fail: string | null; message: string | null }>>`
    select p.tenant_id, n.name as tenant_name, p.affected, p.total, p.would_fail, p.message
    from preflight_plan_tenants p left join tenants n on n.id = p.tenant_id
    where p.preflight_id = ${preflightId}
      ${after ? sql`and ((p.would_fail is null), p.tenant_id) > (${!after.f}, ${after.t}::bigint)` : sql``}
    order by (p.would_fail is null), p.tenant_id
    limit ${page.limit + 1}`
  const items = rows.slice(0, page.limit).map((row) => ({
    tenantId: Number(row.tenant_id),
    tenantName: row.tenant_name,
    affected: row.affected,
    total: row.total,
    wouldFail: row.would_fail,
    message: row.message,
  }))
  const last = items.at(-1)
  const nextCursor =
    rows.length > page.limit && last ? Buffer.from(JSON.stringify({ v: 1, f: last.wouldFail !== null, t: last.tenantId })).toString('base64url') : null
  return { items, nextCursor }
}

function decodePlanCursor(cursor: string): { f: boolean; t: number } {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw new InvalidCursorError(cursor)
  try {
    const parsed = planCursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')))
    if (parsed.success) return parsed.data
  } catch {
    // not JSON: refused below
  }
  throw new InvalidCursorError(cursor)
}

/** Every tenant of a plan, in tenant order: what a start pinned to it compares with. */
export async function planTenantsOf(sql: Sql | TransactionSql, preflightId: string): Promise<TenantPlan[]> {
  const rows = await sql<Array<{ tenant_id: string; affected: number; total: number; would_fail: string | null; message: string | null }>>`
    select tenant_id, affected, total, would_fail, message from preflight_plan_tenants where preflight_id = ${preflightId} order by tenant_id`
  return rows.map((row) => ({
    tenantId: Number(row.tenant_id),
    affected: row.affected,
    total: row.total,
    wouldFail: row.would_fail === null ? null : { reasonCode: 'INVALID_DATA' as const, message: row.message ?? '' },
  }))
}
