import { Hono, type Context } from 'hono'
import { allCapabilities } from '../../../auth/capabilities.js'
import { HashingUnavailableError, loginHashingGate } from '../../../auth/hashing-gate.js'
import { checkAndRecordLoginAttempt } from '../../../auth/login-rate-limit.js'
import type { ConsoleSessionLifetime } from '../../../auth/console-sessions.js'
import { ValidationError, type FieldProblem } from '../../../commands/errors.js'
import { changeOwnPassword, me } from '../../../commands/operators.js'
import type { Sql } from '../../../db/database.js'
import { rateLimitAddress } from '../../client-address.js'
import { runbookCatalog } from '../../../runbooks/catalog.js'
import type { EventLog } from '../../../store/event-log.js'
import { consolePaths, type ConsoleEnv } from '../console-env.js'
import { clearSessionCookie, cookiesMustBeSecure } from '../cookies.js'
import { readFormBody } from '../csrf.js'
import { AccountPage } from '../pages/account-page.js'
import { htmlPage, nonceOf, viewerOf } from '../render.js'
import { requireConsoleCsrf, requireConsoleSession } from '../session-guard.js'

export interface AccountRouteDeps {
  sql: Sql
  log: EventLog
  nodeEnv: string | undefined
  lifetime?: ConsoleSessionLifetime
}

/**
 * GET /system/ops/me (every signed-in operator) and POST …/me/password (own password change, current +
 * new; rate-limited as a login and hashed through the login hashing gate, like `POST /api/me/password`). The command revokes every session of the operator, this one included, so a success clears the
 * cookie and sends the browser to the login page.
 */
export function consoleAccountRoutes(deps: AccountRouteDeps) {
  const knownCapabilities = allCapabilities(runbookCatalog.map((r) => r.requiredCapability))
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
      // Rate-limited as a login (SPEC §10), as `POST /api/me/password` is: it checks a password.
      const decision = await checkAndRecordLoginAttempt(deps.sql, { ip: rateLimitAddress(actor.ip), email: actor.email })
      if (!decision.allowed) {
        c.header('Retry-After', String(decision.retryAfterSeconds))
        return page(c, [], 429, `Too many password attempts: try again in ${decision.retryAfterSeconds} s. Nothing was changed.`)
      }
      try {
        await loginHashingGate.run(
          () => changeOwnPassword({ sql: deps.sql, log: deps.log, knownCapabilities }, actor, { currentPassword: text('currentPassword'), password: text('password') }),
          c.req.raw.signal,
        )
      } catch (error) {
        if (error instanceof ValidationError) return page(c, error.fields, 422)
        if (error instanceof HashingUnavailableError) {
          c.header('Retry-After', String(error.retryAfterSeconds))
          return page(c, [], 503, 'The service is busy checking passwords: try again in a moment. Nothing was changed.')
        }
        throw error
      }
      clearSessionCookie(c, cookiesMustBeSecure(c, deps.nodeEnv))
      c.header('Cache-Control', 'no-store')
      return c.redirect(`${consolePaths.login}?next=${encodeURIComponent(consolePaths.account)}`, 303)
    })
}
