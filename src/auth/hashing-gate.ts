import { availableParallelism } from 'node:os'

/**
 * Why a hashing slot was not granted: every slot busy and the wait queue full (`saturated`), the wait took
 * longer than the gate allows (`timed_out`), or the client went away while waiting (`aborted`).
 */
export type HashingRefusal = 'saturated' | 'timed_out' | 'aborted'

export class HashingUnavailableError extends Error {
  constructor(
    readonly reason: HashingRefusal,
    /** What to tell the client: when a slot is likely free again. */
    readonly retryAfterSeconds: number,
  ) {
    super(`password hashing unavailable (${reason})`)
    this.name = 'HashingUnavailableError'
  }
}

export interface HashingGateOptions {
  /** Hashes running at once. Each scrypt at the default cost holds 128 MiB and a CPU core for ~0.4 s. */
  maxConcurrent: number
  /** Callers allowed to wait for a slot; one more is refused at once (503), never queued. */
  maxQueued: number
  /** A queued caller waits at most this long, then is refused. */
  maxWaitMs: number
  /** Retry-After given with a refusal. */
  retryAfterSeconds: number
  /**
   * Logins in flight in this process (from the rate-limit check to the answer) beyond which a new one is
   * refused at once: the rate-limit check is a database transaction, and 200 of them queued on a small
   * pool (the embedded database has one connection) delay a real login by seconds. Default: twice
   * `maxConcurrent + maxQueued`.
   */
  maxInFlight?: number
  /**
   * Logins in flight from one address (the rate-limit address) beyond which another from it is refused at
   * once (429): without it one address looping fast kept every in-flight slot and the hashing queue full
   * with its own attempts, and logins from every other address were answered 503. Default: half of
   * `maxConcurrent`, at least 1 — one address never holds all the hashing slots.
   */
  maxInFlightPerAddress?: number
}

/** What `tryEnter` decided: admitted, or refused because the process (503) or this address (429) is full. */
export type GateEntry = 'admitted' | 'busy' | 'address_busy'

interface Waiter {
  grant: () => void
  refuse: (reason: HashingRefusal) => void
}

/**
 * A small semaphore for password hashing with a bounded wait queue. Login is reachable without
 * credentials, and every attempt (even for an unknown email) costs one memory-hard hash: without a cap,
 * 200 concurrent attempts queue 200 hashes on libuv's four threads and a real login waits minutes behind
 * them. With the gate, at most `maxConcurrent` hashes run, at most `maxQueued` callers wait, and anyone
 * else is refused at once so the route can answer 503 + Retry-After instead of piling up work.
 */
export class HashingGate {
  private running = 0
  private inFlight = 0
  /** Logins in flight per address; an address leaves the map with its last one (at most maxInFlight keys). */
  private readonly inFlightByAddress = new Map<string, number>()
  private readonly queue: Waiter[] = []

  constructor(readonly options: HashingGateOptions) {}

  /** True when a new caller would be refused at once: no free slot and no room to wait. */
  get saturated(): boolean {
    return this.running >= this.options.maxConcurrent && this.queue.length >= this.options.maxQueued
  }

  get stats(): { running: number; queued: number; inFlight: number; addresses: number } {
    return { running: this.running, queued: this.queue.length, inFlight: this.inFlight, addresses: this.inFlightByAddress.size }
  }

  /**
   * Admits one login from `address` into the process (before its rate-limit check), or refuses it at once:
   * `busy` when `maxInFlight` are already in flight or the hashing queue is full (the caller answers 503),
   * `address_busy` when this address already has `maxInFlightPerAddress` in flight while the process is under
   * pressure (429). Every `admitted`
   * must be followed by one `leave(address)`.
   */
  tryEnter(address: string): GateEntry {
    const limit = this.options.maxInFlight ?? 2 * (this.options.maxConcurrent + this.options.maxQueued)
    const perAddress = this.options.maxInFlightPerAddress ?? Math.max(1, Math.floor(this.options.maxConcurrent / 2))
    const mine = this.inFlightByAddress.get(address) ?? 0
    // Only under pressure (every hashing slot's worth in flight, or a queue): an idle service lets two logins
    // of one address (an office behind one NAT, the CLI and the console at once) overlap.
    const underPressure = this.inFlight >= this.options.maxConcurrent || this.queue.length > 0
    if (mine >= perAddress && underPressure) return 'address_busy'
    if (this.saturated || this.inFlight >= limit) return 'busy'
    this.inFlight++
    this.inFlightByAddress.set(address, mine + 1)
    return 'admitted'
  }

  leave(address: string): void {
    if (this.inFlight > 0) this.inFlight--
    const mine = this.inFlightByAddress.get(address) ?? 0
    if (mine > 1) this.inFlightByAddress.set(address, mine - 1)
    else this.inFlightByAddress.delete(address)
  }

  /**
   * Runs `work` once a slot is free. Refuses (HashingUnavailableError) when the queue is full, the wait is
   * too long, or `signal` aborts before the work starts; the signal is checked again right before `work`.
   */
  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal)
    try {
      if (signal?.aborted) throw this.refusal('aborted')
      return await work()
    } finally {
      this.release()
    }
  }

  private refusal(reason: HashingRefusal): HashingUnavailableError {
    return new HashingUnavailableError(reason, this.options.retryAfterSeconds)
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(this.refusal('aborted'))
    if (this.running < this.options.maxConcurrent) {
      this.running++
      return Promise.resolve()
    }
    if (this.queue.length >= this.options.maxQueued) return Promise.reject(this.refusal('saturated'))
    return new Promise<void>((resolve, reject) => {
      const leave = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        const index = this.queue.indexOf(waiter)
        if (index >= 0) this.queue.splice(index, 1)
      }
      const waiter: Waiter = {
        grant: () => {
          leave()
          resolve()
        },
        refuse: (reason) => {
          leave()
          reject(this.refusal(reason))
        },
      }
      const onAbort = () => waiter.refuse('aborted')
      const timer = setTimeout(() => waiter.refuse('timed_out'), this.options.maxWaitMs)
      timer.unref?.()
      signal?.addEventListener('abort', onAbort, { once: true })
      this.queue.push(waiter)
    })
  }

  private release(): void {
    const next = this.queue[0]
    if (next) {
      // The slot passes straight to the next waiter: `running` stays as it is.
      next.grant()
    } else {
      this.running--
    }
  }
}

/**
 * The process's gate for login hashing, shared by `POST /api/auth/tokens` and the console login (and
 * available to anything else that hashes a password). Half the cores, 2 to 4 at once; 2 waiters per slot;
 * at most twice that many logins in flight (the rest are answered 503 at once).
 */
const concurrent = Math.min(4, Math.max(2, Math.floor(availableParallelism() / 2)))
export const loginHashingGate = new HashingGate({
  maxConcurrent: concurrent,
  maxQueued: concurrent * 2,
  maxWaitMs: 5_000,
  retryAfterSeconds: 2,
})
