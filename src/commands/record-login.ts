import { createHash } from 'node:crypto'
import { ulid } from 'ulid'
import { streams } from '../events/index.js'
import type { EventLog } from '../store/event-log.js'

export type LoginOutcome =
  | { kind: 'succeeded'; operatorId: string }
  | { kind: 'failed' }
  | { kind: 'rate_limited'; retryAfterSeconds: number }

/** Records a login attempt as an event, so the audit log shows every success, failure and rate limit. */
export async function recordLoginAttempt(
  log: EventLog,
  attempt: { email: string; ip: string | null; userAgent: string | null; channel: 'api' | 'console'; outcome: LoginOutcome },
): Promise<void> {
  const email = attempt.email.trim().toLowerCase().slice(0, 320)
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
