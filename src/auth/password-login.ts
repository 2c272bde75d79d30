import { recordLoginAttempt } from '../commands/record-login.js'
import type { Sql } from '../db/database.js'
import type { EventLog } from '../store/event-log.js'
import { HashingUnavailableError, loginHashingGate, type HashingGate } from './hashing-gate.js'
import type { LoginRefusalMemory } from './login-refusal-memory.js'
import { checkAndRecordLoginAttempt, returnAddressAttempt } from './login-rate-limit.js'
import { authenticate, type Operator } from './operator-store.js'
import type { ScryptParams } from './password-hash.js'

export interface PasswordLoginDeps {
  sql: Sql
  log: EventLog
  /** The hashing gate; the process-wide one unless a test brings its own. */
  gate?: HashingGate
  /**
   * The refusals still in force that this process has seen (one per app, shared by the API and console
   * logins): an address refused for the rest of its window is refused again from here, before the gate.
   */
  loginRefusals: LoginRefusalMemory
  /** The cost a stored hash is upgraded to at login (`needsRehash`); the default unless a test says. */
  hashParams?: ScryptParams
}

export interface PasswordLoginAttempt {
  email: string
  password: string
  ip: string | null
  /** The rate-limit address of `ip` (`rateLimitAddress`: an IPv6 client is its /64). */
  rateLimitIp: string
  userAgent: string | null
  channel: 'api' | 'console'
  /** The request's abort signal: a client that went away costs no hash. */
  signal?: AbortSignal
}

export type PasswordLoginResult =
  | { kind: 'authenticated'; operator: Operator; recordSuccess: () => Promise<void> }
  | { kind: 'failed' }
  /** Over a budget (SPEC §6): 429 + Retry-After. */
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  /** Every hashing slot busy and the wait queue full (or the wait too long): 503 + Retry-After. */
  | { kind: 'busy'; retryAfterSeconds: number }
  /** The client went away before its password was hashed: nothing was done or recorded. */
  | { kind: 'aborted' }

/**
 * The one login path behind `POST /api/auth/tokens` and the console's `/system/login`:
 *
 * 1. an address (or address + email) the budget already refused for the rest of its window is refused at
 *    once with 429 and the remaining Retry-After: no gate slot, no database round trip, nothing stored
 *    (its episode's first refusal was recorded) — so a flooding address cannot hold the in-flight slots
 *    that logins from other addresses need;
 * 2. an address with its share of logins already in flight is refused at once (429), and a saturated
 *    hashing gate or too many logins in flight in this process is refused at once (503) — no budget
 *    spent, nothing stored;
 * 3. the rate limits (per IP + email, per IP) refuse with 429; only the first refusal of an episode is
 *    recorded (LoginRateLimited), later ones in the same window store nothing;
 * 4. the password is checked under the hashing gate (bounded concurrency, bounded queue, abort-aware);
 * 5. a failure is recorded (LoginFailed — bounded per IP by the per-IP budget); a success is recorded by
 *    the caller through `recordSuccess` once it has issued its token or session.
 */
export async function passwordLogin(deps: PasswordLoginDeps, attempt: PasswordLoginAttempt): Promise<PasswordLoginResult> {
  const gate = deps.gate ?? loginHashingGate
  if (attempt.signal?.aborted) return { kind: 'aborted' }
  const refused = deps.loginRefusals.refusalOf({ ip: attempt.rateLimitIp, email: attempt.email })
  if (refused) return { kind: 'rate_limited', retryAfterSeconds: refused.retryAfterSeconds }
  const entry = gate.tryEnter(attempt.rateLimitIp)
  if (entry === 'address_busy') return { kind: 'rate_limited', retryAfterSeconds: gate.options.retryAfterSeconds }
  if (entry === 'busy') return { kind: 'busy', retryAfterSeconds: gate.options.retryAfterSeconds }
  try {
    return await admittedLogin(deps, gate, attempt)
  } finally {
    gate.leave(attempt.rateLimitIp)
  }
}

async function admittedLogin(deps: PasswordLoginDeps, gate: HashingGate, attempt: PasswordLoginAttempt): Promise<PasswordLoginResult> {
  const { email, password, ip, userAgent, channel, signal } = attempt
  const recorded = { email, ip, userAgent, channel }
  const attemptedAt = new Date()
  const decision = await checkAndRecordLoginAttempt(deps.sql, { ip: attempt.rateLimitIp, email, now: attemptedAt })
  if (!decision.allowed) {
    deps.loginRefusals.remember({ ip: attempt.rateLimitIp, email }, decision)
    if (decision.firstRefusalInWindow) {
      await recordLoginAttempt(deps.log, { ...recorded, outcome: { kind: 'rate_limited', retryAfterSeconds: decision.retryAfterSeconds } })
    }
    return { kind: 'rate_limited', retryAfterSeconds: decision.retryAfterSeconds }
  }

  let operator: Operator | null
  try {
    operator = await gate.run(() => authenticate(deps.sql, email, password, deps.hashParams ? { hashParams: deps.hashParams } : {}), signal)
  } catch (error) {
    if (!(error instanceof HashingUnavailableError)) throw error
    if (error.reason === 'aborted') return { kind: 'aborted' }
    return { kind: 'busy', retryAfterSeconds: error.retryAfterSeconds }
  }
  if (!operator) {
    await recordLoginAttempt(deps.log, { ...recorded, outcome: { kind: 'failed' } })
    return { kind: 'failed' }
  }
  const found = operator
  // Not giving it back only costs the address one attempt of its budget: never the login itself.
  await returnAddressAttempt(deps.sql, attempt.rateLimitIp, attemptedAt).catch(() => {})
  return {
    kind: 'authenticated',
    operator: found,
    recordSuccess: () => recordLoginAttempt(deps.log, { ...recorded, outcome: { kind: 'succeeded', operatorId: found.id } }),
  }
}
