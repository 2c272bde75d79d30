/**
 * SPEC §12: what one attempt to deliver an alert to a webhook means for the delivery. A 2xx answer
 * delivers it; anything else (another status, a timeout, a refused connection) is retried with
 * exponential backoff — jittered, capped — until 24 hours after the first attempt, then the delivery is
 * `failed`. Pure: the time and the random draw are passed in.
 */
export type DeliveryStatus = 'recorded' | 'delivered' | 'failed'

export interface DeliveryRetryPolicy {
  /** The wait after the first failed attempt; doubled after each further one. */
  baseDelayMs: number
  /** No wait is longer (before jitter). */
  maxDelayMs: number
  /** Attempts stop this long after the first one. */
  giveUpAfterMs: number
}

export const defaultDeliveryRetryPolicy: DeliveryRetryPolicy = {
  baseDelayMs: 2_000,
  maxDelayMs: 60 * 60_000,
  giveUpAfterMs: 24 * 60 * 60_000,
}

/** What the attempt met: the receiver's HTTP status, or the class of error that stopped it. */
export type AttemptResult = { kind: 'answered'; status: number } | { kind: 'error'; errorClass: string }

/**
 * A delivery that cannot be attempted: its destination was removed, its host is no longer allowed, or the
 * destination is of a kind or has a URL no sender can post to (a row of an earlier release, or by hand).
 */
export type Undeliverable = 'DESTINATION_REMOVED' | 'HOST_NOT_ALLOWED' | 'UNSUPPORTED_DESTINATION'

export interface DeliveryProgress {
  attempts: number
  firstAttemptAt: string | null
}

export type DeliveryUpdate = {
  status: DeliveryStatus
  attempts: number
  /** null: none yet (a delivery failed before any attempt). */
  firstAttemptAt: string | null
  /** null: unchanged (no attempt was made). */
  lastAttemptAt: string | null
  nextAttemptAt: string | null
  deliveredAt: string | null
  lastError: string | null
}

export function decideDeliveryAttempt(
  delivery: DeliveryProgress,
  result: AttemptResult,
  context: { at: Date; policy: DeliveryRetryPolicy; random: number },
): DeliveryUpdate {
  const at = context.at.toISOString()
  const first = delivery.firstAttemptAt ?? at
  const attempts = delivery.attempts + 1
  const base = { attempts, firstAttemptAt: first, lastAttemptAt: at }
  if (result.kind === 'answered' && result.status >= 200 && result.status < 300) {
    return { ...base, status: 'delivered', nextAttemptAt: null, deliveredAt: at, lastError: null }
  }
  const lastError = result.kind === 'answered' ? `HTTP ${result.status}` : result.errorClass
  const deadline = Date.parse(first) + context.policy.giveUpAfterMs
  if (context.at.getTime() >= deadline) return { ...base, status: 'failed', nextAttemptAt: null, deliveredAt: null, lastError }
  const next = Math.min(context.at.getTime() + retryDelayMs(attempts, context.policy, context.random), deadline)
  return { ...base, status: 'recorded', nextAttemptAt: new Date(next).toISOString(), deliveredAt: null, lastError }
}

/**
 * The wait after the `attempts`-th failed attempt: base·2^(attempts-1), capped, then "equal jitter" (half
 * fixed, half random) so that receivers coming back are not hit by every sender at the same instant.
 */
export function retryDelayMs(attempts: number, policy: DeliveryRetryPolicy, random: number): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempts - 1, 40))
  return Math.round(exponential / 2 + (exponential / 2) * Math.min(Math.max(random, 0), 1))
}

/** A delivery nobody can attempt any more is failed at once, attempts unchanged. */
export function decideUndeliverable(delivery: DeliveryProgress, reason: Undeliverable): DeliveryUpdate {
  return {
    status: 'failed',
    attempts: delivery.attempts,
    firstAttemptAt: delivery.firstAttemptAt,
    lastAttemptAt: null,
    nextAttemptAt: null,
    deliveredAt: null,
    lastError: reason,
  }
}
