import type { JobQueue, TenantJob } from '../queue/job-queue.js'

/**
 * Publishes one job per tenant. The dedupe id names the run, the tenant and the dispatch generation, so
 * the dispatcher and the reconciler publishing the same generation collapse into one message, while a
 * later generation (a re-dispatch of a job presumed lost) is a new message.
 */
export async function publishTenantJobs(
  queue: JobQueue<TenantJob>,
  run: { runId: string; runbookKey: string },
  tenantIds: number[],
  generation: number,
): Promise<void> {
  for (const tenantId of tenantIds) {
    await queue.publish(
      { runId: run.runId, runbookKey: run.runbookKey, tenantId, generation },
      `${run.runId}:${tenantId}:${generation}`,
    )
  }
}
