import type { Logger } from 'pino'
import { tenantRepairLockName } from '../db/advisory-locks.js'
import type { Sql } from '../db/database.js'
import type { TenantResult } from '../events/index.js'
import type { JobConsumer, JobDelivery, JobQueue, TenantJob } from '../queue/job-queue.js'
import type { Runbook } from '../runbooks/runbook.js'
import { isInUniverse } from '../runbooks/tenant-universe.js'
import type { EventLog } from '../store/event-log.js'
import { loadRunRequest, recordTenantResult } from '../commands/run-execution.js'
import { StreamStateCache } from '../commands/handle-command.js'
import type { RunState } from '../commands/run/run-state.js'
import { KeyedSerialQueue } from './keyed-serial-queue.js'
import { classifyFailure, TenantNotAllowedError } from './failure-classification.js'
import { countFailedAttempt, findTenantResult, insertTenantResult, storeTenantResult, type StoredTenantResult } from './tenant-results.js'

export interface TenantWorkerOptions {
  /** Failed attempts (DB_ERROR, TIMEOUT, UNKNOWN) before the failure becomes final. */
  maxAttempts: number
  /** How long one attempt waits for another run's lock on the same tenant. */
  lockWaitMs: number
  /** Attempts a tenant may spend waiting for another run's lock before it fails TENANT_LOCKED (≈ 900 s in all). */
  maxLockedAttempts: number
  /** Pause before retrying a failed attempt (doubled per attempt, capped). */
  retryDelayMs: number
  /** Upper bound of one repair's statements. */
  statementTimeoutMs: number
  /** How often a long job tells the queue it is still alive. */
  heartbeatMs: number
}

export const defaultTenantWorkerOptions: TenantWorkerOptions = {
  maxAttempts: 5,
  lockWaitMs: 10_000,
  maxLockedAttempts: 60,
  retryDelayMs: 1_000,
  statementTimeoutMs: 300_000,
  heartbeatMs: 10_000,
}

export interface TenantWorkerDeps {
  sql: Sql
  log: EventLog
  queue: JobQueue<TenantJob>
  findRunbook: (key: string) => Runbook | undefined
  logger: Logger
}

/**
 * job → runbook → TenantProcessed. The repair and its result row commit in one transaction under a
 * per-tenant lock; the result is then recorded as an event and only after that is the job acked. Any
 * step may be repeated (redelivery, a worker killed mid-job): the result row and the decider make each
 * tenant count exactly once.
 */
export class TenantWorker {
  private readonly options: TenantWorkerOptions
  private readonly recording = new KeyedSerialQueue()
  private readonly runStates = new StreamStateCache<RunState>()

  constructor(
    private readonly deps: TenantWorkerDeps,
    options: Partial<TenantWorkerOptions> = {},
  ) {
    this.options = { ...defaultTenantWorkerOptions, ...options }
  }

  start(concurrency: number): Promise<JobConsumer> {
    return this.deps.queue.consume((delivery) => this.handle(delivery), { concurrency })
  }

  async handle(delivery: JobDelivery<TenantJob>): Promise<void> {
    const { job } = delivery
    const log = this.deps.logger.child({ runId: job.runId, tenantId: job.tenantId, delivery: delivery.deliveryCount })
    // Only the run's first event is read here: whether the tenant was already processed is answered by its
    // result row under the tenant lock, and by the decider when recording.
    const request = await loadRunRequest(this.deps.log, job.runId)
    if (!request || !request.tenantIds.includes(job.tenantId)) {
      log.warn('job names no run or a tenant the run does not target; dropped')
      return delivery.ack()
    }

    const heartbeat = setInterval(() => void delivery.working().catch(() => {}), this.options.heartbeatMs)
    try {
      const stored = await this.repairOnce(job, delivery.deliveryCount)
      await this.record(job, stored)
      await delivery.ack()
    } catch (error) {
      const failure = classifyFailure(error)
      if (failure.transient) {
        const locked = failure.reasonCode === 'TENANT_LOCKED'
        const failedSoFar = await countFailedAttempt(this.deps.sql, job.runId, job.tenantId, locked ? 'lock_wait' : 'transient')
        const limit = locked ? this.options.maxLockedAttempts : this.options.maxAttempts
        if (failedSoFar < limit) {
          log.warn({ reasonCode: failure.reasonCode, failedSoFar }, 'tenant attempt failed; will retry')
          const delay = locked
            ? this.options.retryDelayMs
            : Math.min(this.options.retryDelayMs * 2 ** (failedSoFar - 1), 30_000)
          return delivery.retryLater(delay)
        }
      }
      log.warn({ reasonCode: failure.reasonCode }, 'tenant failed for good')
      const result: TenantResult = { status: 'failed', reasonCode: failure.reasonCode, message: failure.message }
      const stored = await storeTenantResult(this.deps.sql, job.runId, job.tenantId, { result, attempt: delivery.deliveryCount })
      await this.record(job, stored)
      await delivery.ack()
    } finally {
      clearInterval(heartbeat)
    }
  }

  /** One attempt: under the tenant lock, either the result already stored, or the repair and its result. */
  private repairOnce(job: TenantJob, attempt: number): Promise<StoredTenantResult> {
    const runbook = this.deps.findRunbook(job.runbookKey)
    if (!runbook) throw new Error(`runbook ${job.runbookKey} is not in this worker's catalog`)
    return this.deps.sql.begin(async (tx) => {
      await tx`select set_config('lock_timeout', ${String(Math.trunc(this.options.lockWaitMs))}, true),
                      set_config('statement_timeout', ${String(Math.trunc(this.options.statementTimeoutMs))}, true)`
      await tx`select pg_advisory_xact_lock(hashtextextended(${tenantRepairLockName(job.tenantId)}, 0))`
      const already = await findTenantResult(tx, job.runId, job.tenantId)
      if (already) return already
      if (!(await isInUniverse(tx, job.tenantId))) throw new TenantNotAllowedError(job.tenantId)
      const repaired = await runbook.executeTenant(tx, job.tenantId)
      return insertTenantResult(tx, job.runId, job.tenantId, {
        result: { status: 'succeeded', total: repaired.total, updated: repaired.updated },
        attempt,
      })
    }) as Promise<StoredTenantResult>
  }

  /**
   * Results of one run recorded by this process go one at a time: they all append to the run's stream, and
   * letting them race only turns into expected-revision conflicts and re-reads.
   */
  private async record(job: TenantJob, stored: StoredTenantResult): Promise<void> {
    await this.recording.run(job.runId, () =>
      recordTenantResult(this.deps.log, {
        runId: job.runId,
        tenantId: job.tenantId,
        attempt: stored.attempt,
        result: stored.result,
      }, this.runStates),
    )
  }
}
