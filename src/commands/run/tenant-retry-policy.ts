import type { FailureReasonCode } from '../../events/index.js'

/**
 * Which failures of a tenant job are tried again, how often and after what pause. Waiting for another
 * run's lock on the tenant has its own, long budget (the original tenant lock was held up to 900 s) and
 * does not use up the retries of real failures.
 */
export interface TenantRetryPolicy {
  /** Failed attempts (DB_ERROR, TIMEOUT, UNKNOWN) before the failure becomes final. */
  maxAttempts: number
  /** Attempts a tenant may spend waiting for another run's lock before it fails TENANT_LOCKED. */
  maxLockedAttempts: number
  /** Pause before retrying a failed attempt, doubled per attempt up to `maxRetryDelayMs`. */
  retryDelayMs: number
  maxRetryDelayMs: number
}

export const defaultTenantRetryPolicy: TenantRetryPolicy = {
  maxAttempts: 5,
  maxLockedAttempts: 60,
  retryDelayMs: 1_000,
  maxRetryDelayMs: 30_000,
}

export type FailureKind = 'transient' | 'lock_wait'

export interface ClassifiedFailure {
  reasonCode: FailureReasonCode
  /** Worth another attempt: the same job may succeed later. */
  transient: boolean
}

/** The budget a failure draws on, or null for a failure that is final at once. */
export function failureKindOf(failure: ClassifiedFailure): FailureKind | null {
  if (!failure.transient) return null
  return failure.reasonCode === 'TENANT_LOCKED' ? 'lock_wait' : 'transient'
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false }

/** After the `failedSoFar`-th failure of this kind: try again (after a pause) or record the failure for good. */
export function retryAfterFailure(kind: FailureKind, failedSoFar: number, policy: TenantRetryPolicy): RetryDecision {
  const limit = kind === 'lock_wait' ? policy.maxLockedAttempts : policy.maxAttempts
  if (failedSoFar >= limit) return { retry: false }
  // A lock wait already waited `lockWaitMs` inside the attempt: retry at the base pause, without growth.
  const delayMs =
    kind === 'lock_wait'
      ? policy.retryDelayMs
      : Math.min(policy.retryDelayMs * 2 ** Math.max(failedSoFar - 1, 0), policy.maxRetryDelayMs)
  return { retry: true, delayMs }
}
