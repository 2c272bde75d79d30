import type { Logger } from 'pino'
import type { Sql } from '../db/database.js'
import type { JobQueue, TenantJob } from '../queue/job-queue.js'
import type { EventLog, LoggedEvent } from '../store/event-log.js'
import { StreamStateCache } from '../commands/handle-command.js'
import { loadHalt } from '../commands/halt.js'
import { haltActiveRun } from '../commands/run-control.js'
import { loadRunCached, markRunStarted } from '../commands/run-execution.js'
import { planDispatch } from '../commands/run/dispatch-plan.js'
import { isRunEvent, type RunState } from '../commands/run/run-state.js'
import { finishCancelledRun } from './cancellation.js'
import { EventSubscription } from './event-subscription.js'
import { publishTenantJobs } from './job-publisher.js'

export interface DispatcherDeps {
  sql: Sql
  log: EventLog
  queue: JobQueue<TenantJob>
  logger: Logger
}

/**
 * The one place tenant jobs are published. It follows the event store: a requested run is started (once
 * approved and planned, when it waits for either), and whenever a run's dispatch may change (it started,
 * resumed, was re-dispatched, a tenant finished, its limits changed) the jobs its plan wants and this
 * process has not published yet are published. A cancel is finished here when no repair is in flight.
 * At-least-once: after a restart, or from another worker process, a plan's jobs are published again under
 * the same dedupe ids (a job's key is fixed by its tenants' places in the targets), and a repeated job is a
 * no-op for the worker.
 */
export class Dispatcher {
  private readonly runs = new StreamStateCache<RunState>()
  /** Per run, the generation and the tenants this process published jobs for. */
  private readonly published = new Map<string, { generation: number; tenantIds: Set<number> }>()

  constructor(private readonly deps: DispatcherDeps) {}

  /**
   * The events of one read, in order; each run whose dispatch may have changed is then planned once, on
   * its state after the whole batch (a plan reads the run as it is now, so planning it once per result
   * would only repeat the same reads).
   */
  async handleBatch(events: readonly LoggedEvent[]): Promise<void> {
    const toPlan = new Map<string, { generation: number; lost: number[] } | undefined>()
    // Per run, what the jobs published for it were dispatched by: the last event of the batch that changed its
    // dispatch, a control event (request, plan, approval, start, resume, re-dispatch, limits) before any result.
    const causes = new Map<string, { eventId: string; control: boolean }>()
    const changedDispatch = (runId: string, logged: LoggedEvent) => {
      const control = logged.event.type !== 'TenantProcessed'
      if (control || !causes.get(runId)?.control) causes.set(runId, { eventId: logged.metadata.eventId, control })
    }
    for (const logged of events) {
      const { event } = logged
      if (!isRunEvent(event)) continue
      const runId = event.data.runId
      switch (event.type) {
        case 'RunRequested':
        case 'RunPlanned':
        case 'RunApproved':
          // StartRun is a no-op for a run awaiting approval (until RunApproved) or its plan (until RunPlanned).
          await markRunStarted(this.deps.log, runId, logged.metadata.eventId)
          toPlan.set(runId, toPlan.get(runId))
          changedDispatch(runId, logged)
          break
        case 'TenantJobsRedispatched':
          toPlan.set(runId, { generation: event.data.generation, lost: event.data.tenantIds })
          changedDispatch(runId, logged)
          break
        case 'RunStarted':
        case 'RunResumed':
        case 'TenantProcessed':
        case 'RunLimitsChanged':
          toPlan.set(runId, toPlan.get(runId))
          changedDispatch(runId, logged)
          break
        case 'RunCancelled':
          this.published.delete(runId)
          toPlan.delete(runId)
          await finishCancelledRun(this.deps, runId, logged.metadata.eventId)
          break
        case 'RunCompleted':
          this.published.delete(runId)
          toPlan.delete(runId)
          break
        case 'RunPaused':
        case 'RunRetried':
        case 'RunReverted':
        case 'RunRejected':
        case 'RunVerified':
          break
      }
    }
    if (toPlan.size === 0) return
    // The halt and every run to plan, read together (one round trip).
    const planned = [...toPlan]
    const [halt, ...runs] = await Promise.all([
      loadHalt(this.deps.log),
      ...planned.map(([runId]) => loadRunCached(this.deps.log, runId, this.runs)),
    ])
    for (const [index, [runId, redispatch]] of planned.entries()) {
      await this.dispatch(runId, runs[index]!, halt, causes.get(runId)?.eventId ?? null, redispatch)
    }
  }

  /**
   * Publishes the jobs the run's plan wants whose tenants this process has not published in the plan's
   * generation. A re-dispatch names the tenants whose jobs were lost: the window's other tenants this process
   * published still have live jobs (their repair is under way), so only the rest is published in the new
   * generation (a tenant it never published, e.g. after a restart, is published again: a repeated job is a
   * no-op for the worker).
   */
  private async dispatch(
    runId: string,
    run: RunState,
    halt: { halted: boolean; eventId: string | null },
    cause: string | null,
    redispatch?: { generation: number; lost: number[] },
  ): Promise<void> {
    const plan = planDispatch(run, halt.halted)
    if (plan.action === 'halt_run') {
      await haltActiveRun(this.deps.log, runId, { component: 'dispatcher', causationId: halt.eventId })
      return
    }
    if (plan.action === 'none' || run.status === 'none') return
    let sent = this.published.get(runId)
    if (!sent || sent.generation !== plan.generation) {
      const lost = redispatch?.generation === plan.generation ? new Set(redispatch.lost) : null
      const live = lost && sent ? [...sent.tenantIds].filter((tenantId) => !lost.has(tenantId)) : []
      sent = { generation: plan.generation, tenantIds: new Set(live) }
      this.published.set(runId, sent)
    }
    const fresh = plan.jobs
      .map((job) => ({ key: job.key, tenantIds: job.tenantIds.filter((tenantId) => !sent.tenantIds.has(tenantId)) }))
      .filter((job) => job.tenantIds.length > 0)
    if (fresh.length === 0) return
    await publishTenantJobs(this.deps.queue, run.request, fresh, plan.generation, cause)
    for (const job of fresh) for (const tenantId of job.tenantIds) sent.tenantIds.add(tenantId)
  }
}

export function createDispatcher(deps: DispatcherDeps, options: { pollIntervalMs?: number } = {}): EventSubscription {
  const dispatcher = new Dispatcher(deps)
  return new EventSubscription({
    store: deps.log.store,
    sql: deps.sql,
    name: 'dispatcher',
    handle: (events) => dispatcher.handleBatch(events),
    logger: deps.logger,
    // No pause to gather a burst: a run's next jobs wait for this read (its window is `maxConcurrency` jobs),
    // so a pause here is paid per tenant; small tenants ran at ~100/s with 20 ms, ~150/s without.
    coalesceMs: 0,
    ...options,
  })
}
