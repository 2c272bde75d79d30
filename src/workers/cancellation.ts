import { runRepairsLockName } from '../db/advisory-locks.js'
import type { Sql } from '../db/database.js'
import type { EventLog } from '../store/event-log.js'
import { completeCancelledRun } from '../commands/run-execution.js'
import { findRunResults } from '../db/tenant-results.js'

/**
 * Completes a cancelled run once none of its repairs is in flight (SPEC §9: "tenants being repaired finish
 * and are counted; then the run completes"). Every repair transaction holds the run's repairs lock shared
 * and checks for a cancel after taking it; so when this transaction gets the lock exclusively, no repair
 * is running and none will start. The results stored by then — including those of repairs whose worker
 * has not appended them yet — are recorded with the completion. Returns false while repairs are in flight:
 * each of them calls this again when it ends, and the reconciler retries too.
 */
export async function finishCancelledRun(
  deps: { sql: Sql; log: EventLog },
  runId: string,
  /** The run's RunCancelled when the completion answers it (the dispatcher); null from a job's end or a timer. */
  causationId: string | null = null,
): Promise<boolean> {
  const stored = await deps.sql.begin(async (tx) => {
    const [lock] = await tx<Array<{ free: boolean }>>`
      select pg_try_advisory_xact_lock(hashtextextended(${runRepairsLockName(runId)}, 0)) as free`
    return lock?.free ? findRunResults(tx, runId) : null
  })
  if (!stored) return false
  await completeCancelledRun(deps.log, runId, stored, causationId)
  return true
}
