import { loginAddressKey, loginAttemptKey, type LoginLimit } from './login-rate-limit.js'

export interface LoginRefusalMemoryOptions {
  /** Refusals remembered at once; inserting one more drops the oldest (which then asks the database again). */
  maxEntries: number
  /** Milliseconds since the epoch; tests bring a fake clock. */
  now: () => number
}

/** Enough for every address of a large flood; each entry is a 64-character key and a number. */
const DEFAULT_MAX_ENTRIES = 10_000

/**
 * This process's memory of login refusals still in force: once the database budget (the source of truth,
 * shared by every API process) has refused an address — or an address + email — until some time, later
 * attempts from it until then are refused from here, with the remaining Retry-After, before they enter the
 * hashing gate and without a database round trip. Without it, an address hammering past its budget kept
 * the gate's in-flight slots busy with rate-limit transactions, and real users on other addresses got 503.
 *
 * Nothing is stored for such a refusal: its episode's first refusal was already recorded. Forgetting an
 * entry (bounded size, a restart, another process) only costs a database round trip that refuses again.
 */
export class LoginRefusalMemory {
  private readonly options: LoginRefusalMemoryOptions
  /** Key → refused until (ms). Insertion order: the first entry is the oldest. */
  private readonly refusedUntil = new Map<string, number>()

  constructor(options: Partial<LoginRefusalMemoryOptions> = {}) {
    this.options = { maxEntries: DEFAULT_MAX_ENTRIES, now: Date.now, ...options }
  }

  get size(): number {
    return this.refusedUntil.size
  }

  /** The refusal in force for this attempt (its address first, then its address + email), or null. */
  refusalOf(attempt: { ip: string; email: string }): { limit: LoginLimit; retryAfterSeconds: number } | null {
    for (const [limit, key] of [
      ['ip', loginAddressKey(attempt.ip)],
      ['ip_email', loginAttemptKey(attempt.ip, attempt.email)],
    ] as const) {
      const retryAfterSeconds = this.remainingSeconds(key)
      if (retryAfterSeconds !== null) return { limit, retryAfterSeconds }
    }
    return null
  }

  /** Remembers the database's refusal of this attempt: its `limit`'s key is refused for `retryAfterSeconds`. */
  remember(attempt: { ip: string; email: string }, refusal: { limit: LoginLimit; retryAfterSeconds: number }): void {
    const key = refusal.limit === 'ip' ? loginAddressKey(attempt.ip) : loginAttemptKey(attempt.ip, attempt.email)
    this.refusedUntil.delete(key)
    while (this.refusedUntil.size >= this.options.maxEntries) {
      const oldest = this.refusedUntil.keys().next()
      if (oldest.done) break
      this.refusedUntil.delete(oldest.value)
    }
    this.refusedUntil.set(key, this.options.now() + refusal.retryAfterSeconds * 1000)
  }

  private remainingSeconds(key: string): number | null {
    const until = this.refusedUntil.get(key)
    if (until === undefined) return null
    const left = until - this.options.now()
    if (left <= 0) {
      this.refusedUntil.delete(key)
      return null
    }
    return Math.max(1, Math.ceil(left / 1000))
  }
}
