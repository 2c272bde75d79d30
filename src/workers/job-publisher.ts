import type { JobQueue, TenantJob } from '../queue/job-queue.js'

const PUBLISH_CHUNK = 100

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
  // Published in chunks whose acknowledgements are awaited together, not one round trip per tenant.
  for (let start = 0; start < tenantIds.length; start += PUBLISH_CHUNK) {
    await Promise.all(
      tenantIds.slice(start, start + PUBLISH_CHUNK).map((tenantId) =>
        queue.publish({ runId: run.runId, runbookKey: run.runbookKey, tenantId, generation }, `${run.runId}:${tenantId}:${generation}`),
      ),
    )
  }
}
