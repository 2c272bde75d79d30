import type { Sql } from '../db/database.js'

/**
 * The business figures of SPEC §12 "Metrics", read from the read models at scrape time, so that whichever
 * process answers /metrics (api, worker, projector, or all in one) tells the same. Each query reads one row
 * per run (`operation_runs`, `operation_run_controls`: the incremental counts the projection keeps), except
 * the repair durations, one aggregate over the per-tenant rows.
 */

/** Upper bounds (seconds) of the tenant repair duration histogram: a repair takes milliseconds to minutes. */
export const REPAIR_DURATION_BUCKETS: readonly number[] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

export interface RunsByState {
  runbook: string
  status: string
  outcome: string
  runs: number
}

export interface TenantsByRunbook {
  runbook: string
  succeeded: number
  failed: number
  cancelled: number
  /** Targeted tenants of runs not completed that have no result yet. */
  pending: number
  /** `summaryCounts.updated` summed: the rows the repairs changed (findings, for the built-in runbooks). */
  updated: number
}

export interface RepairDurations {
  /** Cumulative: `counts[i]` repairs took at most `REPAIR_DURATION_BUCKETS[i]` seconds. */
  counts: number[]
  count: number
  sumSeconds: number
}

export interface ReadModelFigures {
  runs: RunsByState[]
  tenants: TenantsByRunbook[]
  repairDurations: RepairDurations
}

export async function readModelFigures(sql: Sql): Promise<ReadModelFigures> {
  const [runs, tenants, durations] = await Promise.all([
    sql<Array<{ runbook: string; status: string; outcome: string; runs: number }>>`
      select type as runbook, status, outcome, count(*)::int as runs
      from operation_runs group by type, status, outcome`,
    sql<Array<{ runbook: string; succeeded: string; failed: string; cancelled: string; pending: string; updated: string }>>`
      select r.type as runbook,
             coalesce(sum(c.succeeded), 0)::text as succeeded,
             coalesce(sum(c.failed), 0)::text as failed,
             coalesce(sum(c.cancelled), 0)::text as cancelled,
             coalesce(sum(greatest(c.targeted - c.succeeded - c.failed - c.cancelled, 0)) filter (where r.status <> 'completed'), 0)::text as pending,
             coalesce(sum((r.summary_counts ->> 'updated')::bigint), 0)::text as updated
      from operation_runs r join operation_run_controls c on c.run_id = r.id
      group by r.type`,
    repairDurations(sql),
  ])
  return {
    runs,
    tenants: tenants.map((row) => ({
      runbook: row.runbook,
      succeeded: Number(row.succeeded),
      failed: Number(row.failed),
      cancelled: Number(row.cancelled),
      pending: Number(row.pending),
      updated: Number(row.updated),
    })),
    repairDurations: durations,
  }
}

/** One pass over the tenants repaired (both times known): a count per bucket, the sum and the count. */
async function repairDurations(sql: Sql): Promise<RepairDurations> {
  // The bounds are this module's constants, never input: written into the statement as numbers.
  const perBucket = REPAIR_DURATION_BUCKETS.map((bound, index) => `count(*) filter (where d <= ${Number(bound)}) as b${index}`).join(', ')
  const [row] = await sql.unsafe<Array<Record<string, string | null>>>(`
    select ${perBucket}, count(*) as n, coalesce(sum(d), 0)::text as s
    from (select extract(epoch from completed_at - started_at)::float8 as d
          from operation_run_tenants
          -- Repairs that committed: a failed tenant is timed too, but its repair rolled back.
          where status = 'succeeded' and started_at is not null and completed_at is not null) t`)
  return {
    counts: REPAIR_DURATION_BUCKETS.map((_, index) => Number(row?.[`b${index}`] ?? 0)),
    count: Number(row?.n ?? 0),
    sumSeconds: Number(row?.s ?? 0),
  }
}
