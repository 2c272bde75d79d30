import { randomUUID } from 'node:crypto'
import { createOperator } from '../../../src/auth/operator-store.js'
import { cheapScryptParamsForTests } from '../../../src/auth/password-hash.js'
import type { TestService } from '../../support/service.js'

/** A console response: status, headers, body text and the cookies it set (name → full Set-Cookie line). */
export interface ConsoleResponse {
  status: number
  headers: Headers
  text: string
  setCookies: Map<string, string>
}

export interface ConsoleRequest {
  /** Cookies to send, name → value. */
  cookies?: Record<string, string>
  /** Sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>
  /** Sent as application/json. */
  json?: unknown
  headers?: Record<string, string>
}

/** One request to the console, as a browser would send it (cookies by hand, redirects not followed). */
export async function consoleRequest(service: TestService, method: string, path: string, request: ConsoleRequest = {}): Promise<ConsoleResponse> {
  const headers: Record<string, string> = { accept: 'text/html', ...request.headers }
  if (request.cookies) headers.cookie = Object.entries(request.cookies).map(([name, value]) => `${name}=${value}`).join('; ')
  let body: string | undefined
  if (request.form) {
    body = new URLSearchParams(request.form).toString()
    headers['content-type'] = 'application/x-www-form-urlencoded'
  } else if (request.json !== undefined) {
    body = JSON.stringify(request.json)
    headers['content-type'] = 'application/json'
  }
  const response = await fetch(service.baseUrl + path, { method, headers, body, redirect: 'manual' })
  const setCookies = new Map<string, string>()
  for (const line of response.headers.getSetCookie()) setCookies.set(line.slice(0, line.indexOf('=')), line)
  return { status: response.status, headers: response.headers, text: await response.text(), setCookies }
}

/** The value a Set-Cookie line sets. */
export function cookieValue(setCookie: string | undefined): string {
  if (!setCookie) throw new Error('no such Set-Cookie')
  return decodeURIComponent(setCookie.slice(setCookie.indexOf('=') + 1).split(';')[0]!)
}

/** The attributes of a Set-Cookie line, without its name=value. */
export function cookieAttributes(setCookie: string): string[] {
  return setCookie.split(';').slice(1).map((part) => part.trim())
}

/** The value of the first hidden `_csrf` field of a page. */
export function csrfFieldOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html)
  if (!match) throw new Error(`no _csrf field in the page: ${html.slice(0, 300)}`)
  return match[1]!
}

export interface LoginForm {
  csrf: string
  cookies: Record<string, string>
}

export async function openLoginForm(service: TestService): Promise<LoginForm> {
  const page = await consoleRequest(service, 'GET', '/system/login')
  if (page.status !== 200) throw new Error(`login form answered ${page.status}`)
  return { csrf: csrfFieldOf(page.text), cookies: { rcp_login_csrf: cookieValue(page.setCookies.get('rcp_login_csrf')) } }
}

export async function submitLogin(service: TestService, credentials: { email: string; password: string }, form?: LoginForm): Promise<ConsoleResponse> {
  const { csrf, cookies } = form ?? (await openLoginForm(service))
  return consoleRequest(service, 'POST', '/system/login', { cookies, form: { _csrf: csrf, ...credentials } })
}

/** A logged-in console session: its cookie and its CSRF token (read from a page, as a browser would). */
export interface ConsoleSession {
  cookies: Record<string, string>
  csrf: string
}

export async function consoleLogin(service: TestService, credentials: { email: string; password: string }): Promise<ConsoleSession> {
  const response = await submitLogin(service, credentials)
  if (response.status !== 303) throw new Error(`console login answered ${response.status}: ${response.text.slice(0, 300)}`)
  const cookies = { rcp_session: cookieValue(response.setCookies.get('rcp_session')) }
  const page = await consoleRequest(service, 'GET', '/system/ops/runs', { cookies })
  const fallback = page.status === 200 ? page : await consoleRequest(service, 'GET', '/system/ops/runbooks', { cookies })
  return { cookies, csrf: csrfFieldOf(fallback.text) }
}

/** Creates an operator with exactly these capabilities and returns its credentials. */
export async function createConsoleOperator(service: TestService, capabilities: string[], isBreakGlass = false) {
  const email = `console-${randomUUID().slice(0, 8)}@ops.test`
  const password = `pw-${randomUUID()}`
  await createOperator(
    service.sql,
    { email, name: `Console operator ${email}`, password, capabilities, isBreakGlass },
    { hashParams: { ...cheapScryptParamsForTests } },
  )
  return { email, password }
}

/** Server-sent events of a finished stream: [{event, data}]. */
export function parseServerSentEvents(text: string): Array<{ event: string; data: string }> {
  return text
    .split(/\n\n/)
    .map((block) => block.split('\n'))
    .map((lines) => ({
      event: lines.find((line) => line.startsWith('event:'))?.slice(6).trim() ?? 'message',
      data: lines.filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart()).join('\n'),
    }))
    .filter((message) => message.data !== '')
}
