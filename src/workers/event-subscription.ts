import type { Logger } from 'pino'
import type { Sql } from '../db/database.js'
import type { MigrationSet } from '../db/migrations.js'
import { toLoggedEvent, type LoggedEvent } from '../store/event-log.js'
import type { EventStore } from '../store/event-store.js'

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
 * the transactional Projector instead.
 */
export class EventSubscription {
  private running = false
  private loop: Promise<void> | null = null
  private wake: (() => void) | null = null
  private interrupt: (() => void) | null = null
  /** An append was announced while this subscription was reading: the next sleep ends at once. */
  private woken = false
  private unsubscribe: (() => void) | null = null

  constructor(private readonly options: EventSubscriptionOptions) {}

  async runOnce(): Promise<number> {
    const { store, sql, name, handle } = this.options
    const [row] = await sql<Array<{ position: string }>>`select position from subscription_checkpoints where name = ${name}`
    let after = row?.position ?? null
    let handled = 0
    const batchSize = this.options.batchSize ?? 200
    for (;;) {
      // What was announced so far is in this read (the store announces an append once committed).
      this.woken = false
      const batch = await store.readAll({ after, maxCount: batchSize })
      if (batch.length === 0) return handled
      await handle(batch.map(toLoggedEvent))
      handled += batch.length
      after = batch[batch.length - 1]!.position
      await sql`
        insert into subscription_checkpoints (name, position) values (${name}, ${after})
        on conflict (name) do update set position = excluded.position, updated_at = now()`
      // A short batch was the end of the log when read: what was appended since woke this subscription
      // (see `woken`), so reading again now would only find nothing, one statement per wake-up.
      if (batch.length < batchSize) return handled
    }
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.unsubscribe = this.options.store.onAppended(() => {
      if (this.wake) this.wake()
      else this.woken = true
    })
    this.loop = (async () => {
      let backoff = 100
      while (this.running) {
        try {
          await this.runOnce()
          backoff = 100
          if (!this.running) break
          await this.sleep(this.options.pollIntervalMs ?? 250)
          // Woken by an append: let the burst gather so one read serves many events.
          const coalesceMs = this.options.coalesceMs ?? 20
          if (coalesceMs > 0) await new Promise((resolve) => setTimeout(resolve, coalesceMs))
        } catch (error) {
          this.options.logger.error({ err: error, subscription: this.options.name }, 'subscription failed; retrying')
          if (!this.running) break
          await this.sleep(backoff, false)
          backoff = Math.min(backoff * 2, 10_000)
        }
      }
    })()
  }

  async stop(): Promise<void> {
    this.running = false
    this.unsubscribe?.()
    this.interrupt?.()
    await this.loop
  }

  /**
   * Waits `ms`, or less: `stop` ends any wait, and an append (announced now or while reading) ends one
   * that `wakeOnAppend` — never an error's backoff, which an append must not cut short.
   */
  private sleep(ms: number, wakeOnAppend = true): Promise<void> {
    if (wakeOnAppend && this.woken) {
      this.woken = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.wake = null
        this.interrupt = null
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.interrupt = done
      if (wakeOnAppend) this.wake = done
    })
  }
}
