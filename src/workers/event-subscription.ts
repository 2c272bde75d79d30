import type { Logger } from 'pino'
import type { Sql } from '../db/database.js'
import type { MigrationSet } from '../db/migrations.js'
import { toLoggedEvent, type LoggedEvent } from '../store/event-log.js'
import type { EventStore } from '../store/event-store.js'
import { CatchUpLoop } from './catch-up-loop.js'

/**
 * v1 (baseline): exactly the statements every start applied before versioned migrations. Idempotent, so a
 * deployment the previous release created records v1 without a change. Never edit (its checksum is recorded).
 */
const subscriptionBaseline: readonly string[] = [
  `create table if not exists subscription_checkpoints (
       name text primary key,
       position text not null,
       updated_at timestamptz not null default now())`,
]

export const subscriptionSchema: MigrationSet = {
  owner: 'subscription-checkpoints',
  migrations: [{ version: 1, name: 'baseline', statements: subscriptionBaseline }],
}

export interface EventSubscriptionOptions {
  store: EventStore
  sql: Sql
  name: string
  /**
   * Handles the events of one read, in order. Given the batch, a handler can do per batch what it would
   * otherwise repeat per event (the dispatcher plans each run once per batch, not once per result).
   */
  handle: (events: readonly LoggedEvent[]) => Promise<void>
  logger: Logger
  batchSize?: number
  pollIntervalMs?: number
  /** Pause after a wake-up before reading, so that bursts are read together. */
  coalesceMs?: number
}

/**
 * An at-least-once catch-up subscription for side effects that cannot share a database transaction with
 * their checkpoint (appending commands, publishing jobs): the checkpoint moves only after the handler
 * finished, so after a crash events are handled again and handlers must be idempotent. Read models use
 * the transactional Projector instead; both follow the store with the same `CatchUpLoop`.
 */
export class EventSubscription {
  private loop: CatchUpLoop | null = null
  /**
   * Where this subscription is, once read from its checkpoint: read once per start, then kept here. One
   * worker process at a time runs the subscriptions (leader-lease.ts); one that starts leading reads where
   * the last leader got to. Two at once (a lease changing hands) each go on from their own position, so
   * neither skips an event it has not seen handled.
   */
  private position: { after: string | null } | null = null

  constructor(private readonly options: EventSubscriptionOptions) {}

  async runOnce(): Promise<number> {
    const { store, sql, name, handle } = this.options
    if (!this.position) {
      const [row] = await sql<Array<{ position: string }>>`select position from subscription_checkpoints where name = ${name}`
      this.position = { after: row?.position ?? null }
    }
    let after = this.position.after
    let handled = 0
    const batchSize = this.options.batchSize ?? 200
    for (;;) {
      this.loop?.reading()
      const batch = await store.readAll({ after, maxCount: batchSize })
      if (batch.length === 0) return handled
      await handle(batch.map(toLoggedEvent))
      handled += batch.length
      after = batch[batch.length - 1]!.position
      await sql`
        insert into subscription_checkpoints (name, position) values (${name}, ${after})
        on conflict (name) do update set position = excluded.position, updated_at = now()`
      this.position = { after }
      // A short batch was the end of the log when read: what was appended since woke the loop, so reading
      // again now would only find nothing, one statement per wake-up.
      if (batch.length < batchSize) return handled
    }
  }

  start(): void {
    if (this.loop) return
    const { store, name, logger } = this.options
    this.loop = new CatchUpLoop({
      store,
      pass: () => this.runOnce(),
      pollIntervalMs: this.options.pollIntervalMs ?? 250,
      // Woken by an append: let the burst gather so one read serves many events.
      coalesceMs: this.options.coalesceMs ?? 20,
      retryDelayMs: { initial: 100, max: 10_000 },
      onError: (error) => logger.error({ err: error, subscription: name }, 'subscription failed; retrying'),
    })
    this.loop.start()
  }

  async stop(): Promise<void> {
    const loop = this.loop
    this.loop = null
    await loop?.stop()
    this.position = null
  }
}
