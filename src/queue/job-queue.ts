/**
 * The job queue port: distributes the jobs of targeted tenants (one tenant per job, or a few small ones).
 * It may lose or repeat a message (DESIGN invariant 7); the event store stays the source of truth and the
 * reconciler re-dispatches. Adapters (NATS JetStream, in-process) must pass `test/queue/job-queue.contract.ts`.
 */

export interface TenantJob {
  runId: string
  runbookKey: string
  /**
   * Repaired one after the other, each in its own transaction (each tenant's job, with its own attempts and
   * result, SPEC §3); one message carries several small tenants' jobs. Their results go in few appends.
   */
  tenantIds: number[]
  /** 0 for the first dispatch; moved on by every resume and re-dispatch, so its dedupe id differs. */
  generation: number
  /** The event whose handling dispatched the job (the results' TenantProcessed name it); absent in older jobs. */
  causationId?: string | null
}

/**
 * The job's tenants. A message published by a release before shared jobs names one `tenantId`: it is still
 * served during a rolling upgrade.
 */
export function tenantsOfJob(job: TenantJob | { tenantId: number }): number[] {
  return 'tenantIds' in job && Array.isArray(job.tenantIds) ? job.tenantIds : [(job as { tenantId: number }).tenantId]
}

export interface JobDelivery<J = TenantJob> {
  job: J
  /** 1 on the first delivery of this message, incremented on every redelivery. */
  deliveryCount: number
  /** Done with the job: it is never delivered again. */
  ack(): Promise<void>
  /** Deliver again after `delayMs` (counts as a delivery). */
  retryLater(delayMs: number): Promise<void>
  /** Still working: extends the ack deadline of a long job. */
  working(): Promise<void>
}

export interface ConsumeOptions {
  /** At most this many jobs in flight in this consumer. */
  concurrency: number
}

export interface JobConsumer {
  /** Stops taking new jobs and waits for the handlers in flight. */
  stop(): Promise<void>
}

export interface JobQueue<J = TenantJob> {
  /**
   * Publishes a job. Publishing the same `dedupeId` again within the duplicate window is a no-op.
   */
  publish(job: J, dedupeId: string): Promise<void>
  /**
   * Runs `handler` for each delivery. A delivery neither acked nor retried before the ack wait
   * (default 30 s, extended by `working()`) is redelivered, also when the handler's process died.
   */
  consume(handler: (delivery: JobDelivery<J>) => Promise<void>, options: ConsumeOptions): Promise<JobConsumer>
  /** True when the queue's server (if any) is reachable. */
  healthy(): Promise<boolean>
  /** Jobs waiting for a worker and jobs handed out but not yet acked, queue-wide (metrics; optional: a
   * test double need not count). */
  depth?(): Promise<QueueDepth>
  close(): Promise<void>
}

export interface QueueDepth {
  waiting: number
  inFlight: number
}
