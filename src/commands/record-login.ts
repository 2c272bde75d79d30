import { createHash } from 'node:crypto'
import { ulid } from 'ulid'
import { hasEmailShape, normalizeEmail } from '../auth/email.js'
import { streams } from '../events/index.js'
import type { EventLog } from '../store/event-log.js'

export type LoginOutcome =
  | { kind: 'succeeded'; operatorId: string }
  | { kind: 'failed' }
  | { kind: 'rate_limited'; retryAfterSeconds: number }

/** What a login records in place of text that is no email address (see below). */
export const NOT_AN_EMAIL = '(not an email address)'

/**
 * Text without the shape of an email address in the email field is often a password typed in the wrong box:
 * it is recorded as NOT_AN_EMAIL, and hashed into no stream name (an unsalted hash of a weak password is
 * a password found).
 */
function recordableEmail(text: string): string {
  const email = normalizeEmail(text).slice(0, 320)
  return hasEmailShape(email) ? email : NOT_AN_EMAIL
}

/** Records a login attempt as an event, so the audit log shows every success, failure and rate limit. */
export async function recordLoginAttempt(
  log: EventLog,
  attempt: { email: string; ip: string | null; userAgent: string | null; channel: 'api' | 'console'; outcome: LoginOutcome },
): Promise<void> {
  const email = recordableEmail(attempt.email)
  const at = new Date().toISOString()
  const emailHash = createHash('sha256').update(email).digest('hex').slice(0, 32)
  const event =
    attempt.outcome.kind === 'succeeded'
      ? { type: 'LoginSucceeded' as const, data: { operatorId: attempt.outcome.operatorId, email, channel: attempt.channel, at } }
      : attempt.outcome.kind === 'failed'
        ? { type: 'LoginFailed' as const, data: { email, channel: attempt.channel, at } }
        : {
            type: 'LoginRateLimited' as const,
            data: { email, channel: attempt.channel, retryAfterSeconds: attempt.outcome.retryAfterSeconds, at },
          }
  await log.append(streams.login(emailHash), [event], 'any', {
    correlationId: ulid(),
    causationId: null,
    initiator: { kind: 'anonymous', email, ip: attempt.ip, userAgent: attempt.userAgent },
    occurredAt: at,
  })
}
