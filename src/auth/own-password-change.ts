import { changeOwnPassword, type OperatorCommandDeps } from '../commands/operators.js'
import type { Actor } from '../commands/actor.js'
import { HashingUnavailableError, loginHashingGate } from './hashing-gate.js'
import { checkAndRecordLoginAttempt } from './login-rate-limit.js'

export type OwnPasswordChangeResult =
  | { kind: 'changed' }
  /** Over the login budget (SPEC §10: a password change checks a password, so it is limited as a login). */
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  /** The hashing gate is saturated (or the client went away while waiting): nothing was changed. */
  | { kind: 'busy'; retryAfterSeconds: number }

/**
 * The one guarded path behind `POST /api/me/password` and the console's account page: the login rate
 * limits first, then the command (`changeOwnPassword`, which verifies the current password and hashes the
 * new one) under the login hashing gate, so a password change is no cheaper a CPU lever than a login.
 * A wrong current password or a weak new one is the command's ValidationError, thrown through.
 */
export async function changeOwnPasswordGuarded(
  deps: OperatorCommandDeps,
  actor: Actor,
  input: { currentPassword: string; password: string },
  request: {
    /** The rate-limit address of the actor's IP (`rateLimitAddress`), as for a login. */
    rateLimitIp: string
    signal?: AbortSignal
  },
): Promise<OwnPasswordChangeResult> {
  const decision = await checkAndRecordLoginAttempt(deps.sql, { ip: request.rateLimitIp, email: actor.email })
  if (!decision.allowed) return { kind: 'rate_limited', retryAfterSeconds: decision.retryAfterSeconds }
  try {
    await loginHashingGate.run(() => changeOwnPassword(deps, actor, input), request.signal)
  } catch (error) {
    if (!(error instanceof HashingUnavailableError)) throw error
    return { kind: 'busy', retryAfterSeconds: error.retryAfterSeconds }
  }
  return { kind: 'changed' }
}
