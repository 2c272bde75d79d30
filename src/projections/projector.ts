import type { Sql, TransactionSql } from '../db/database.js'
import { toLoggedEvent, type LoggedEvent } from '../store/event-log.js'
import type { EventStore, StoredEvent } from '../store/event-store.js'
import { CatchUpLoop } from '../workers/catch-up-loop.js'

/** An event as a projection sees it: validated and upcast, with where it sits in the store. */
export type ProjectedEvent = LoggedEvent

/**
 * A read model builder. `apply` gets a batch of consecutive events in global order and runs inside the
 * batch's transaction. It applies them with a few set-based statements per batch rather than statements
 * per event (a rebuild replays every event of the store), and the rows it leaves must be exactly those that
 * applying the events one at a time would leave, whatever the batch boundaries. It must be idempotent and
 * take every value from the events (never `now()`), so that re-applying or rebuilding gives the same rows.
 */
export interface Projection {
  name: string
  apply(tx: TransactionSql, events: readonly ProjectedEvent[]): Promise<void>
  /** Empties the tables this projection owns (used by `Projector.rebuild`). */
  reset?(tx: TransactionSql): Promise<void>
}

interface DecodedEvent {
  stored: StoredEvent
  projected: ProjectedEvent
}

/** A batch as read: the events that decode up to the first that does not, and its failure. */
interface Decoded {
  stored: StoredEvent[]
  events: DecodedEvent[]
  failure: ProjectionFailedError | null
}

/** A batch read (and decoded) ahead, valid if the checkpoint is still `after` when its turn comes. */
interface Prefetched {
  after: string | null
  read: Promise<Decoded>
}

/** Structurally compatible with pino. */
export interface ProjectorLogger {
  info(obj: Record<string, unknown>, msg: string): void
  error(obj: Record<string, unknown>, msg: string): void
}

export interface ProjectorOptions {
  store: EventStore
  sql: Sql
  /** Checkpoint name; processes sharing it share one checkpoint and take turns (compare-and-set). */
  name: string
  /**
   * Applied in this order to each batch: a later projection reads what an earlier one wrote for the whole
   * batch, so it may read only what an event fixes for good when first projected (a run's requested row).
   */
  projections: Projection[]
  batchSize?: number
  pollIntervalMs?: number
  /** Pause after a partial batch, so that bursts are applied together (bounds the added latency). */
  coalesceMs?: number
  /** Backoff after a failure, doubling from `initial` up to `max`. */
  retryDelayMs?: { initial: number; max: number }
  logger?: ProjectorLogger
  /**
   * The `search_path` of the projector's transactions (its checkpoint and the projections' tables), e.g.
   * `rebuild_x, public` to build read models in another schema with the same SQL (see read-model-rebuild.ts).
   * Default: the connection's.
   */
  searchPath?: string
}

/** An event could not be decoded or applied. The projector stops at it and retries; it never skips it. */
export class ProjectionFailedError extends Error {
  constructor(
    readonly projector: string,
    readonly stored: Pick<StoredEvent, 'streamId' | 'eventId' | 'type' | 'version' | 'revision' | 'position'>,
    readonly projection: string | null,
    cause: unknown,
  ) {
    const where = projection ? `projection ${projection} failed on` : 'could not decode'
    super(
      `projector ${projector}: ${where} ${stored.type} v${stored.version} ${stored.eventId} ` +
        `(${stored.streamId}@${stored.revision}, position ${stored.position}): ${errorMessage(cause)}`,
      { cause },
    )
    this.name = 'ProjectionFailedError'
  }
}

/** A projection failed on a batch (rolled back); which event it failed on is found by applying them one by one. */
class BatchFailedError extends Error {
  constructor(
    readonly projection: string,
    cause: unknown,
  ) {
    super(`projection ${projection} failed: ${errorMessage(cause)}`, { cause })
  }
}

/** Another process moved the checkpoint since this one read it; the batch was rolled back. */
class CheckpointMovedError extends Error {
  constructor() {
    super('checkpoint moved')
  }
}

const consoleLogger: ProjectorLogger = {
  info: () => {},
  error: (obj, msg) => console.error(msg, obj),
}

/**
 * Catch-up subscription from a checkpoint stored beside the read models. Each batch and its checkpoint
 * commit in one transaction that starts with a compare-and-set on the checkpoint row: the row lock
 * serialises processes sharing the checkpoint name, and a process whose checkpoint moved under it rolls
 * back without having applied anything, re-reads the checkpoint and carries on. Requires `readModelSchema`.
 */
export class Projector {
  private readonly store: EventStore
  private readonly sql: Sql
  readonly name: string
  private readonly projections: Projection[]
  private readonly batchSize: number
  private readonly pollIntervalMs: number
  private readonly coalesceMs: number
  private readonly retryDelayMs: { initial: number; max: number }
  private readonly logger: ProjectorLogger
  private readonly searchPath: string | null

  /** Serialises batch work inside this instance (the loop, runOnce, waitUntilCaughtUp, rebuild). */
  private queue: Promise<unknown> = Promise.resolve()
  private checkpointRowEnsured = false
  private loop: CatchUpLoop | null = null

  constructor(options: ProjectorOptions) {
    this.store = options.store
    this.sql = options.sql
    this.name = options.name
    this.projections = options.projections
    this.batchSize = options.batchSize ?? 2_000
    this.pollIntervalMs = options.pollIntervalMs ?? 500
    this.coalesceMs = options.coalesceMs ?? 20
    this.retryDelayMs = options.retryDelayMs ?? { initial: 250, max: 30_000 }
    this.logger = options.logger ?? consoleLogger
    this.searchPath = options.searchPath ?? null
    if (!Number.isSafeInteger(this.batchSize) || this.batchSize < 1) throw new RangeError('batchSize must be a positive integer')
  }

  /** Starts the background loop: applies what is there, then waits for an append the store announces (see CatchUpLoop) or the next poll. */
  start(): void {
    if (this.loop) return
    this.loop = new CatchUpLoop({
      store: this.store,
      pass: () => this.runOnce(),
      pollIntervalMs: this.pollIntervalMs,
      coalesceMs: this.coalesceMs,
      retryDelayMs: this.retryDelayMs,
      onError: (error, failures, retryInMs) =>
        this.logger.error(
          { projector: this.name, err: error, failures, retryInMs },
          `projector ${this.name} is stuck and will retry: ${errorMessage(error)}`,
        ),
      onRecovered: () => this.logger.info({ projector: this.name }, 'projector recovered'),
    })
    this.loop.start()
  }

  /** Stops the loop after the batch in flight. */
  async stop(): Promise<void> {
    const loop = this.loop
    await loop?.stop()
    if (this.loop === loop) this.loop = null
  }

  /**
   * Applies everything available now, batch by batch, up to the end of the log as read (a short batch);
   * returns how many events this call applied.
   */
  runOnce(): Promise<number> {
    return this.serialised(() => this.drain())
  }

  /** Resolves once everything in the store when called (and anything appended meanwhile) is applied (ends on an empty read). */
  async waitUntilCaughtUp(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000)
    while ((await this.runOnce()) > 0) {
      if (Date.now() > deadline) throw new Error(`projector ${this.name}: not caught up after ${options.timeoutMs ?? 30_000} ms`)
    }
  }

  /** The stored checkpoint: the position of the last applied event, null before the first. */
  async position(): Promise<string | null> {
    const rows =
      this.searchPath === null
        ? await this.sql<Array<{ position: string | null }>>`select position from projection_checkpoints where name = ${this.name}`
        : await this.begin((tx) => tx<Array<{ position: string | null }>>`select position from projection_checkpoints where name = ${this.name}`)
    return rows[0]?.position ?? null
  }

  /**
   * Empties the read models (each projection's `reset`) and the checkpoint in one transaction, then
   * replays the whole store. Readers see empty tables until the replay catches up.
   */
  rebuild(): Promise<number> {
    return this.serialised(async () => {
      await this.ensureCheckpointRow()
      // The first events are read and decoded while the read models are emptied (the store is not touched by
      // the reset); the drain takes them if the checkpoint is still where the reset left it.
      const first = this.readDecoded(null, this.batchSize)
      first.catch(() => {}) // a failed read is read again by the drain
      await this.begin(async (tx) => {
        await tx`select 1 from projection_checkpoints where name = ${this.name} for update`
        for (const projection of this.projections) await projection.reset?.(tx)
        await tx`update projection_checkpoints set position = null where name = ${this.name}`
      })
      this.logger.info({ projector: this.name }, 'read models reset, replaying from the beginning')
      return this.drain({ after: null, read: first })
    })
  }

  /** A transaction on the projector's `search_path`. */
  private begin<T>(work: (tx: TransactionSql) => Promise<T>): Promise<T> {
    return this.sql.begin(async (tx) => {
      if (this.searchPath !== null) await tx`select set_config('search_path', ${this.searchPath}, true)`
      return work(tx)
    }) as Promise<T>
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work)
    this.queue = run.catch(() => {})
    return run
  }

  private async drain(firstRead: Prefetched | null = null): Promise<number> {
    let applied = 0
    let checkpoint: string | null = null
    let checkpointKnown = false
    // After a batch fails, its events are applied again one per transaction (each a batch of one): the
    // checkpoint then stops right before the event that fails, and the error names that event.
    let oneByOne = 0
    // The batch after the one being applied, read and decoded meanwhile (on PostgreSQL the read runs on
    // another connection of the pool and decoding runs while the database applies): a replay then costs
    // about the larger of reading and applying, not their sum. Used only if the checkpoint is where it expected.
    let prefetched: Prefetched | null = firstRead
    for (;;) {
      await this.ensureCheckpointRow()
      if (!checkpointKnown) checkpoint = await this.position()
      const maxCount = oneByOne > 0 ? 1 : this.batchSize
      // A batch read ahead holds the events right after its `after`, whenever it was read: it serves if the
      // checkpoint (known, or just read) is there.
      // A read ahead that failed is read again here (and its error, if it fails again, reported).
      const { stored, events, failure }: Decoded =
        prefetched && prefetched.after === checkpoint && oneByOne === 0
          ? await prefetched.read.catch(() => this.readDecoded(checkpoint, maxCount))
          : await this.readDecoded(checkpoint, maxCount)
      prefetched = null
      if (stored.length === 0) return applied
      if (events.length > 0) {
        const next: string = events[events.length - 1]!.stored.position
        if (!failure && oneByOne === 0 && stored.length === maxCount) {
          const read = this.readDecoded(next, maxCount)
          read.catch(() => {}) // a failed read ahead is read again by the next iteration
          prefetched = { after: next, read }
        }
        try {
          checkpoint = await this.applyBatch(checkpoint, events)
          checkpointKnown = true
          applied += events.length
          oneByOne = Math.max(0, oneByOne - events.length)
        } catch (error) {
          checkpointKnown = false
          // Another process applied this batch; continue from where it got.
          if (error instanceof CheckpointMovedError) continue
          if (!(error instanceof BatchFailedError)) throw error
          if (events.length === 1) throw new ProjectionFailedError(this.name, events[0]!.stored, error.projection, error.cause)
          oneByOne = events.length
          continue
        }
      }
      if (failure) throw failure
      // A short batch was the end of the log when read: whatever was appended since woke the loop.
      if (stored.length < maxCount) return applied
      if (this.loop?.stopping) return applied
    }
  }

  /** Apply what decodes up to a bad event, so the checkpoint stops right before it. */
  private async readDecoded(after: string | null, maxCount: number): Promise<Decoded> {
    // What was announced before this read is in it (see CatchUpLoop).
    this.loop?.reading()
    const stored = await this.store.readAll({ after, maxCount })
    return { stored, ...this.decodePrefix(stored) }
  }

  /** Applies the events and moves the checkpoint to the last of them, in one transaction; returns it. */
  private async applyBatch(checkpoint: string | null, events: DecodedEvent[]): Promise<string> {
    const next = events[events.length - 1]!.stored.position
    await this.begin(async (tx) => {
      // The CAS goes first: it takes the checkpoint row lock, so a competing process waits here and
      // then finds the checkpoint moved, before it has written anything.
      const moved = await tx`
        update projection_checkpoints set position = ${next}
        where name = ${this.name} and position is not distinct from ${checkpoint}::text
        returning 1`
      if (moved.length === 0) {
        const [row] = await tx`select 1 as present from projection_checkpoints where name = ${this.name}`
        // The checkpoint row itself is gone (the read models were wiped by hand): made again, with a reset.
        if (!row) this.checkpointRowEnsured = false
        throw new CheckpointMovedError()
      }
      const projected = events.map((e) => e.projected)
      for (const projection of this.projections) {
        try {
          await projection.apply(tx, projected)
        } catch (error) {
          throw new BatchFailedError(projection.name, error)
        }
      }
    })
    return next
  }

  private decodePrefix(batch: StoredEvent[]): { events: DecodedEvent[]; failure: ProjectionFailedError | null } {
    const events: DecodedEvent[] = []
    for (const stored of batch) {
      try {
        events.push({ stored, projected: toLoggedEvent(stored) })
      } catch (error) {
        return { events, failure: new ProjectionFailedError(this.name, stored, null, error) }
      }
    }
    return { events, failure: null }
  }

  /**
   * Makes the checkpoint row when there is none. Without a checkpoint nobody knows which events the read
   * models hold (a first start, or the row wiped by hand while rows remain), so they are emptied in the same
   * transaction and replayed from the beginning: a rebuild, never events applied twice.
   */
  private async ensureCheckpointRow(): Promise<void> {
    if (this.checkpointRowEnsured) return
    const created = await this.begin(async (tx) => {
      const inserted = await tx`
        insert into projection_checkpoints (name, position) values (${this.name}, null) on conflict (name) do nothing returning 1`
      if (inserted.length === 0) return false
      for (const projection of this.projections) await projection.reset?.(tx)
      return true
    })
    if (created) this.logger.info({ projector: this.name }, 'no checkpoint: read models emptied, replaying from the beginning')
    this.checkpointRowEnsured = true
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
