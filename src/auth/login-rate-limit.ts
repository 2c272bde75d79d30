import { createHash } from 'node:crypto'
import type { Sql } from '../db/database.js'
import { normalizeEmail } from './email.js'

/** SPEC §6: 10 attempts per minute per IP + username, for every endpoint that takes a password. */
export const LOGIN_ATTEMPTS_PER_WINDOW = 10
export const LOGIN_WINDOW_SECONDS = 60

/** Old rows of other keys removed per call: keeps the table small without one call doing unbounded work. */
const PRUNE_BATCH = 100

export type LoginAttemptDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number }

/**
 * Decides whether this login attempt may go ahead and, if so, records it — atomically, in PostgreSQL, so
 * that every API process shares one budget and concurrent attempts never exceed it (a per-key advisory
 * lock serialises attempts on the same key; different keys do not wait for each other).
 *
 * Only allowed attempts are recorded: someone hammering a locked key does not extend the lock-out, the
 * window simply slides past the allowed ones. The stored key is a hash of (email, ip), not the raw pair.
 */
export async function checkAndRecordLoginAttempt(
  sql: Sql,
  attempt: { ip: string; email: string; now?: Date },
): Promise<LoginAttemptDecision> {
  const now = attempt.now ?? new Date()
  const windowStart = new Date(now.getTime() - LOGIN_WINDOW_SECONDS * 1000)
  const key = loginAttemptKey(attempt.ip, attempt.email)
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`
    await tx`delete from login_attempts where key = ${key} and attempted_at <= ${windowStart}`
    await tx`delete from login_attempts
              where ctid = any(array(select ctid from login_attempts where attempted_at <= ${windowStart}
                                      limit ${PRUNE_BATCH} for update skip locked))`
    const recent = await tx<{ attempted_at: Date }[]>`
      select attempted_at from login_attempts
       where key = ${key} and attempted_at > ${windowStart}
       order by attempted_at asc`
    if (recent.length >= LOGIN_ATTEMPTS_PER_WINDOW) {
      // The attempt that frees a slot is the one that leaves the window first.
      const freesSlotAt = recent[recent.length - LOGIN_ATTEMPTS_PER_WINDOW]!.attempted_at.getTime() + LOGIN_WINDOW_SECONDS * 1000
      const retryAfterSeconds = Math.min(LOGIN_WINDOW_SECONDS, Math.max(1, Math.ceil((freesSlotAt - now.getTime()) / 1000)))
      return { allowed: false, retryAfterSeconds } as const
    }
    await tx`insert into login_attempts (key, attempted_at) values (${key}, ${now})`
    return { allowed: true } as const
  })
}

/**
 * SHA-256 of the normalised email and the IP. Not a secret-keyed hash — a determined reader of the table
 * could test guesses — but the table no longer lists who tried to log in from where at a glance.
 */
export function loginAttemptKey(ip: string, email: string): string {
  return createHash('sha256').update(`${normalizeEmail(email)}\u0000${ip.trim().toLowerCase()}`, 'utf8').digest('hex')
}
