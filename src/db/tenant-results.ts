import type { MigrationSet } from './migrations.js'
import type { Sql, TransactionSql } from './database.js'
import type { TenantResult } from '../events/index.js'
import type { TenantOutcome } from '../commands/run/run-decider.js'

/**
 * v1 (baseline): exactly the statements every start applied before versioned migrations. Idempotent, so a
 * deployment the previous release created records v1 without a change. Never edit (its checksum is recorded).
 */
const tenantResultsBaseline: readonly string[] = [
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
  // When the repair transaction began and (about to) commit: SPEC §9's per-tenant startedAt/completedAt.
  `alter table tenant_job_results add column if not exists started_at timestamptz null`,
  `alter table tenant_job_results add column if not exists completed_at timestamptz null`,
  // Failed attempts of a tenant job, by kind: waiting for another run's lock has its own (long) budget
  // and must not use up the retries of real failures.
  `create table if not exists tenant_job_attempts (
       run_id text not null,
       tenant_id bigint not null,
       transient_failures integer not null default 0,
       lock_waits integer not null default 0,
       primary key (run_id, tenant_id))`,
]

/**
 * The outcome of a tenant job, written in the SAME transaction as the tenant's repair. It is what makes
 * "the findings a job changed" and "the fact that it changed them" impossible to diverge (DESIGN invariant
 * 3): a redelivered job, or one whose worker died after commit, finds this row and records it instead of
 * repairing again.
 */
export const tenantResultsSchema: MigrationSet = {
  owner: 'tenant-job-results',
  migrations: [{ version: 1, name: 'baseline', statements: tenantResultsBaseline }],
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

/** A tenant's result as stored beside its repair: the decider's `TenantOutcome` without the tenant id. */
export type StoredTenantResult = Omit<TenantOutcome, 'tenantId'>

type Row = {
  tenant_id: string
  status: 'succeeded' | 'failed'
  total: number | null
  updated: number | null
  reason_code: string | null
  message: string | null
  attempt: number
  started_at: Date | null
  completed_at: Date | null
}

function fromRow(row: Row): StoredTenantResult {
  const result: TenantResult =
    row.status === 'succeeded'
      ? { status: 'succeeded', total: row.total ?? 0, updated: row.updated ?? 0 }
      : { status: 'failed', reasonCode: row.reason_code as 'UNKNOWN', message: row.message ?? '' }
  return {
    result,
    attempt: row.attempt,
    startedAt: row.started_at?.toISOString() ?? null,
    completedAt: row.completed_at?.toISOString() ?? null,
  }
}

const columns = 'tenant_id, status, total, updated, reason_code, message, attempt, started_at, completed_at'

export async function findTenantResult(
  sql: Sql | TransactionSql,
  runId: string,
  tenantId: number,
): Promise<StoredTenantResult | null> {
  const [row] = await sql<Row[]>`
    select ${sql.unsafe(columns)} from tenant_job_results where run_id = ${runId} and tenant_id = ${tenantId}`
  return row ? fromRow(row) : null
}

/** Every result stored for a run, by tenant. */
export async function findRunResults(sql: Sql | TransactionSql, runId: string): Promise<TenantOutcome[]> {
  const rows = await sql<Row[]>`select ${sql.unsafe(columns)} from tenant_job_results where run_id = ${runId} order by tenant_id`
  return rows.map((row) => ({ tenantId: Number(row.tenant_id), ...fromRow(row) }))
}

/**
 * Inserts the result of a repair in the repair's transaction, stamped with the time it is about to commit.
 * A row already there (a final failure stored meanwhile by another delivery) makes the insert, and so the
 * whole repair, fail: the repair never commits beside a result that says something else.
 */
export async function insertRepairResult(
  tx: TransactionSql,
  runId: string,
  tenantId: number,
  repair: { total: number; updated: number; attempt: number; startedAt: string },
): Promise<StoredTenantResult> {
  const [row] = await tx<Array<{ completed_at: Date }>>`
    insert into tenant_job_results (run_id, tenant_id, status, total, updated, attempt, started_at, completed_at)
    values (${runId}, ${tenantId}, 'succeeded', ${repair.total}, ${repair.updated}, ${repair.attempt},
            ${repair.startedAt}::timestamptz, clock_timestamp())
    returning completed_at`.execute() // sent now: the transaction may commit right behind it (`CommitBehind`)
  return {
    result: { status: 'succeeded', total: repair.total, updated: repair.updated },
    attempt: repair.attempt,
    startedAt: repair.startedAt,
    completedAt: row!.completed_at.toISOString(),
  }
}

/**
 * Stores a final failure unless a result is already stored, and returns the stored one (first writer wins).
 * A failed tenant is processed too (SPEC §9: times are null only until then): `startedAt` is when its last
 * repair transaction began (null when the attempt failed before one began: then the time it is stored), and
 * `completedAt` when the failure is stored, its repair having rolled back.
 */
export async function storeFailure(
  sql: Sql | TransactionSql,
  runId: string,
  tenantId: number,
  failure: { result: Extract<TenantResult, { status: 'failed' }>; attempt: number; startedAt: string | null },
): Promise<StoredTenantResult> {
  await sql`
    insert into tenant_job_results (run_id, tenant_id, status, reason_code, message, attempt, started_at, completed_at)
    values (${runId}, ${tenantId}, 'failed', ${failure.result.reasonCode}, ${failure.result.message}, ${failure.attempt},
            coalesce(${failure.startedAt}::timestamptz, clock_timestamp()), clock_timestamp())
    on conflict (run_id, tenant_id) do nothing`
  return (await findTenantResult(sql, runId, tenantId))!
}
