import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { CONSOLE_BASE, consolePaths } from './console-env.js'

export const SESSION_COOKIE = 'rcp_session'
/** The login form's double-submit CSRF cookie: there is no session yet to hold a token. */
export const LOGIN_CSRF_COOKIE = 'rcp_login_csrf'
const LOGIN_CSRF_MAX_AGE_SECONDS = 3600

/**
 * Whether the console's cookies carry `Secure` (SPEC §6: "Secure outside local development"): always, except
 * for plain http to a loopback host (http://localhost, 127.0.0.1, ::1) outside NODE_ENV=production — local
 * development, where a Secure cookie would never be sent back and login would be impossible. A remote
 * http address gets Secure cookies too: the console is meant to be served over TLS there.
 */
export function cookiesMustBeSecure(c: Context, nodeEnv: string | undefined): boolean {
  if (nodeEnv === 'production') return true
  const url = new URL(c.req.url)
  if (url.protocol === 'https:') return true
  const forwarded = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase()
  if (forwarded === 'https') return true
  return !isLoopbackHost(url.hostname)
}

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
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
