import type { Logger } from 'pino'
import { tenantRepairLockName } from '../db/advisory-locks.js'
import type { Sql } from '../db/database.js'
import type { EventLog } from '../store/event-log.js'
import { loadRunCached, markRunStarted, redispatchPendingTenants } from '../commands/run-execution.js'
import { StreamStateCache } from '../commands/handle-command.js'
import type { RunState } from '../commands/run/run-state.js'
import { streams } from '../events/streams.js'
import { planReconcile } from '../commands/run/dispatch-plan.js'
import { expireApproval } from '../commands/approvals.js'
import { planRequestedRun, type RunPlanDeps } from '../commands/run-plan.js'
import { finishCancelledRun } from './cancellation.js'
import { LOGGED_TENANT_IDS, passLogger, runLogger } from './work-log.js'

export interface ReconcilerOptions {
  /** A run with no new event for this long while tenants are pending is presumed to have lost jobs. */
  staleAfterMs: number
  intervalMs: number
  /**
   * After news that the queue lost its jobs, for `lossWatchMs` a run quiet for `staleAfterLossMs` is
   * presumed stalled: jobs that were between the queue and a repair at the moment of the loss (delivered,
   * not yet locked) are not known lost then, only once their runs fall quiet.
   */
  staleAfterLossMs: number
  lossWatchMs: number
}

export const defaultReconcilerOptions: ReconcilerOptions = {
  staleAfterMs: 120_000,
  intervalMs: 15_000,
  staleAfterLossMs: 10_000,
  lossWatchMs: 120_000,
}

export interface ReconcilerDeps extends RunPlanDeps {
  sql: Sql
  log: EventLog
  logger: Logger
  /**
   * Whether the queue takes jobs now. A re-dispatch recorded while it does not would only pile up rounds
   * that are all published at once when it returns; the stall is looked at again next pass instead.
   */
  queueAvailable?: () => Promise<boolean>
}

/**
 * DESIGN invariant 7: the queue may lose a job, the event store may not. Every running run that made no
 * progress for a while gets its pending tenants that nobody is repairing marked for another dispatch (a
 * new generation, so the queue's dedupe window does not swallow it), which the dispatcher publishes; a
 * run left queued by a dispatcher that died is started here, one left without its plan is planned here; a cancelled run whose completion was missed
 * is completed. Paused runs are left alone: only an operator resumes them.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | null = null
  /** Passes run one after the other (timer, and news of lost jobs): `stop` waits for the last. */
  private pass: Promise<unknown> = Promise.resolve()
  private stopped = false
  /** Until when timer passes use `staleAfterLossMs` (news of lost jobs came). */
  private watchingLossUntil = 0
  private readonly options: ReconcilerOptions
  /**
   * The active runs' folds, brought up to date each pass by reading only their new events: refolding every
   * active run from its start each pass cost a pass the whole size of every large run. Only the runs of the
   * last pass are kept, all of them (a bound below their number would evict each before its next pass).
   */
  private readonly runStates = new StreamStateCache<RunState>(Number.POSITIVE_INFINITY)

  constructor(
    private readonly deps: ReconcilerDeps,
    options: Partial<ReconcilerOptions> = {},
  ) {
    this.options = { ...defaultReconcilerOptions, ...options }
  }

  /**
   * The queue lost every job it held (its stream was made again): one pass at once that takes no run's
   * quiet for progress, so the lost jobs are dispatched again in seconds rather than after `staleAfterMs`.
   */
  presumeJobsLost(): Promise<unknown> {
    this.watchingLossUntil = Date.now() + this.options.lossWatchMs
    return this.enqueuePass({ staleAfterMs: 0 })
  }

  private enqueuePass(options: { staleAfterMs?: number } = {}): Promise<unknown> {
    this.pass = this.pass
      .then(() => (this.stopped ? [] : this.reconcileOnce(new Date(), options)))
      .catch((error) => passLogger(this.deps.logger).error({ err: error }, 'reconciler pass failed'))
    return this.pass
  }

  /** One pass over the active runs; returns the ids of the runs it acted on. */
  async reconcileOnce(now: Date = new Date(), options: { staleAfterMs?: number } = {}): Promise<string[]> {
    const staleAfterMs = options.staleAfterMs ?? this.options.staleAfterMs
    const rows = await this.deps.sql<Array<{ id: string; tenant_id: string | null }>>`
      select id, tenant_id from operation_runs where status in ('awaiting_approval', 'queued', 'running', 'paused') order by created_at`
    this.runStates.retainOnly(new Set(rows.map(({ id }) => streams.run(id))))
    const touched: string[] = []
    for (const { id, tenant_id } of rows) {
      const log = runLogger(this.deps.logger, id, tenant_id === null ? null : Number(tenant_id))
      try {
        if (await this.reconcileRun(id, now, staleAfterMs, log)) touched.push(id)
      } catch (error) {
        // A run that changed under this pass (paused, completed) is looked at again next pass; the others go on.
        log.warn({ err: error }, 'reconciling a run failed; next pass retries')
      }
    }
    return touched
  }

  /** True when this pass acted on the run. */
  private async reconcileRun(id: string, now: Date, staleAfterMs: number, log: Logger): Promise<boolean> {
    const plan = planReconcile(await loadRunCached(this.deps.log, id, this.runStates), now, staleAfterMs)
    switch (plan.action) {
      case 'none':
        return false
      case 'finish_cancel':
        return finishCancelledRun(this.deps, id)
      case 'start':
        await markRunStarted(this.deps.log, id, null, 'reconciler')
        return true
      case 'expire_approval':
        return expireApproval(this.deps.log, id, now)
      case 'plan': {
        const outcome = await planRequestedRun(this.deps, id)
        if (outcome.planned) log.warn('run waited for its plan; planned by the reconciler')
        return outcome.planned
      }
      case 'redispatch': {
        if (this.deps.queueAvailable && !(await this.deps.queueAvailable())) {
          log.warn('run stalled while the job queue is unavailable; re-dispatch waits for it')
          return false
        }
        const lost = await this.notBeingRepaired(plan.tenantIds)
        if (lost.length === 0) return false
        const redispatch = await redispatchPendingTenants(this.deps.log, id, lost)
        if (!redispatch) return false
        log.warn(
          { tenants: redispatch.tenantIds.length, tenantIds: redispatch.tenantIds.slice(0, LOGGED_TENANT_IDS) },
          'run stalled; tenant jobs re-dispatched',
        )
        return true
      }
    }
  }

  /**
   * A pending tenant whose repair lock is held is being worked on (a long repair, or a job waiting for
   * another run's repair of it): its job is alive, not lost, and must not be dispatched again.
   */
  private async notBeingRepaired(tenantIds: number[]): Promise<number[]> {
    if (tenantIds.length === 0) return []
    const names = tenantIds.map(tenantRepairLockName)
    const free = await this.deps.sql.begin(async (tx) => {
      // Taken and released with this transaction: a probe, not a hold.
      return tx<Array<{ free: boolean }>>`
        select pg_try_advisory_xact_lock(hashtextextended(name, 0)) as free
        from unnest(${names}::text[]) with ordinality as t(name, n) order by n`
    })
    return tenantIds.filter((_, index) => free[index]?.free)
  }

  start(): void {
    this.stopped = false
    const tick = () => {
      const watching = Date.now() < this.watchingLossUntil
      void this.enqueuePass(watching ? { staleAfterMs: Math.min(this.options.staleAfterMs, this.options.staleAfterLossMs) } : {}).finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.options.intervalMs)
      })
    }
    this.timer = setTimeout(tick, this.options.intervalMs)
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.pass
  }
}
