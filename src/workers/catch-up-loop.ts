import type { EventStore } from '../store/event-store.js'

export interface CatchUpLoopOptions {
  /**
   * Announces appends committed in this process, and with the PostgreSQL event store in the deployment's other processes
   * (appendWakeups); what no announcement reaches is found by the poll.
   */
  store: Pick<EventStore, 'onAppended'>
  /**
   * Reads and handles what the store holds, to its end: a short batch is the end of the log when read, so
   * a pass returns after one without reading again. Calls `reading()` right before each read it issues.
   */
  pass: () => Promise<unknown>
  /** The wait when nothing was announced: an append no announcement reached shows up at the latest after it. */
  pollIntervalMs: number
  /** A pause after a wake-up, before the next pass, so that a burst of appends is read together. */
  coalesceMs: number
  /** Backoff after a failed pass, doubling from `initial` up to `max`; an append never cuts it short. */
  retryDelayMs: { initial: number; max: number }
  onError: (error: unknown, failures: number, retryInMs: number) => void
  onRecovered?: () => void
}

/**
 * The one catch-up loop of the service's event followers (the read-model projector and the worker
 * subscriptions: dispatcher, planner, verifier): a pass, then a wait ended by an append, the poll or stop.
 *
 * - A wake-up is never lost: `woken` records an append announced while no wait was under way, and it is
 *   cleared right before each read (what was announced so far is committed, so that read has it); the next
 *   wait then ends at once only for an append the last read may have missed.
 * - An error backs off the full delay: appends keep coming during an outage and must not turn the backoff
 *   into a busy retry; only `stop` ends it.
 * - `stop` is prompt: it ends any wait (poll, coalesce, backoff) at once, and the loop does not wait again.
 */
export class CatchUpLoop {
  private running = false
  private loop: Promise<void> | null = null
  /** Ends the current wait if it is one an append ends. */
  private wake: (() => void) | null = null
  /** Ends the current wait, whatever it is (stop). */
  private interrupt: (() => void) | null = null
  /** An append was announced while no wait was under way. */
  private woken = false
  private unsubscribe: (() => void) | null = null

  constructor(private readonly options: CatchUpLoopOptions) {}

  /** True once `stop` was called: a pass in flight may return between batches. */
  get stopping(): boolean {
    return !this.running
  }

  /** To be called right before each read of the store (by the pass). */
  reading(): void {
    this.woken = false
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.woken = false
    this.unsubscribe = this.options.store.onAppended(() => {
      if (this.wake) this.wake()
      else this.woken = true
    })
    this.loop = this.run()
  }

  /** Ends the wait under way at once, or lets the pass in flight finish; resolves once the loop ended. */
  async stop(): Promise<void> {
    this.running = false
    this.unsubscribe?.()
    this.unsubscribe = null
    this.interrupt?.()
    const loop = this.loop
    this.loop = null
    await loop
  }

  private async run(): Promise<void> {
    let failures = 0
    while (this.running) {
      try {
        await this.options.pass()
      } catch (error) {
        failures += 1
        const { initial, max } = this.options.retryDelayMs
        const delay = Math.min(initial * 2 ** (failures - 1), max)
        this.options.onError(error, failures, delay)
        await this.sleep(delay, false)
        continue
      }
      if (failures > 0) this.options.onRecovered?.()
      failures = 0
      await this.sleep(this.options.pollIntervalMs, true)
      if (this.options.coalesceMs > 0) await this.sleep(this.options.coalesceMs, false)
    }
  }

  /** Waits `ms`, or less: `stop` ends any wait, and an append ends one that `wakeOnAppend`. */
  private sleep(ms: number, wakeOnAppend: boolean): Promise<void> {
    if (!this.running) return Promise.resolve()
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
