import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { runRepairsLockName, runSlotLockPrefix, tenantRepairLockName } from '../db/advisory-locks.js'
import type { Sql, TransactionSql } from '../db/database.js'
import { CommitBehind, pipelinedTransaction, WroteNothing } from '../db/pipelined-transaction.js'
import { tenantsOfJob, type JobConsumer, type JobDelivery, type JobQueue, type TenantJob } from '../queue/job-queue.js'
import { keepBeforeImages, repairTransaction, revertTenantRows, snapshotTenantRows } from '../db/before-images.js'
import { repairedTables, type RunbookCatalog } from '../runbooks/catalog.js'
import { RunbookDataError, type Runbook, type RunbookParameters } from '../runbooks/runbook.js'
import { universeMembership } from '../runbooks/tenant-universe.js'
import { EventLog } from '../store/event-log.js'
import { PostgresEventStore } from '../store/postgres-event-store.js'
import { StreamStateCache } from '../commands/handle-command.js'
import { streams } from '../events/streams.js'
import { loadHalt } from '../commands/halt.js'
import { haltActiveRun } from '../commands/run-control.js'
import { loadRunCached, recordTenantResults } from '../commands/run-execution.js'
import type { RunState } from '../commands/run/run-state.js'
import type { TenantOutcome } from '../commands/run/run-decider.js'
import { decideTenantRepair, refusesTheRun, type RepairDecision } from '../commands/run/tenant-repair-gate.js'
import {
  defaultTenantRetryPolicy,
  failureKindOf,
  retryAfterFailure,
  type TenantRetryPolicy,
} from '../commands/run/tenant-retry-policy.js'
import { BEFORE_IMAGES_GONE_MESSAGE } from '../commands/run/failure-message.js'
import { finishCancelledRun } from './cancellation.js'
import { jobDedupeId } from './job-publisher.js'
import { KeyedBatcher } from './keyed-batcher.js'
import { classifyFailure, TenantNotAllowedError } from './failure-classification.js'
import { countFailedAttempt, findTenantResult, insertRepairResult, storeFailure, type StoredTenantResult } from '../db/tenant-results.js'

export interface TenantWorkerOptions extends TenantRetryPolicy {
  /** How long one attempt waits for another run's lock on the same tenant. */
  lockWaitMs: number
  /** Upper bound of one repair's statements. */
  statementTimeoutMs: number
  /**
   * A repair transaction its worker leaves idle this long (the process frozen, its host gone, the network cut)
   * is ended by the server, which frees the tenant's lock and the run's slot for the job delivered again
   * elsewhere; nothing of it commits. A live worker never leaves one idle for more than a moment (its
   * statements go out pipelined). 0: never (the embedded database's one connection is the whole service's).
   */
  idleInTransactionMs: number
  /** How often a long job tells the queue it is still alive. */
  heartbeatMs: number
  /** Pause before a job whose run has all its concurrency slots taken is published again. */
  slotWaitMs: number
  /** A job still under way after this long is logged (with the step it is at), and again each time as long after. */
  slowJobLogMs: number
  /** A shared job held up records the results it has so far this often (else once, when it ends). */
  sharedJobProgressMs: number
}

export const defaultTenantWorkerOptions: TenantWorkerOptions = {
  ...defaultTenantRetryPolicy,
  lockWaitMs: 10_000,
  statementTimeoutMs: 300_000,
  idleInTransactionMs: 0,
  heartbeatMs: 10_000,
  slotWaitMs: 500,
  slowJobLogMs: 30_000,
  sharedJobProgressMs: 1_000,
}

export interface TenantWorkerDeps {
  sql: Sql
  log: EventLog
  /**
   * The event log as read from inside a repair's transaction. By default: through that transaction when
   * the events live in PostgreSQL (the composition keeps them in the same database as `sql`; the embedded
   * one has a single connection, which the transaction holds), the event store's own client otherwise.
   */
  logIn?: (tx: TransactionSql) => EventLog
  queue: JobQueue<TenantJob>
  catalog: Pick<RunbookCatalog, 'find'>
  logger: Logger
}

/** One tenant of a job: what each of its repair's steps works on. */
type TenantTask = { runId: string; runbookKey: string; tenantId: number }

function taskOf(job: TenantJob, tenantId: number): TenantTask {
  return { runId: job.runId, runbookKey: job.runbookKey, tenantId }
}

/** Where a job is, for the log of a job running long. */
type JobProgress = { step: string; tenantId: number }

/**
 * What one attempt at a tenant came to; a result `earlier` was stored before it (by an earlier delivery of the
 * job). A refusal names the halt's event when the halt is why (what the run's pause for it was caused by).
 */
type Attempt =
  | { kind: 'stored'; stored: StoredTenantResult; earlier: boolean }
  | { kind: 'gate'; decision: Exclude<RepairDecision, { action: 'repair' }>; haltEventId: string | null }
  | { kind: 'no_slot' }

/**
 * job → runbook → TenantProcessed. Under the tenant's lock and the run's shared lock, the repair asks the
 * run's current state (pause, cancel, halt, limits) inside its own transaction, takes one of the run's
 * concurrency slots, and commits with its result row; the result is then recorded as an event and only
 * after that is the job acked. Any step may be repeated (redelivery, a worker killed mid-job): the result
 * row and the decider make each tenant count exactly once.
 */
export class TenantWorker {
  private readonly options: TenantWorkerOptions
  private readonly runStates = new StreamStateCache<RunState>()
  /**
   * Results of one run recorded by this process go in batches, one append at a time: they all append to
   * the run's stream, and letting them race only turns into expected-revision conflicts and re-reads.
   */
  private readonly recording = new KeyedBatcher<TenantOutcome, RunState>((runId, outcomes) =>
    recordTenantResults(this.deps.log, runId, outcomes, this.runStates),
  )
  private readonly logIn: (tx: TransactionSql) => EventLog

  constructor(
    private readonly deps: TenantWorkerDeps,
    options: Partial<TenantWorkerOptions> = {},
  ) {
    this.options = { ...defaultTenantWorkerOptions, ...options }
    const store = deps.log.store
    this.logIn = deps.logIn ?? (store instanceof PostgresEventStore ? (tx) => new EventLog(store.readingIn(tx)) : () => deps.log)
  }

  start(concurrency: number): Promise<JobConsumer> {
    return this.deps.queue.consume((delivery) => this.handle(delivery), { concurrency })
  }

  async handle(received: JobDelivery<TenantJob>): Promise<void> {
    // A job of the older shape (one `tenantId`) in the shape of today's, for every step after this one.
    const tenantIds = tenantsOfJob(received.job)
    const delivery: JobDelivery<TenantJob> = tenantIds === received.job.tenantIds ? received : { ...received, job: { ...received.job, tenantIds } }
    const { job } = delivery
    // The heartbeat keeps the job ours for as long as it runs: a job that never ends would never be
    // delivered again, so one running long says where it is.
    const began = Date.now()
    const at: JobProgress = { step: 'repair', tenantId: tenantIds[0]! }
    let nextSlowLog = began + this.options.slowJobLogMs
    const heartbeat = setInterval(() => {
      void delivery.working().catch(() => {})
      if (Date.now() < nextSlowLog) return
      nextSlowLog += this.options.slowJobLogMs
      this.jobLogger(job, at.tenantId, delivery).warn({ step: at.step, runningMs: Date.now() - began }, 'tenant job still under way')
    }, this.options.heartbeatMs)
    try {
      if (tenantIds.length === 1) await this.handleTenant(delivery, taskOf(job, tenantIds[0]!), at)
      else await this.handleShared(delivery, tenantIds, at)
    } finally {
      clearInterval(heartbeat)
    }
  }

  private jobLogger(job: TenantJob, tenantId: number, delivery: JobDelivery<TenantJob>): Logger {
    return this.deps.logger.child({ runId: job.runId, tenantId, delivery: delivery.deliveryCount })
  }

  /** A job of one tenant: its repair, or its failure retried by the policy (through the queue), then stored for good. */
  private async handleTenant(delivery: JobDelivery<TenantJob>, task: TenantTask, at: JobProgress): Promise<void> {
    const log = this.jobLogger(delivery.job, task.tenantId, delivery)
    // When this delivery's repair transaction took its slot: a final failure is processed too, and carries it.
    const repair: { startedAt: string | null } = { startedAt: null }
    try {
      const attempt = await this.attempt(task, delivery.deliveryCount, repair)
      at.step = attempt.kind === 'no_slot' ? 'offer again' : attempt.kind === 'stored' ? 'record' : 'obey'
      if (attempt.kind === 'no_slot') return await this.offerAgain(delivery, delivery.job)
      if (attempt.kind === 'stored') await this.record(task.runId, [outcomeOf(delivery.job, task.tenantId, attempt.stored)])
      else await this.obey(task, attempt, log)
      at.step = 'ack'
      await delivery.ack()
    } catch (error) {
      const after = await this.afterFailure(task, error, { attempt: delivery.deliveryCount, startedAt: repair.startedAt }, log, at)
      if ('retryAfterMs' in after) return await delivery.retryLater(after.retryAfterMs)
      at.step = after.kind === 'stored' ? 'record final failure' : 'obey'
      if (after.kind === 'stored') await this.record(task.runId, [outcomeOf(delivery.job, task.tenantId, after.stored)])
      else if (after.kind === 'gate') await this.obey(task, after, log)
      at.step = 'ack'
      await delivery.ack()
    }
  }

  /**
   * A job of several small tenants, repaired one after the other, each as in a job of its own (its own
   * transaction, locks, gate, slot, before-images and result row, its failures retried by the same policy,
   * here in the job itself); their results are recorded in one append when the job ends, or what it has so
   * far every `sharedJobProgressMs` while it is held up (another run's lock on a tenant, a long repair), so a
   * run's progress never hides behind one slow tenant. A final failure is recorded at once (the run's error
   * budget is then obeyed by the next tenant's gate). What ends a job early records what it repaired first
   * (so a cancel counts them): a refusal of the run (pause, cancel, halt), or no free slot (the rest of the
   * job is offered again).
   */
  private async handleShared(delivery: JobDelivery<TenantJob>, tenantIds: number[], at: JobProgress): Promise<void> {
    const { job } = delivery
    const results = new SharedJobResults((outcomes) => this.record(job.runId, outcomes), this.options.sharedJobProgressMs)
    // A job delivered again: its earlier delivery ended at the first tenant without a stored result, which it
    // may have been repairing; the tenants after that one it never reached (their first attempt is now).
    let firstAttempt = delivery.deliveryCount
    try {
      for (const [index, tenantId] of tenantIds.entries()) {
        if (results.failed) break
        const task = taskOf(job, tenantId)
        at.tenantId = tenantId
        const attempt = await this.attemptRetrying(task, firstAttempt, delivery, results, at)
        if (attempt.kind === 'stored' && !attempt.earlier) firstAttempt = 1
        if (attempt.kind === 'stored') {
          results.add(outcomeOf(job, tenantId, attempt.stored))
          if (attempt.stored.result.status === 'failed') await results.recordAll()
        }
        if (attempt.kind === 'stored' || (attempt.kind === 'gate' && !refusesTheRun(attempt.decision))) continue
        at.step = 'record'
        await results.recordAll()
        if (attempt.kind === 'no_slot') {
          at.step = 'offer again'
          return await this.offerAgain(delivery, { ...job, tenantIds: tenantIds.slice(index) })
        }
        at.step = 'obey'
        await this.obey(task, attempt, this.jobLogger(job, tenantId, delivery))
        at.step = 'ack'
        return await delivery.ack()
      }
      at.step = 'record'
      await results.recordAll()
      at.step = 'ack'
      await delivery.ack()
    } finally {
      results.stop()
    }
  }

  /**
   * A tenant of a shared job: attempts until one is stored, refused or finds no slot, its failed attempts
   * retried in place after the policy's pause (what the job repaired so far is recorded meanwhile).
   */
  private async attemptRetrying(
    task: TenantTask,
    firstAttempt: number,
    delivery: JobDelivery<TenantJob>,
    results: SharedJobResults,
    at: JobProgress,
  ): Promise<Attempt> {
    const log = this.jobLogger(delivery.job, task.tenantId, delivery)
    for (let attempt = firstAttempt; ; attempt++) {
      const repair: { startedAt: string | null } = { startedAt: null }
      try {
        at.step = 'repair'
        return await this.attempt(task, attempt, repair)
      } catch (error) {
        const after = await this.afterFailure(task, error, { attempt, startedAt: repair.startedAt }, log, at)
        if (!('retryAfterMs' in after)) return after
        at.step = 'wait to retry'
        await results.recordAll()
        await new Promise((resolve) => setTimeout(resolve, after.retryAfterMs))
      }
    }
  }

  /**
   * A failed attempt: to be retried after a pause while the retry policy allows it, else stored for good
   * (under the gate, as a repair is).
   */
  private async afterFailure(
    task: TenantTask,
    error: unknown,
    attempt: { attempt: number; startedAt: string | null },
    log: Logger,
    at: JobProgress,
  ): Promise<{ retryAfterMs: number } | Attempt> {
    const failure = classifyFailure(error)
    const kind = failureKindOf(failure)
    if (kind) {
      at.step = 'count failed attempt'
      const failedSoFar = await countFailedAttempt(this.deps.sql, task.runId, task.tenantId, kind)
      const next = retryAfterFailure(kind, failedSoFar, this.options)
      if (next.retry) {
        log.warn({ reasonCode: failure.reasonCode, failedSoFar }, 'tenant attempt failed; will retry')
        return { retryAfterMs: next.delayMs }
      }
    }
    log.warn({ reasonCode: failure.reasonCode }, 'tenant failed for good')
    const result = { status: 'failed' as const, reasonCode: failure.reasonCode, message: failure.message }
    at.step = 'store final failure'
    return this.storeFinalFailure(task, { result, ...attempt })
  }

  /**
   * Every slot of the run is taken (a limit was lowered, or a job was repeated): the job (what is left of it)
   * is published again after a pause and this delivery acked, so waiting for a slot never uses up the
   * queue's deliveries.
   */
  private async offerAgain(delivery: JobDelivery<TenantJob>, rest: TenantJob): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.options.slotWaitMs))
    await this.deps.queue.publish(rest, jobDedupeId(rest, `slot-wait:${randomUUID()}`))
    await delivery.ack()
  }

  /**
   * One attempt, in one transaction: the result already stored, or the gate's refusal, or no free slot, or
   * the repair and its result. The run's state is read after its shared lock is taken, so that a cancel's
   * completion (which takes that lock exclusively) never misses a repair that passed the gate.
   */
  private attempt(task: TenantTask, attempt: number, repair: { startedAt: string | null }): Promise<Attempt> {
    const runbook = this.deps.catalog.find(task.runbookKey)
    if (!runbook) throw new Error(`runbook ${task.runbookKey} is not in this worker's catalog`)
    // SPEC §11: the rows' before-images are kept in the repair's own transaction, whatever the runbook.
    const tables = repairedTables(runbook)
    return pipelinedTransaction(this.deps.sql, async (tx): Promise<Attempt | WroteNothing<Attempt> | CommitBehind<Attempt>> => {
      // One statement, its expressions evaluated in order: the waits' bounds (lock_timeout bounds the two
      // waits that follow in it), the tenant's lock, the run's shared lock.
      const gating = this.gate(
        tx,
        task,
        tx`select set_config('lock_timeout', ${String(Math.trunc(this.options.lockWaitMs))}, true),
                  set_config('statement_timeout', ${String(Math.trunc(this.options.statementTimeoutMs))}, true),
                  set_config('idle_in_transaction_session_timeout', ${String(Math.trunc(this.options.idleInTransactionMs))}, true),
                  pg_advisory_xact_lock(hashtextextended(${tenantRepairLockName(task.tenantId)}, 0)),
                  ${runRepairsLock(tx, task.runId)}`,
      )
      // Sent behind the gate's locks, in the same round trip (the gate sends its locks before it returns, and
      // a transaction's statements run in the order they were sent): a free slot by the run's limit as this
      // process last knew it, the time the repair begins, the universe. Neither can fail on its own (a failed
      // statement would abort the transaction under the gate's reads); both are wasted when the gate refuses.
      const knownLimit = maxConcurrencyOf(this.runStates.get(streams.run(task.runId))?.state)
      const ahead = knownLimit === null ? null : slotAndUniverse(tx, task.runId, task.tenantId, knownLimit)
      // Awaited before the transaction ends on every path; its failure, if any, is the transaction's.
      const aheadSettled = ahead?.catch(() => {})
      const gate = await gating.catch(async (error: unknown) => {
        await aheadSettled
        throw error
      })
      // Nothing is repaired: the transaction wrote nothing and ends with a rollback.
      if (gate.kind !== 'repair') {
        await aheadSettled
        return new WroteNothing(gate)
      }
      let { slot, allowed } = await (ahead ?? slotAndUniverse(tx, task.runId, task.tenantId, gate.maxConcurrency))
      // The limit changed since this process last read the run: a slot is taken again by the limit now (one
      // taken by the old limit stays held to the commit: at worst one repair of the run fewer meanwhile).
      if (knownLimit !== null && knownLimit !== gate.maxConcurrency) slot = await takeSlot(tx, task.runId, gate.maxConcurrency)
      if (!slot) return new WroteNothing<Attempt>({ kind: 'no_slot' })
      // The repair begins now: a failure from here on carries this time.
      const startedAt = slot.now.toISOString()
      repair.startedAt = startedAt
      if (!allowed) throw new TenantNotAllowedError(task.tenantId)
      // The snapshot's cursors are declared before anything the repair sends (they are sent before it starts),
      // in the same round trip as the repair's first statement: they read the rows as they were before it.
      const snapshotting = snapshotTenantRows(tx, task.tenantId, tables)
      snapshotting.catch(() => {})
      const repaired = gate.revertOf
        ? await revertTenant(tx, gate.revertOf, task.tenantId)
        : await runbook.executeTenant(repairTransaction(tx), task.tenantId, runParameters(runbook, gate.parameters))
      const snapshots = await snapshotting
      // Together, with the COMMIT behind them in the same write: the before-images and the result row (a
      // failure of either makes the server roll the repair back at the commit).
      const kept = Promise.all([
        keepBeforeImages(tx, task.runId, task.tenantId, snapshots),
        insertRepairResult(tx, task.runId, task.tenantId, { ...repaired, attempt, startedAt }),
      ])
      return new CommitBehind(kept.then(([, stored]): Attempt => ({ kind: 'stored', stored, earlier: false })))
    })
  }

  /**
   * Takes `locks` (one statement: the run's shared lock alone by default, and whatever it holds else, that
   * lock last), then asks the decider whether this tenant may be repaired now, on the run's state and the
   * halt as they are once the locks are held — so that a cancel's completion (which takes the run's lock
   * exclusively) never misses a repair that passed the gate. A result already stored (a repair whose
   * recording was interrupted) is returned whatever the run's state. Locks and reads go in one round trip:
   * a transaction's statements run in the order they were sent, and each read takes its snapshot when it
   * starts, so the reads run, and see, once the locks are held.
   */
  private async gate(
    tx: TransactionSql,
    task: TenantTask,
    locks: ReturnType<TransactionSql> = tx`select ${runRepairsLock(tx, task.runId)}`,
  ): Promise<Attempt | { kind: 'repair'; maxConcurrency: number; parameters: Readonly<RunbookParameters>; revertOf: string | null }> {
    const locked = locks.execute()
    const log = this.logIn(tx)
    const [, run, halt, stored] = await Promise.all([
      locked,
      loadRunCached(log, task.runId, this.runStates),
      loadHalt(log),
      findTenantResult(tx, task.runId, task.tenantId),
    ])
    const decision = decideTenantRepair(run, halt.halted, task.tenantId)
    if (decision.action === 'repair') {
      if (stored) return { kind: 'stored', stored, earlier: true }
      return { kind: 'repair', maxConcurrency: decision.maxConcurrency, parameters: decision.parameters, revertOf: decision.revertOf }
    }
    if (decision.action === 'skip' && decision.why !== 'already processed' && stored) return { kind: 'stored', stored, earlier: true }
    return { kind: 'gate', decision, haltEventId: halt.eventId }
  }

  /** A final failure is stored only while the run still wants the tenant: under the same gate as a repair. */
  private storeFinalFailure(task: TenantTask, failure: Parameters<typeof storeFailure>[3]): Promise<Attempt> {
    return pipelinedTransaction(this.deps.sql, async (tx): Promise<Attempt | WroteNothing<Attempt>> => {
      const gate = await this.gate(tx, task)
      if (gate.kind !== 'repair') return new WroteNothing<Attempt>(gate)
      return { kind: 'stored', stored: await storeFailure(tx, task.runId, task.tenantId, failure), earlier: false }
    })
  }

  /** The job is not to be repaired now: pause a run the halt has not reached yet, finish a cancelled one. */
  private async obey(task: TenantTask, { decision, haltEventId }: Extract<Attempt, { kind: 'gate' }>, log: Logger): Promise<void> {
    if (decision.action === 'halt_run') {
      await haltActiveRun(this.deps.log, task.runId, { component: 'tenant-worker', causationId: haltEventId })
      return
    }
    log.debug({ why: decision.why }, 'tenant job not repaired')
    if (decision.why === 'cancelled') await finishCancelledRun(this.deps, task.runId)
  }

  /**
   * Records the results (batched with the run's others); a cancelled run is finished by whichever of its
   * in-flight repairs is recorded last.
   */
  private async record(runId: string, outcomes: TenantOutcome[]): Promise<void> {
    if (outcomes.length === 0) return
    const state = await this.recording.addAll(runId, outcomes)
    if (state.status !== 'none' && state.status !== 'completed' && state.cancellation) {
      await finishCancelledRun(this.deps, runId)
    }
  }
}

/** A tenant's stored result as the run records it, naming the event that dispatched its job. */
function outcomeOf(job: TenantJob, tenantId: number, stored: StoredTenantResult): TenantOutcome {
  return { tenantId, ...stored, causationId: job.causationId ?? null }
}

/**
 * A revert run's repair of one tenant. Its before-images were there when the revert was accepted; gone now
 * (the purge of a revert that waited long, for approval say), the tenant fails: nothing was put back, and
 * the run must not say it was.
 */
async function revertTenant(tx: TransactionSql, revertedRunId: string, tenantId: number) {
  const reverted = await revertTenantRows(tx, revertedRunId, tenantId)
  if (reverted.total === 0) {
    throw new RunbookDataError(BEFORE_IMAGES_GONE_MESSAGE)
  }
  return reverted
}

/**
 * The run's parameters as its runbook reads them: parsed again with the runbook's schema (they were stored
 * as validated, so this only fills defaults a newer release of the runbook added).
 */
function runParameters(runbook: Runbook, stored: Readonly<RunbookParameters>): RunbookParameters {
  const parsed = runbook.parameters.safeParse(stored)
  // A release whose runbook no longer accepts the run's parameters cannot repair as the run was started:
  // the tenant fails for good (retrying would fail the same way), nothing changed.
  if (!parsed.success) throw new RunbookDataError(`the run's parameters no longer fit ${runbook.key}; the tenant was not repaired`)
  return parsed.data
}

/** The run's shared lock, as an expression of a statement (a repair holds it to its commit). */
function runRepairsLock(tx: TransactionSql, runId: string) {
  return tx`pg_advisory_xact_lock_shared(hashtextextended(${runRepairsLockName(runId)}, 0))`
}

/**
 * One of the run's `maxConcurrency` slots not held by another repair, and the time it was taken (a subquery:
 * no row when none is free). The series stops at the first slot taken (`limit 1`: a subquery with a limit
 * is run as written, never merged into the statement around it).
 */
function freeSlot(tx: TransactionSql, runId: string, maxConcurrency: number) {
  return tx`
    select k, clock_timestamp() as now from generate_series(0, ${maxConcurrency - 1}::int) as k
    where pg_try_advisory_xact_lock(hashtextextended(${runSlotLockPrefix(runId)} || k::text, 0))
    limit 1`
}

type Slot = { k: number; now: Date }

/** A slot of the run and whether the tenant is in the universe, in one statement. */
async function slotAndUniverse(tx: TransactionSql, runId: string, tenantId: number, maxConcurrency: number): Promise<{ slot: Slot | undefined; allowed: boolean }> {
  const [row] = await tx<Array<{ k: number | null; now: Date | null; allowed: boolean }>>`
    select s.k, s.now, ${universeMembership(tx, tenantId)} as allowed
    from (select) one left join lateral (${freeSlot(tx, runId, maxConcurrency)}) s on true`.execute()
  return { slot: row!.k === null ? undefined : { k: row!.k, now: row!.now! }, allowed: row!.allowed }
}

/** One of the run's `maxConcurrency` slots not held by another repair, and the time it was taken; none free: undefined. */
async function takeSlot(tx: TransactionSql, runId: string, maxConcurrency: number): Promise<Slot | undefined> {
  const [slot] = await tx<Slot[]>`${freeSlot(tx, runId, maxConcurrency)}`.execute()
  return slot
}

/** The run's limit of concurrent repairs in a state this process has folded; null when it has none. */
function maxConcurrencyOf(state: RunState | undefined): number | null {
  return state && state.status !== 'none' ? state.limits.maxConcurrency : null
}

/**
 * The results of a shared job not recorded yet: recorded all at once by `recordAll`, and meanwhile every
 * `progressMs` if any are waiting. Recordings run one after the other, in order; one that failed fails
 * `recordAll` (the job is then delivered again, and its stored results recorded then).
 */
class SharedJobResults {
  private waiting: TenantOutcome[] = []
  private recorded: Promise<void> = Promise.resolve()
  private readonly timer: NodeJS.Timeout
  /** A recording failed: the job stops before its next tenant (delivered again, it records what is stored). */
  failed = false

  constructor(
    private readonly record: (outcomes: TenantOutcome[]) => Promise<void>,
    progressMs: number,
  ) {
    this.timer = setInterval(() => {
      if (this.waiting.length > 0 && !this.failed) this.recordAll().catch(() => {})
    }, progressMs)
  }

  add(outcome: TenantOutcome): void {
    this.waiting.push(outcome)
  }

  recordAll(): Promise<void> {
    const outcomes = this.waiting
    this.waiting = []
    this.recorded = this.recorded.then(() => this.record(outcomes))
    this.recorded.catch(() => {
      this.failed = true
    })
    return this.recorded
  }

  stop(): void {
    clearInterval(this.timer)
  }
}
