import type { SchemaPart } from '../db/schema.js'
import type { Sql, TransactionSql } from '../db/database.js'
import type { TenantResult } from '../events/index.js'

/**
 * The outcome of a tenant job, written in the SAME transaction as the tenant's repair. It is what makes
 * "the findings a job changed" and "the fact that it changed them" impossible to diverge (DESIGN invariant
 * 3): a redelivered job, or one whose worker died after commit, finds this row and records it instead of
 * repairing again.
 */
export const tenantResultsSchema: SchemaPart = {
  name: 'tenant-job-results',
  statements: [
    `create table if not exists tenant_job_results (
       run_id text not null,
       tenant_id bigint not null,
       status text not null check (status in ('succeeded', 'failed')),
       total integer,
       updated integer,
       reason_code text,
       message text,
       attempt integer not null,
       recorded_at timestamptz not null default now(),
       primary key (run_id, tenant_id))`,
    // Failed attempts of a tenant job, by kind: waiting for another run's lock has its own (long) budget
    // and must not use up the retries of real failures.
    `create table if not exists tenant_job_attempts (
       run_id text not null,
       tenant_id bigint not null,
       transient_failures integer not null default 0,
       lock_waits integer not null default 0,
       primary key (run_id, tenant_id))`,
  ],
}

/** Counts one failed attempt of the given kind and returns the count of that kind so far. */
export async function countFailedAttempt(
  sql: Sql | TransactionSql,
  runId: string,
  tenantId: number,
  kind: 'transient' | 'lock_wait',
): Promise<number> {
  const transient = kind === 'transient' ? 1 : 0
  const lockWait = kind === 'lock_wait' ? 1 : 0
  const [row] = await sql<Array<{ transient_failures: number; lock_waits: number }>>`
    insert into tenant_job_attempts (run_id, tenant_id, transient_failures, lock_waits)
    values (${runId}, ${tenantId}, ${transient}, ${lockWait})
    on conflict (run_id, tenant_id) do update
      set transient_failures = tenant_job_attempts.transient_failures + ${transient},
          lock_waits = tenant_job_attempts.lock_waits + ${lockWait}
    returning transient_failures, lock_waits`
  return kind === 'transient' ? row!.transient_failures : row!.lock_waits
}

export interface StoredTenantResult {
  result: TenantResult
  attempt: number
}

type Row = {
  status: 'succeeded' | 'failed'
  total: number | null
  updated: number | null
  reason_code: string | null
  message: string | null
  attempt: number
}

function fromRow(row: Row): StoredTenantResult {
  const result: TenantResult =
    row.status === 'succeeded'
      ? { status: 'succeeded', total: row.total ?? 0, updated: row.updated ?? 0 }
      : { status: 'failed', reasonCode: row.reason_code as 'UNKNOWN', message: row.message ?? '' }
  return { result, attempt: row.attempt }
}

export async function findTenantResult(
  sql: Sql | TransactionSql,
  runId: string,
  tenantId: number,
): Promise<StoredTenantResult | null> {
  const [row] = await sql<Row[]>`
    select status, total, updated, reason_code, message, attempt
    from tenant_job_results where run_id = ${runId} and tenant_id = ${tenantId}`
  return row ? fromRow(row) : null
}

/**
 * Inserts the result of a repair in the repair's transaction. A row already there (a final failure stored
 * meanwhile by another delivery) makes the insert, and so the whole repair, fail: the repair never commits
 * beside a result that says something else.
 */
export async function insertTenantResult(
  tx: TransactionSql,
  runId: string,
  tenantId: number,
  stored: StoredTenantResult,
): Promise<StoredTenantResult> {
  await tx`${insertStatement(tx, runId, tenantId, stored)}`
  return stored
}

/** Stores a final failure unless a result is already stored, and returns the stored one (first writer wins). */
export async function storeTenantResult(
  sql: Sql | TransactionSql,
  runId: string,
  tenantId: number,
  stored: StoredTenantResult,
): Promise<StoredTenantResult> {
  await sql`${insertStatement(sql, runId, tenantId, stored)} on conflict (run_id, tenant_id) do nothing`
  return (await findTenantResult(sql, runId, tenantId))!
}

function insertStatement(sql: Sql | TransactionSql, runId: string, tenantId: number, stored: StoredTenantResult) {
  const { result, attempt } = stored
  return sql`
    insert into tenant_job_results (run_id, tenant_id, status, total, updated, reason_code, message, attempt)
    values (${runId}, ${tenantId}, ${result.status},
            ${result.status === 'succeeded' ? result.total : null},
            ${result.status === 'succeeded' ? result.updated : null},
            ${result.status === 'failed' ? result.reasonCode : null},
            ${result.status === 'failed' ? result.message : null},
            ${attempt})`
}
