import { Hono, type Context } from 'hono'
import { createConsoleSession, destroyConsoleSession, type ConsoleSessionLifetime } from '../../../auth/console-sessions.js'
import type { LoginRefusalMemory } from '../../../auth/login-refusal-memory.js'
import { passwordLogin } from '../../../auth/password-login.js'
import type { Sql } from '../../../db/database.js'
import { isUnsafeText } from '../../../events/safe-text.js'
import type { EventLog } from '../../../store/event-log.js'
import { clientAddress, rateLimitAddress } from '../../client-address.js'
import { markCredentialsUnchanged } from '../../credentials-unchanged.js'
import { consolePaths, landingPathFor, type ConsoleEnv } from '../console-env.js'
import {
  clearLoginCsrfCookie,
  clearSessionCookie,
  cookiesMustBeSecure,
  readLoginCsrfCookie,
  readSessionCookie,
  setLoginCsrfCookie,
  setSessionCookie,
} from '../cookies.js'
import { CSRF_FIELD, csrfTokensMatch, isCrossOriginRequest, isWellFormedCsrfToken, newCsrfToken, readFormBody } from '../csrf.js'
import { LoginPage, RateLimitedPage, type LoginPageProps } from '../pages/login-page.js'
import { htmlPage, nonceOf } from '../render.js'
import { refuse, requireConsoleCsrf, requireConsoleSession, safeNextPath } from '../session-guard.js'

import type { ScryptParams } from '../../../auth/password-hash.js'

export interface LoginRouteDeps {
  sql: Sql
  log: EventLog
  nodeEnv: string | undefined
  sessionLifetime: ConsoleSessionLifetime
  hashParams?: ScryptParams
  /** Shared with POST /api/auth/tokens (one per app): see `passwordLogin`. */
  loginRefusals: LoginRefusalMemory
}

const MAX_EMAIL_LENGTH = 320
const MAX_PASSWORD_LENGTH = 1024

function formText(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

/**
 * GET/POST /system/login and POST /system/logout. The login form has no session yet, so its CSRF
 * protection is a double-submit cookie (HttpOnly, SameSite=Strict, Path=/system/login) matched against a
 * hidden field. Attempts share the API's rate limit (SPEC §6) and every outcome is audited.
 */
export function loginRoutes(deps: LoginRouteDeps) {
  const secure = (c: Context) => cookiesMustBeSecure(c, deps.nodeEnv)

  /** The form's CSRF token: the browser's current one when it has a valid one (several tabs keep working). */
  const loginCsrfToken = (c: Context<ConsoleEnv>): string => {
    const existing = readLoginCsrfCookie(c)
    const token = isWellFormedCsrfToken(existing) ? existing : newCsrfToken()
    setLoginCsrfCookie(c, token, secure(c))
    return token
  }

  const loginForm = (c: Context<ConsoleEnv>, props: Omit<LoginPageProps, 'nonce' | 'csrfToken'>, status: 200 | 400 | 401 | 503 = 200) =>
    htmlPage(c, <LoginPage nonce={nonceOf(c)} csrfToken={loginCsrfToken(c)} halt={c.get('halt') ?? null} {...props} />, status)

  return new Hono<ConsoleEnv>()
    .get('/login', (c) =>
      loginForm(c, {
        next: safeNextPath(c.req.query('next')),
        notice: c.req.query('logged_out') === '1' ? 'You have logged out.' : null,
      }),
    )
    .post('/login', async (c) => {
      const form = await readFormBody(c)
      const presented = formText(form[CSRF_FIELD])
      if (isCrossOriginRequest(c) || !csrfTokensMatch(readLoginCsrfCookie(c), presented)) {
        return refuse(c, 'page', 403, 'Request refused', 'The login form had expired or was not sent from this site. Reload the login page and try again.')
      }
      const email = formText(form.email).trim().slice(0, MAX_EMAIL_LENGTH)
      const password = formText(form.password)
      const next = safeNextPath(formText(form.next))
      const fieldErrors: { email?: string; password?: string } = {}
      if (email === '') fieldErrors.email = 'Enter your email.'
      else if (isUnsafeText(email)) fieldErrors.email = 'The email contains characters that cannot be used.'
      if (password === '') fieldErrors.password = 'Enter your password.'
      else if (isUnsafeText(password)) fieldErrors.password = 'The password contains characters that cannot be used.'
      else if (password.length > MAX_PASSWORD_LENGTH) fieldErrors.password = `A password has at most ${MAX_PASSWORD_LENGTH} characters.`
      if (fieldErrors.email || fieldErrors.password) return loginForm(c, { email, next, fieldErrors }, 400)

      const { ip, userAgent } = clientAddress(c)
      // The same login path as POST /api/auth/tokens: budgets, hashing gate, audit.
      const result = await passwordLogin(deps, {
        email,
        password,
        ip,
        rateLimitIp: rateLimitAddress(ip),
        userAgent,
        channel: 'console',
        signal: c.req.raw.signal,
      })
      // A refusal changes no credential: the app does not empty or sync the token cache for it.
      if (result.kind !== 'authenticated') markCredentialsUnchanged(c)
      if (result.kind === 'rate_limited') {
        c.header('Retry-After', String(result.retryAfterSeconds))
        const retryAt = new Date(Date.now() + result.retryAfterSeconds * 1000)
        return htmlPage(c, <RateLimitedPage nonce={nonceOf(c)} retryAfterSeconds={result.retryAfterSeconds} retryAt={retryAt} />, 429)
      }
      if (result.kind === 'busy') {
        c.header('Retry-After', String(result.retryAfterSeconds))
        const errors = [`Too many logins are being checked right now. Try again in ${result.retryAfterSeconds} seconds.`]
        return loginForm(c, { email, next, errors }, 503)
      }
      if (result.kind === 'aborted') {
        return refuse(c, 'page', 400, 'Request closed', 'The request was closed before it was answered.')
      }
      if (result.kind === 'failed') {
        return loginForm(c, { email, next, errors: ['Unknown email or wrong password.'] }, 401)
      }
      const operator = result.operator
      // A new session id at every login (no fixation); a session the browser still held ends here.
      await destroyConsoleSession(deps.sql, readSessionCookie(c))
      const session = await createConsoleSession(deps.sql, operator.id, { lifetime: deps.sessionLifetime })
      await result.recordSuccess()
      setSessionCookie(c, session.id, { secure: secure(c), maxAgeSeconds: deps.sessionLifetime.absoluteSeconds })
      clearLoginCsrfCookie(c, secure(c))
      c.header('Cache-Control', 'no-store')
      return c.redirect(next ?? landingPathFor(operator.capabilities), 303)
    })
    .post('/logout', requireConsoleSession(deps, 'page'), requireConsoleCsrf('page'), async (c) => {
      await destroyConsoleSession(deps.sql, readSessionCookie(c))
      clearSessionCookie(c, secure(c))
      c.header('Cache-Control', 'no-store')
      return c.redirect(`${consolePaths.login}?logged_out=1`, 303)
    })
}
