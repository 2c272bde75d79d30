/**
 * The tenant repair duration histogram of SPEC §12 "Metrics", kept per run by the operation-runs projection
 * (`operation_run_controls`: `repair_count`, `repair_micros`, `repair_buckets`), so that a scrape sums one row a
 * run instead of reading every tenant row of every run ever. A duration is a succeeded tenant's started to
 * completed time (a failed tenant's repair rolled back), in whole microseconds, the timestamps' own
 * precision: the sums are exact, so a rebuild's rows equal the live ones whatever the batches were.
 *
 * The stored counts are by these bounds, one per bound in this order: a release that changes them must add a
 * read-model migration that counts every run's again (migration 8 wrote this release's bounds out; its text,
 * applied, must not change).
 */

/** Upper bounds (seconds) of the histogram: a repair takes milliseconds to minutes. */
export const REPAIR_DURATION_BUCKETS: readonly number[] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

const boundsInMicros = REPAIR_DURATION_BUCKETS.map((bound) => Math.round(bound * 1_000_000))

/** SQL: the microseconds from `started` to `completed` (two timestamptz expressions). */
export function repairMicrosSql(started: string, completed: string): string {
  return `(extract(epoch from (${completed} - ${started})) * 1000000)::bigint`
}

/** SQL, an aggregate: per bound, how many rows where `timed` took at most that many microseconds (`micros`). */
export function repairBucketCountsSql(micros: string, timed: string): string {
  return `array[${boundsInMicros.map((bound) => `count(*) filter (where ${timed} and ${micros} <= ${bound})`).join(', ')}]::integer[]`
}
