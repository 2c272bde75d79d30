import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { CONSOLE_BASE, consolePaths } from './console-env.js'

export const SESSION_COOKIE = 'rcp_session'
/** The login form's double-submit CSRF cookie: there is no session yet to hold a token. */
export const LOGIN_CSRF_COOKIE = 'rcp_login_csrf'
const LOGIN_CSRF_MAX_AGE_SECONDS = 3600

/**
 * Whether the console's cookies carry `Secure` (SPEC §6: "Secure outside local development"): yes when the
 * request came over https (directly or, per `X-Forwarded-Proto`, through a TLS-terminating proxy) or the
 * process runs with NODE_ENV=production; no for plain http otherwise (http://localhost), where a Secure
 * cookie would never be sent back and login would be impossible.
 */
export function cookiesMustBeSecure(c: Context, nodeEnv: string | undefined): boolean {
  if (nodeEnv === 'production') return true
  if (new URL(c.req.url).protocol === 'https:') return true
  const forwarded = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase()
  return forwarded === 'https'
}

export function readSessionCookie(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE)
}

/** SameSite=Lax, not Strict: a run link in an alert e-mail must open the run, not the login page. Every
 * state change is a POST carrying the session's CSRF token, so Lax costs no protection. */
export function setSessionCookie(c: Context, id: string, options: { secure: boolean; maxAgeSeconds: number }): void {
  setCookie(c, SESSION_COOKIE, id, {
    httpOnly: true,
    sameSite: 'Lax',
    path: CONSOLE_BASE,
    secure: options.secure,
    maxAge: options.maxAgeSeconds,
  })
}

export function clearSessionCookie(c: Context, secure: boolean): void {
  deleteCookie(c, SESSION_COOKIE, { httpOnly: true, sameSite: 'Lax', path: CONSOLE_BASE, secure })
}

export function readLoginCsrfCookie(c: Context): string | undefined {
  return getCookie(c, LOGIN_CSRF_COOKIE)
}

export function setLoginCsrfCookie(c: Context, token: string, secure: boolean): void {
  setCookie(c, LOGIN_CSRF_COOKIE, token, {
    httpOnly: true,
    sameSite: 'Strict',
    path: consolePaths.login,
    secure,
    maxAge: LOGIN_CSRF_MAX_AGE_SECONDS,
  })
}

export function clearLoginCsrfCookie(c: Context, secure: boolean): void {
  deleteCookie(c, LOGIN_CSRF_COOKIE, { httpOnly: true, sameSite: 'Strict', path: consolePaths.login, secure })
}
