import { createHash } from 'node:crypto'
import type { Sql } from '../db/database.js'
import { normalizeEmail } from './email.js'

/** SPEC §6: 10 attempts per minute per IP + username, for every endpoint that takes a password. */
export const LOGIN_ATTEMPTS_PER_WINDOW = 10
/**
 * Beside it, a budget per IP whatever the username: without it one address trying distinct emails costs
 * the service one memory-hard hash (and one stored failed-login event) per email, without bound. This
 * also bounds the failed-login events one address can make the service store: at most this many a minute.
 * A login whose password was right gives its attempt back (`returnAddressAttempt`): many operators behind
 * one address (an office, a VPN, a test suite on loopback) logging in rightly never lock each other out.
 */
export const LOGIN_ATTEMPTS_PER_IP_PER_WINDOW = 30
export const LOGIN_WINDOW_SECONDS = 60

/** Old rows of other keys removed per call: keeps the table small without one call doing unbounded work. */
const PRUNE_BATCH = 100

/** Which budget refused an attempt: the (IP, email) one of SPEC §6, or the per-IP one. */
export type LoginLimit = 'ip_email' | 'ip'

export type LoginAttemptDecision =
  | { allowed: true }
  | {
      allowed: false
      retryAfterSeconds: number
      limit: LoginLimit
      /**
       * True for the first refusal of a rate-limit episode (per refusing key and window): the caller
       * records that one (a LoginRateLimited event); later refusals in the same window are answered 429
       * and stored nowhere, so hammering a locked key costs the service no storage.
       */
      firstRefusalInWindow: boolean
    }

/**
 * Decides whether this login attempt may go ahead and, if so, records it — atomically, in PostgreSQL, so
 * that every API process shares one budget and concurrent attempts never exceed it (per-key advisory
 * locks, the IP's first then the (IP, email) one, serialise attempts on the same keys; different keys do
 * not wait for each other).
 *
 * Only allowed attempts are recorded: someone hammering a locked key does not extend the lock-out, the
 * window simply slides past the allowed ones. A refusal stores at most one marker row per key and window
 * (to tell the first refusal of an episode from the rest). Stored keys are hashes, not the raw pair.
 * Rows that left the window are pruned on the way (the key's own, and a bounded batch of others).
 */
export async function checkAndRecordLoginAttempt(
  sql: Sql,
  attempt: { ip: string; email: string; now?: Date },
): Promise<LoginAttemptDecision> {
  const now = attempt.now ?? new Date()
  const windowStart = new Date(now.getTime() - LOGIN_WINDOW_SECONDS * 1000)
  const key = loginAttemptKey(attempt.ip, attempt.email)
  const ipKey = loginAddressKey(attempt.ip)
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended(${ipKey}, 0))`
    await tx`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`
    const keys = [key, ipKey, refusalMarker(key), refusalMarker(ipKey)]
    await tx`delete from login_attempts where key = any(${keys}) and attempted_at <= ${windowStart}`
    await tx`delete from login_attempts
              where ctid = any(array(select ctid from login_attempts where attempted_at <= ${windowStart}
                                      limit ${PRUNE_BATCH} for update skip locked))`
    const refusals: Array<{ key: string; limit: LoginLimit; retryAfterSeconds: number }> = []
    for (const [budgetKey, limit, budget] of [
      [key, 'ip_email', LOGIN_ATTEMPTS_PER_WINDOW],
      [ipKey, 'ip', LOGIN_ATTEMPTS_PER_IP_PER_WINDOW],
    ] as const) {
      const recent = await tx<{ attempted_at: Date }[]>`
        select attempted_at from login_attempts
         where key = ${budgetKey} and attempted_at > ${windowStart}
         order by attempted_at asc`
      if (recent.length >= budget) {
        // The attempt that frees a slot is the one that leaves the window first.
        const freesSlotAt = recent[recent.length - budget]!.attempted_at.getTime() + LOGIN_WINDOW_SECONDS * 1000
        const retryAfterSeconds = Math.min(LOGIN_WINDOW_SECONDS, Math.max(1, Math.ceil((freesSlotAt - now.getTime()) / 1000)))
        refusals.push({ key: budgetKey, limit, retryAfterSeconds })
      }
    }
    if (refusals.length > 0) {
      let firstRefusalInWindow = false
      for (const refusal of refusals) {
        const marker = refusalMarker(refusal.key)
        const [seen] = await tx`select 1 from login_attempts where key = ${marker} and attempted_at > ${windowStart} limit 1`
        if (!seen) {
          firstRefusalInWindow = true
          await tx`insert into login_attempts (key, attempted_at) values (${marker}, ${now})`
        }
      }
      const longest = refusals.reduce((a, b) => (b.retryAfterSeconds > a.retryAfterSeconds ? b : a))
      return { allowed: false, retryAfterSeconds: longest.retryAfterSeconds, limit: longest.limit, firstRefusalInWindow } as const
    }
    await tx`insert into login_attempts (key, attempted_at) values (${key}, ${now}), (${ipKey}, ${now})`
    return { allowed: true } as const
  })
}

/**
 * Gives a right password's attempt back to its address's budget: the row its attempt recorded (`attemptedAt`,
 * the `now` it was checked with), not a later one. The (IP, email) budget of SPEC §6 keeps counting every attempt.
 */
export async function returnAddressAttempt(sql: Sql, ip: string, attemptedAt: Date): Promise<void> {
  const ipKey = loginAddressKey(ip)
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended(${ipKey}, 0))`
    await tx`
      delete from login_attempts
      where ctid = (select ctid from login_attempts where key = ${ipKey} and attempted_at = ${attemptedAt} limit 1)`
  })
}

/**
 * SHA-256 of the normalised email and the IP. Not a secret-keyed hash — a determined reader of the table
 * could test guesses — but the table no longer lists who tried to log in from where at a glance.
 */
export function loginAttemptKey(ip: string, email: string): string {
  return createHash('sha256').update(`${normalizeEmail(email)}\u0000${ip.trim().toLowerCase()}`, 'utf8').digest('hex')
}

/** The per-IP budget's key (a different hash input shape than `loginAttemptKey`, so the two never meet). */
export function loginAddressKey(ip: string): string {
  return createHash('sha256').update(`ip\u0000${ip.trim().toLowerCase()}`, 'utf8').digest('hex')
}

/** The row that says "this key's refusal episode was already recorded in this window". */
function refusalMarker(key: string): string {
  return `${key}:refused`
}
