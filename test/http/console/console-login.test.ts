import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashSessionId } from '../../../src/auth/console-sessions.js'
import { listAudit } from '../../../src/projections/queries.js'
import { serviceFlavours, testAdmin, waitUntil, type TestService } from '../../support/service.js'
import {
  consoleLogin,
  consoleRequest,
  cookieAttributes,
  cookieValue,
  createConsoleOperator,
  openLoginForm,
  submitLogin,
} from './console-client.js'

const everyCapability = [
  'platform.ops.view',
  'platform.runbooks.view',
  'platform.runbooks.run',
  'platform.runbooks.findings.lifecycle_backfill',
]

async function auditEntry(service: TestService, action: string, email: string) {
  let found: Awaited<ReturnType<typeof listAudit>>['items'][number] | undefined
  await waitUntil(async () => {
    const { items } = await listAudit(service.sql, { action, limit: 200 })
    found = items.find((entry) => entry.actorEmail === email)
    return found !== undefined
  }, `audit ${action} for ${email}`, 10_000)
  return found!
}

describe.each(serviceFlavours())('console login, sessions and CSRF: $name', (flavour) => {
  let service: TestService
  /** A fresh operator with every capability: the login budget is per email, and these tests log in a lot. */
  const admin = () => createConsoleOperator(service, everyCapability)

  beforeAll(async () => {
    service = await flavour.start()
  })

  afterAll(async () => {
    await service?.close()
  })

  it('serves a labelled login form with a CSRF cookie, under a CSP whose nonce the inline style carries', async () => {
    const page = await consoleRequest(service, 'GET', '/system/login')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(page.text).toMatch(/^<!doctype html>/)
    expect(page.text).toContain('<label for="login-email">Email</label>')
    expect(page.text).toContain('<label for="login-password">Password</label>')
    const csp = page.headers.get('content-security-policy') ?? ''
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1]
    expect(nonce, csp).toBeDefined()
    expect(csp).toContain(`style-src 'nonce-${nonce}'`)
    expect(csp).not.toContain('unsafe-inline')
    expect(page.text).toContain(`<style nonce="${nonce}">`)
    const csrfCookie = page.setCookies.get('rcp_login_csrf')!
    expect(cookieAttributes(csrfCookie).sort()).toEqual(['HttpOnly', 'Max-Age=3600', 'Path=/system/login', 'SameSite=Strict'])
    // A second page load gets a different nonce.
    const again = await consoleRequest(service, 'GET', '/system/login')
    expect(again.headers.get('content-security-policy')).not.toContain(nonce)
    expect(page.headers.get('x-frame-options')).toBe('DENY')
  })

  it('answers a form body that cannot be parsed with 400, with or without a session, never 5xx', async () => {
    const broken = { 'content-type': 'multipart/form-data; boundary=xx' }
    for (const path of ['/system/login', '/system/logout', '/system/ops/runbooks/findings.lifecycle.backfill/runs']) {
      const response = await fetch(service.baseUrl + path, { method: 'POST', headers: broken, body: '--xx\r\nbroken', redirect: 'manual' })
      expect(response.status, path).toBeLessThan(500)
    }
    const login = await fetch(service.baseUrl + '/system/login', { method: 'POST', headers: broken, body: '--xx\r\nbroken', redirect: 'manual' })
    expect(login.status).toBe(400)
  })

  it('logs in: a session cookie with exactly HttpOnly, SameSite=Lax, Path=/system (not Secure over http), a redirect to the runbooks, an audit entry', async () => {
    const response = await submitLogin(service, testAdmin)
    expect(response.status, response.text).toBe(303)
    expect(response.headers.get('location')).toBe('/system/ops/runbooks')
    const cookie = response.setCookies.get('rcp_session')!
    expect(cookieAttributes(cookie).sort()).toEqual(['HttpOnly', 'Max-Age=28800', 'Path=/system', 'SameSite=Lax'])
    expect(cookieValue(cookie)).toMatch(/^[A-Za-z0-9_-]{43}$/)
    // The session id itself is never stored, only its hash.
    const [stored] = await service.sql<{ count: number }[]>`
      select count(*)::int as count from console_sessions where id_hash = ${cookieValue(cookie)}`
    expect(stored!.count).toBe(0)
    const page = await consoleRequest(service, 'GET', '/system/ops/runbooks', { cookies: { rcp_session: cookieValue(cookie) } })
    expect(page.status).toBe(200)
    expect(page.text).toContain(testAdmin.email)
    const entry = await auditEntry(service, 'platform.ops.login.succeeded', testAdmin.email)
    expect(entry.context).toMatchObject({ channel: 'console', email: testAdmin.email })
  })

  it('marks the session cookie Secure when the request came over https (X-Forwarded-Proto)', async () => {
    const operator = await admin()
    const form = await openLoginForm(service)
    const response = await consoleRequest(service, 'POST', '/system/login', {
      cookies: form.cookies,
      form: { _csrf: form.csrf, ...operator },
      headers: { 'x-forwarded-proto': 'https' },
    })
    expect(response.status).toBe(303)
    expect(cookieAttributes(response.setCookies.get('rcp_session')!)).toContain('Secure')
  })

  it('gives a new session id at every login and ends the session the browser still held', async () => {
    const operator = await admin()
    const first = await consoleLogin(service, operator)
    const form = await openLoginForm(service)
    const second = await consoleRequest(service, 'POST', '/system/login', {
      cookies: { ...form.cookies, ...first.cookies },
      form: { _csrf: form.csrf, ...operator },
    })
    expect(second.status).toBe(303)
    const secondId = cookieValue(second.setCookies.get('rcp_session'))
    expect(secondId).not.toBe(first.cookies.rcp_session)
    const old = await consoleRequest(service, 'GET', '/system/ops/runs', { cookies: first.cookies })
    expect(old.status).toBe(303)
    expect(old.headers.get('location')).toMatch(/^\/system\/login/)
  })

  it('answers a wrong password with the form again, an error, and an audit entry; no session', async () => {
    const operator = await createConsoleOperator(service, ['platform.ops.view'])
    const response = await submitLogin(service, { email: operator.email, password: 'not the password' })
    expect(response.status).toBe(401)
    expect(response.text).toContain('Unknown email or wrong password.')
    expect(response.text).toContain(`value="${operator.email}"`)
    expect(response.text).toContain('name="password"')
    expect(response.setCookies.has('rcp_session')).toBe(false)
    const entry = await auditEntry(service, 'platform.ops.login.failed', operator.email)
    expect(entry.context).toMatchObject({ channel: 'console' })
  })

  it('asks for missing fields without counting an attempt', async () => {
    const response = await submitLogin(service, { email: '', password: '' })
    expect(response.status).toBe(400)
    expect(response.text).toContain('Enter your email.')
    expect(response.text).toContain('Enter your password.')
  })

  it('refuses the 11th attempt in a minute with a 429 page saying when to retry, audited', async () => {
    const email = 'hammered@ops.test'
    const form = await openLoginForm(service)
    for (let attempt = 1; attempt <= 10; attempt++) {
      const response = await submitLogin(service, { email, password: `guess ${attempt}` }, form)
      expect(response.status, `attempt ${attempt}`).toBe(401)
    }
    const refused = await submitLogin(service, { email, password: 'guess 11' }, form)
    expect(refused.status).toBe(429)
    const retryAfter = Number(refused.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect(refused.text).toContain(`Try again in ${retryAfter} seconds`)
    expect(refused.text).toMatch(/<time datetime="\d{4}-\d\d-\d\dT[^"]+">\d\d:\d\d:\d\d UTC<\/time>/)
    const entry = await auditEntry(service, 'platform.ops.login.rate_limited', email)
    expect(entry.context).toMatchObject({ channel: 'console', retry_after_seconds: retryAfter })
    // The API shares the budget (SPEC §6: per IP + username, whatever the endpoint).
    const api = await service.request('POST', '/api/auth/tokens', { json: { email, password: 'guess 12' } })
    expect(api.status).toBe(429)
  })

  describe('CSRF on the login form', () => {
    it.each([
      ['without a token', (csrf: string) => ({ form: { email: testAdmin.email, password: testAdmin.password }, cookies: { rcp_login_csrf: csrf } })],
      ['without the cookie', (csrf: string) => ({ form: { _csrf: csrf, ...testAdmin } })],
      ['with a wrong token', (csrf: string) => ({ form: { _csrf: csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')), ...testAdmin }, cookies: { rcp_login_csrf: csrf } })],
      ['from another origin', (csrf: string) => ({ form: { _csrf: csrf, ...testAdmin }, cookies: { rcp_login_csrf: csrf }, headers: { origin: 'https://evil.example' } })],
    ])('refuses a login %s: 403, no session, nothing appended', async (_, build) => {
      const form = await openLoginForm(service)
      const before = await service.eventCount()
      const response = await consoleRequest(service, 'POST', '/system/login', build(form.csrf))
      expect(response.status).toBe(403)
      expect(response.text).toContain('Request refused')
      expect(response.setCookies.has('rcp_session')).toBe(false)
      expect(await service.eventCount()).toBe(before)
    })
  })

  describe('logout', () => {
    it('refuses a logout without or with a wrong CSRF token (403) and keeps the session', async () => {
      const session = await consoleLogin(service, await admin())
      for (const form of [{}, { _csrf: 'x'.repeat(43) }] as Record<string, string>[]) {
        const response = await consoleRequest(service, 'POST', '/system/logout', { cookies: session.cookies, form })
        expect(response.status).toBe(403)
      }
      expect((await consoleRequest(service, 'GET', '/system/ops/runs', { cookies: session.cookies })).status).toBe(200)
    })

    it('destroys the session: the cookie is cleared and no longer opens a page', async () => {
      const session = await consoleLogin(service, await admin())
      const response = await consoleRequest(service, 'POST', '/system/logout', { cookies: session.cookies, form: { _csrf: session.csrf } })
      expect(response.status).toBe(303)
      expect(response.headers.get('location')).toBe('/system/login?logged_out=1')
      const cleared = response.setCookies.get('rcp_session')!
      expect(cookieValue(cleared)).toBe('')
      expect(cleared).toContain('Max-Age=0')
      expect(cleared).toContain('Path=/system')
      const after = await consoleRequest(service, 'GET', '/system/ops/runs', { cookies: session.cookies })
      expect(after.status).toBe(303)
      expect(after.headers.get('location')).toBe('/system/login?next=%2Fsystem%2Fops%2Fruns')
      const [row] = await service.sql<{ count: number }[]>`
        select count(*)::int as count from console_sessions where id_hash = ${hashSessionId(session.cookies.rcp_session!)}`
      expect(row!.count).toBe(0)
    })
  })

  describe('session expiry', () => {
    it('sends a request with an expired session to the login page, and back after login', async () => {
      const operator = await admin()
      const session = await consoleLogin(service, operator)
      expect((await consoleRequest(service, 'GET', '/system/ops/runs?status=completed', { cookies: session.cookies })).status).toBe(200)
      await service.sql`update console_sessions set expires_at = now() - interval '1 second'`
      const expired = await consoleRequest(service, 'GET', '/system/ops/runs?status=completed', { cookies: session.cookies })
      expect(expired.status).toBe(303)
      const location = expired.headers.get('location')!
      expect(location).toBe('/system/login?next=%2Fsystem%2Fops%2Fruns%3Fstatus%3Dcompleted')
      const loginPage = await consoleRequest(service, 'GET', location)
      expect(loginPage.text).toContain('name="next" value="/system/ops/runs?status=completed"')
      const form = await openLoginForm(service)
      const back = await consoleRequest(service, 'POST', '/system/login', {
        cookies: form.cookies,
        form: { _csrf: form.csrf, ...operator, next: '/system/ops/runs?status=completed' },
      })
      expect(back.headers.get('location')).toBe('/system/ops/runs?status=completed')
    })

    it('ends a session idle for longer than 30 minutes', async () => {
      const session = await consoleLogin(service, await admin())
      await service.sql`update console_sessions set last_seen_at = now() - interval '31 minutes'`
      const idle = await consoleRequest(service, 'GET', '/system/ops/runs', { cookies: session.cookies })
      expect(idle.status).toBe(303)
    })

    it('answers the script endpoints 401 (not a redirect) without a session', async () => {
      const tenants = await consoleRequest(service, 'GET', '/system/ops/tenants?q=a', { headers: { accept: 'application/json' } })
      expect(tenants.status).toBe(401)
      expect(tenants.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    })

    it('never redirects after login to anywhere but a console page', async () => {
      const operator = await admin()
      for (const next of ['https://evil.example/', '//evil.example/system/', '/system/logout', '/api/runs', '/system/../api/runs', '/system/%2e%2e/api/runs', '/system/ops/../login']) {
        const form = await openLoginForm(service)
        const response = await consoleRequest(service, 'POST', '/system/login', { cookies: form.cookies, form: { _csrf: form.csrf, ...operator, next } })
        expect(response.headers.get('location'), next).toBe('/system/ops/runbooks')
      }
    })
  })
})
