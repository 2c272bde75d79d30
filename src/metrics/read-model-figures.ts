import type { Sql } from '../db/database.js'
import { REPAIR_DURATION_BUCKETS } from '../projections/repair-durations.js'

/**
 * The business figures of SPEC §12 "Metrics", read from the read models at scrape time, so that whichever
 * process answers /metrics (api, worker, projector, or all in one) tells the same. Each query reads one row
 * per run (`operation_runs`, `operation_run_controls`: the incremental counts the projection keeps, the repair
 * durations among them), never the per-tenant rows.
 */

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

/** The runs' repair duration histograms (repair-durations.ts) added up: one row a run. */
async function repairDurations(sql: Sql): Promise<RepairDurations> {
  const [row] = await sql<Array<{ counts: string[] | null; count: string; micros: string }>>`
    select (select array_agg(total::text order by bucket)
            from (select bucket, sum(counted) as total
                  from operation_run_controls, unnest(repair_buckets) with ordinality as u(counted, bucket)
                  group by bucket) per_bucket) as counts,
           coalesce(sum(repair_count), 0)::text as count,
           coalesce(sum(repair_micros), 0)::text as micros
    from operation_run_controls`
  return {
    counts: REPAIR_DURATION_BUCKETS.map((_, index) => Number(row?.counts?.[index] ?? 0)),
    count: Number(row?.count ?? 0),
    sumSeconds: Number(row?.micros ?? 0) / 1_000_000,
  }
}
