import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOperator, findOperatorByEmail, issueToken } from '../../src/auth/operator-store.js'
import { cheapScryptParamsForTests } from '../../src/auth/password-hash.js'
import { serviceFlavours, testAdmin, waitUntil, type ApiResponse, type TestService } from '../support/service.js'
import { expectProblem, preflightPath, runbookKey, runsPath, validReason } from './problem-assertions.js'

const runbookCapability = 'platform.runbooks.findings.lifecycle_backfill'

describe.each(serviceFlavours())('access control and login over HTTP: $name', (flavour) => {
  let api: TestService
  let tenantId: number

  beforeAll(async () => {
    api = await flavour.start()
    const tenants = await api.request('GET', '/api/tenants', { token: await api.token() })
    tenantId = tenants.body.items[0].id
  })

  afterAll(async () => {
    await api?.close()
  })

  function expectUnauthorized(response: ApiResponse): void {
    expectProblem(response, 401)
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer\b/)
  }

  describe('authentication', () => {
    it('answers 401 with WWW-Authenticate without a token, with a bad one and with an expired one', async () => {
      expectUnauthorized(await api.request('GET', '/api/runs'))
      expectUnauthorized(await api.request('GET', '/api/runs', { token: 'rcp_not-a-token-this-service-issued' }))
      expectUnauthorized(await api.request('GET', '/api/runs', { token: 'garbage' }))
      expectUnauthorized(await api.request('GET', '/api/runs', { token: `rcp_${'x'.repeat(5000)}` }))
      expectUnauthorized(await api.request('GET', '/api/runs', { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } }))
      expectUnauthorized(await api.request('GET', '/api/runs', { headers: { authorization: 'Bearer' } }))

      const admin = await findOperatorByEmail(api.sql, testAdmin.email)
      const expired = await issueToken(api.sql, admin!.id, 60, new Date(Date.now() - 2 * 3_600_000))
      expectUnauthorized(await api.request('GET', '/api/runs', { token: expired }))

      const before = await api.eventCount()
      expectUnauthorized(
        await api.request('POST', runsPath, {
          token: expired,
          json: { scope: 'all_tenants', confirmation: runbookKey, reason: validReason },
        }),
      )
      expectUnauthorized(await api.request('POST', preflightPath, { json: { scope: 'all_tenants' } }))
      expect(await api.eventCount()).toBe(before)
    })

    it('a wrong password answers 401 problem+json and issues no token', async () => {
      const response = await api.request('POST', '/api/auth/tokens', { json: { email: 'nobody@ops.test', password: 'not the password' } })
      expectProblem(response, 401)
      expect(response.body).not.toHaveProperty('token')
    })
  })

  describe('capabilities', () => {
    it('an operator with only platform.ops.view reads runs but may not preflight or start: 403, nothing appended', async () => {
      const viewer = await api.operatorToken(['platform.ops.view'])
      const before = await api.eventCount()
      const checksum = await api.findingsChecksum()

      const preflight = await api.request('POST', preflightPath, { token: viewer, json: { scope: 'all_tenants' } })
      expectProblem(preflight, 403)
      expect(preflight.body.missingCapabilities).toContain('platform.runbooks.view')
      const start = await api.request('POST', runsPath, {
        token: viewer,
        json: { scope: 'single_tenant', tenantId, confirmation: runbookKey, reason: validReason },
      })
      expectProblem(start, 403)
      expect(start.body.missingCapabilities).toContain('platform.runbooks.run')
      expectProblem(await api.request('GET', '/api/runbooks', { token: viewer }), 403)
      expectProblem(await api.request('GET', '/api/tenants', { token: viewer }), 403)

      const runs = await api.request('GET', '/api/runs', { token: viewer })
      expect(runs.status).toBe(200)
      expect(runs.body).toMatchObject({ items: expect.any(Array), nextCursor: null })
      expect((await api.request('GET', '/api/audit', { token: viewer })).status).toBe(200)

      expect(await api.eventCount()).toBe(before)
      expect(await api.findingsChecksum()).toBe(checksum)
    })

    it("an operator without the runbook's capability gets 403 on preflight and start, nothing appended", async () => {
      const operator = await api.operatorToken(['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.run'])
      const before = await api.eventCount()

      const preflight = await api.request('POST', preflightPath, {
        token: operator,
        json: { scope: 'single_tenant', tenantId },
      })
      expectProblem(preflight, 403)
      expect(preflight.body.missingCapabilities).toEqual([runbookCapability])
      const start = await api.request('POST', runsPath, {
        token: operator,
        json: { scope: 'single_tenant', tenantId, confirmation: runbookKey, reason: validReason },
      })
      expectProblem(start, 403)
      expect(start.body.missingCapabilities).toEqual([runbookCapability])

      expect(await api.eventCount()).toBe(before)
    })

    it('an operator who may preflight but not run gets 403 on start only', async () => {
      const operator = await api.operatorToken(['platform.ops.view', 'platform.runbooks.view', runbookCapability])
      const preflight = await api.request('POST', preflightPath, { token: operator, json: { scope: 'single_tenant', tenantId } })
      expect(preflight.status, preflight.text).toBe(200)
      const before = await api.eventCount()
      const start = await api.request('POST', runsPath, {
        token: operator,
        json: { scope: 'single_tenant', tenantId, confirmation: runbookKey },
      })
      expectProblem(start, 403)
      expect(start.body.missingCapabilities).toEqual(['platform.runbooks.run'])
      expect(await api.eventCount()).toBe(before)
    })
  })

  describe('login rate limit', () => {
    const email = 'limited@ops.test'
    const wrongPassword = 'Wr0ng-Pa55word-5f1c2e'
    const rightPassword = 'R1ght-Pa55word-9ad4b7'
    const otherPassword = 'Oth3r-Pa55word-c03e88'
    const bodies: string[] = []

    it('allows 10 bad attempts per email and ip, then answers 429 with Retry-After, also to the right password', async () => {
      await createOperators()
      for (let attempt = 1; attempt <= 10; attempt++) {
        const response = await api.request('POST', '/api/auth/tokens', { json: { email, password: wrongPassword } })
        bodies.push(response.text)
        expectProblem(response, 401)
        expect(response.headers.get('retry-after')).toBeNull()
      }
      for (const password of [wrongPassword, rightPassword]) {
        const limited = await api.request('POST', '/api/auth/tokens', { json: { email, password } })
        bodies.push(limited.text)
        expectProblem(limited, 429)
        const retryAfter = Number(limited.headers.get('retry-after'))
        expect(Number.isInteger(retryAfter)).toBe(true)
        expect(retryAfter).toBeGreaterThanOrEqual(1)
        expect(retryAfter).toBeLessThanOrEqual(60)
        expect(limited.body).not.toHaveProperty('token')
      }
      // Another spelling of the same email shares the budget.
      const variant = await api.request('POST', '/api/auth/tokens', { json: { email: ' Limited@OPS.test ', password: rightPassword } })
      bodies.push(variant.text)
      expectProblem(variant, 429)
      // The limit is per email + ip: another operator from the same ip still logs in.
      const second = await api.request('POST', '/api/auth/tokens', { json: { email: 'second@ops.test', password: otherPassword } })
      bodies.push(second.text)
      expect(second.status, second.text).toBe(201)
      expect(second.body.token).toMatch(/^rcp_/)
    })

    async function createOperators(): Promise<void> {
      await createOperator(
        api.sql,
        { email, name: 'Limited operator', password: rightPassword, capabilities: ['platform.ops.view'], isBreakGlass: false },
        { hashParams: { ...cheapScryptParamsForTests } },
      )
      await createOperator(
        api.sql,
        { email: 'second@ops.test', name: 'Second operator', password: otherPassword, capabilities: [], isBreakGlass: false },
        { hashParams: { ...cheapScryptParamsForTests } },
      )
    }

    it('audits the failures and the rate limiting, and never stores or echoes a password', async () => {
      const token = await api.token()
      const audit = async () => (await api.request('GET', '/api/audit?limit=200', { token })).body.items as Array<any>
      await waitUntil(async () => {
        const entries = await audit()
        return (
          entries.filter((e) => e.action === 'platform.ops.login.failed' && e.actorEmail === email).length === 10 &&
          // One rate-limit episode: its first refusal is recorded, the two later ones in the window are not.
          entries.filter((e) => e.action === 'platform.ops.login.rate_limited' && e.actorEmail === email).length === 1 &&
          entries.some((e) => e.action === 'platform.ops.login.succeeded' && e.actorEmail === 'second@ops.test')
        )
      }, 'the login audit entries')
      const entries = await audit()
      const limited = entries.find((e) => e.action === 'platform.ops.login.rate_limited')
      expect(limited.context).toMatchObject({ email, ip: expect.stringMatching(/127\.0\.0\.1/), user_agent: expect.any(String) })
      expect(limited.context.retry_after_seconds).toBeGreaterThanOrEqual(1)

      const auditText = JSON.stringify(entries)
      const storedEvents = await api.service.store.readAll({ maxCount: 10_000 })
      const eventsText = JSON.stringify(storedEvents)
      expect(storedEvents.some((e) => e.type === 'LoginFailed')).toBe(true)
      const [rawRows] = await api.sql<{ text: string }[]>`
        select coalesce(string_agg(data::text || metadata::text, ''), '') as text from event_store_events`
      for (const password of [wrongPassword, rightPassword, otherPassword]) {
        expect(auditText).not.toContain(password)
        expect(eventsText).not.toContain(password)
        expect(rawRows!.text).not.toContain(password)
        for (const body of bodies) expect(body).not.toContain(password)
      }
    })
  })
})
