import type { JobQueue, TenantJob } from '../queue/job-queue.js'

const PUBLISH_CHUNK = 100

/**
 * Publishes jobs, each carrying its tenants. The dedupe id names the run, the job's key (its tenant, or its
 * group of targets: see `dispatchJobs`) and the dispatch generation, so the same job published again in a
 * generation (by another dispatcher, or one restarted) collapses into one message — the copy kept carries
 * every tenant still pending, since a job's pending tenants only ever shrink — while a later generation (a
 * resume, a re-dispatch of a job presumed lost) is a new message.
 */
export async function publishTenantJobs(
  queue: JobQueue<TenantJob>,
  run: { runId: string; runbookKey: string },
  jobs: ReadonlyArray<{ key: string; tenantIds: number[] }>,
  generation: number,
  causationId: string | null,
): Promise<void> {
  // Published in chunks whose acknowledgements are awaited together, not one round trip per job.
  for (let start = 0; start < jobs.length; start += PUBLISH_CHUNK) {
    await Promise.all(
      jobs
        .slice(start, start + PUBLISH_CHUNK)
        .map(({ key, tenantIds }) => queue.publish({ runId: run.runId, runbookKey: run.runbookKey, tenantIds, generation, causationId }, `${run.runId}:${key}:${generation}`)),
    )
  }
}

/** A name for a job republished by a worker (what is left of it, offered again), unique with `suffix`. */
export function jobDedupeId(job: Pick<TenantJob, 'runId' | 'tenantIds' | 'generation'>, suffix: string): string {
  const tenants = job.tenantIds.length === 1 ? String(job.tenantIds[0]) : `${job.tenantIds[0]}+${job.tenantIds.length - 1}`
  return `${job.runId}:${tenants}:${job.generation}:${suffix}`
}
