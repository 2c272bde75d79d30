import { Hono, type Context } from 'hono'
import { changeOwnPasswordGuarded, type OwnPasswordChangeResult } from '../../../auth/own-password-change.js'
import type { ConsoleSessionLifetime } from '../../../auth/console-sessions.js'
import { ValidationError, type FieldProblem } from '../../../commands/errors.js'
import { me } from '../../../commands/operators.js'
import type { Sql } from '../../../db/database.js'
import { rateLimitAddress } from '../../client-address.js'
import type { EventLog } from '../../../store/event-log.js'
import { consolePaths, type ConsoleEnv } from '../console-env.js'
import { clearSessionCookie, cookiesMustBeSecure } from '../cookies.js'
import { readFormBody } from '../csrf.js'
import { AccountPage } from '../pages/account-page.js'
import { htmlPage, nonceOf, viewerOf } from '../render.js'
import { requireConsoleCsrf, requireConsoleSession } from '../session-guard.js'

import type { ScryptParams } from '../../../auth/password-hash.js'

export interface AccountRouteDeps {
  sql: Sql
  log: EventLog
  knownCapabilities: readonly string[]
  nodeEnv: string | undefined
  lifetime?: ConsoleSessionLifetime
  hashParams?: ScryptParams
}

/**
 * GET /system/ops/me (every signed-in operator) and POST …/me/password (own password change, current +
 * new; rate-limited as a login and hashed through the login hashing gate, like `POST /api/me/password`). The command revokes every session of the operator, this one included, so a success clears the
 * cookie and sends the browser to the login page.
 */
export function consoleAccountRoutes(deps: AccountRouteDeps) {
  const page = async (c: Context<ConsoleEnv>, problems: FieldProblem[], status: 200 | 422 | 429 | 503 = 200, message: string | null = null) =>
    htmlPage(
      c,
      <AccountPage nonce={nonceOf(c)} viewer={viewerOf(c)!} me={await me(deps, c.get('actor'))} problems={problems} message={message} />,
      status,
    )

  return new Hono<ConsoleEnv>()
    .get('/me', requireConsoleSession(deps, 'page'), (c) => page(c, []))
    .post('/me/password', requireConsoleSession(deps, 'page'), requireConsoleCsrf('page'), async (c) => {
      const body = await readFormBody(c)
      const text = (name: string) => (typeof body[name] === 'string' ? (body[name] as string).slice(0, 1000) : '')
      const actor = c.get('actor')
      const input = { currentPassword: text('currentPassword'), password: text('password') }
      let result: OwnPasswordChangeResult
      try {
        result = await changeOwnPasswordGuarded(deps, actor, input, { rateLimitIp: rateLimitAddress(actor.ip), signal: c.req.raw.signal })
      } catch (error) {
        if (error instanceof ValidationError) return page(c, error.fields, 422)
        throw error
      }
      if (result.kind !== 'changed') {
        c.header('Retry-After', String(result.retryAfterSeconds))
        return result.kind === 'rate_limited'
          ? page(c, [], 429, `Too many password attempts: try again in ${result.retryAfterSeconds} s. Nothing was changed.`)
          : page(c, [], 503, 'The service is busy checking passwords: try again in a moment. Nothing was changed.')
      }
      clearSessionCookie(c, cookiesMustBeSecure(c, deps.nodeEnv))
      c.header('Cache-Control', 'no-store')
      return c.redirect(`${consolePaths.login}?next=${encodeURIComponent(consolePaths.account)}`, 303)
    })
}
