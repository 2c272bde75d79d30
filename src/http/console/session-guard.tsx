import type { Context, MiddlewareHandler } from 'hono'
import { missingCapabilities } from '../../auth/capabilities.js'
import { resolveConsoleSession, type ConsoleSessionLifetime } from '../../auth/console-sessions.js'
import type { Sql } from '../../db/database.js'
import { actorFor } from '../authentication.js'
import { problemJson } from '../problem.js'
import { consolePaths, type ConsoleEnv } from './console-env.js'
import { readSessionCookie } from './cookies.js'
import { csrfTokensMatch, isCrossOriginRequest, presentedCsrfToken } from './csrf.js'
import { ErrorPage } from './pages/error-page.js'
import { htmlPage, nonceOf, viewerOf } from './render.js'

/**
 * How a refusal is answered: pages get a redirect or an HTML page, the console's own script endpoints
 * (tenant search, preflight, the live run stream) get problem+json.
 */
export type Audience = 'page' | 'data'

/**
 * A path the login form may send the operator back to: a console path on this site, nothing else. Judged as
 * the browser will resolve it: `/system/../api/runs` (or its `%2e%2e` spelling) leaves the console.
 */
export function safeNextPath(next: string | undefined | null): string | null {
  if (typeof next !== 'string' || next.length > 2000) return null
  if (!/^\/system\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/.test(next)) return null
  if (next.includes('//')) return null
  const resolved = new URL(next, 'http://console.invalid')
  const path = resolved.pathname + resolved.search
  if (!path.startsWith('/system/') || path.startsWith(consolePaths.login) || path.startsWith(consolePaths.logout)) return null
  return path
}

function loginRedirect(c: Context<ConsoleEnv>): Response {
  const here = new URL(c.req.url)
  const next = c.req.method === 'GET' ? safeNextPath(here.pathname + here.search) : null
  c.header('Cache-Control', 'no-store')
  return c.redirect(next ? `${consolePaths.login}?next=${encodeURIComponent(next)}` : consolePaths.login, 303)
}

/**
 * For long-lived responses (the live run stream): whether the request's session still exists and its
 * operator still holds `capability` — a logout or a revoked capability must end the stream too.
 */
export async function sessionStillAllows(
  c: Context<ConsoleEnv>,
  deps: { sql: Sql; lifetime?: ConsoleSessionLifetime },
  capability: string,
): Promise<boolean> {
  const session = await resolveConsoleSession(deps.sql, readSessionCookie(c), deps.lifetime ? { lifetime: deps.lifetime } : {})
  return session !== null && session.operator.capabilities.includes(capability)
}

/** Every console route but the login form: a live session, whose operator becomes the request's actor. */
export function requireConsoleSession(deps: { sql: Sql; lifetime?: ConsoleSessionLifetime }, audience: Audience): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    const session = await resolveConsoleSession(deps.sql, readSessionCookie(c), deps.lifetime ? { lifetime: deps.lifetime } : {})
    if (!session) {
      if (audience === 'data') return problemJson(c, 401, 'no console session, or it expired: log in again at /system/login')
      return loginRedirect(c)
    }
    const { operator } = session
    c.set('session', session)
    c.set('actor', actorFor(operator, c))
    await next()
  }
}

/** The capabilities a route needs, checked on the server whatever the page showed (SPEC §6). */
export function requireConsoleCapability(audience: Audience, ...needed: string[]): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    const missing = missingCapabilities(c.get('actor').capabilities, needed)
    if (missing.length === 0) return next()
    return refuse(c, audience, 403, 'Not allowed', `You lack the capability needed here: ${missing.join(', ')}.`, { missingCapabilities: missing })
  }
}

/**
 * Every state-changing request of a session carries the session's CSRF token (form field or header). A form
 * post carries it in its body, so this comes after the route's capability checks (the body is read last).
 */
export function requireConsoleCsrf(audience: Audience): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => (await csrfRefusal(c, audience)) ?? next()
}

/** The refusal of a request whose CSRF token is missing or wrong, or null; for handlers that check access first. */
export async function csrfRefusal(c: Context<ConsoleEnv>, audience: Audience): Promise<Response | null> {
  const token = await presentedCsrfToken(c)
  if (!isCrossOriginRequest(c) && csrfTokensMatch(c.get('session').csrfToken, token)) return null
  return refuse(
    c,
    audience,
    403,
    'Request refused',
    'The form was missing its security token or it did not match your session. Reload the page and try again.',
  )
}

export function refuse(
  c: Context<ConsoleEnv>,
  audience: Audience,
  status: 403 | 404 | 405 | 400,
  title: string,
  message: string,
  extensions: Record<string, unknown> = {},
): Response | Promise<Response> {
  if (audience === 'data') return problemJson(c, status, message, extensions)
  return htmlPage(c, <ErrorPage nonce={nonceOf(c)} viewer={viewerOf(c)} title={title} message={message} />, status)
}
