import { createHash } from 'node:crypto'
import type { JobQueue, TenantJob } from '../queue/job-queue.js'

const PUBLISH_CHUNK = 100

/**
 * Publishes jobs, each carrying its tenants. The dedupe id names the run, the job's tenants and the dispatch
 * generation, so publishing the same job again in a generation (a dispatcher restarted) collapses into one
 * message, while a later generation (a resume, a re-dispatch of a job presumed lost) is a new message.
 */
export async function publishTenantJobs(
  queue: JobQueue<TenantJob>,
  run: { runId: string; runbookKey: string },
  jobTenants: readonly number[][],
  generation: number,
): Promise<void> {
  const jobs = jobTenants.map((tenantIds): TenantJob => ({ runId: run.runId, runbookKey: run.runbookKey, tenantIds, generation }))
  // Published in chunks whose acknowledgements are awaited together, not one round trip per job.
  for (let start = 0; start < jobs.length; start += PUBLISH_CHUNK) {
    await Promise.all(jobs.slice(start, start + PUBLISH_CHUNK).map((job) => queue.publish(job, jobDedupeId(job))))
  }
}

/** `run:tenant:generation` for a one-tenant job; a shared job's tenants are named by a digest of their ids. */
export function jobDedupeId(job: Pick<TenantJob, 'runId' | 'tenantIds' | 'generation'>): string {
  const tenants =
    job.tenantIds.length === 1 ? String(job.tenantIds[0]) : `${job.tenantIds.length}t-${createHash('sha256').update(job.tenantIds.join(',')).digest('base64url').slice(0, 22)}`
  return `${job.runId}:${tenants}:${job.generation}`
}
