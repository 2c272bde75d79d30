import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_ARCHIVED_TENANT_ID, DEMO_PLATFORM_TENANT_ID } from '../../src/db/demo-seed.js'
import { runIsSettled, serviceFlavours, waitUntil, type ApiResponse, type RequestOptions, type TestService } from '../support/service.js'
import { expectProblem, preflightPath, runbookKey, runsPath, validReason } from './problem-assertions.js'

const UNKNOWN_TENANT_ID = 987_654
/** Acme Logistics in the demo seed: in the universe. */
const VALID_TENANT_ID = 2
const validStart = { scope: 'single_tenant', tenantId: VALID_TENANT_ID, confirmation: runbookKey, reason: validReason }

describe.each(serviceFlavours())('bad input over HTTP: $name', (flavour) => {
  let api: TestService
  let token: string

  beforeAll(async () => {
    api = await flavour.start()
    token = await api.token()
  })

  afterAll(async () => {
    await api?.close()
  })

  const send = (method: string, path: string, options: Omit<RequestOptions, 'token'> = {}) =>
    api.request(method, path, { token, ...options })

  /**
   * Sends a request that must be refused: the given 4xx as problem+json (naming `field` when given), with
   * no event appended and no finding changed.
   */
  async function expectRefused(request: () => Promise<ApiResponse>, status: number, field?: string): Promise<ApiResponse> {
    const events = await api.eventCount()
    const findings = await api.findingsChecksum()
    const response = await request()
    expectProblem(response, status, field)
    expect(await api.eventCount(), 'events appended by a refused request').toBe(events)
    expect(await api.findingsChecksum(), 'findings changed by a refused request').toBe(findings)
    return response
  }

  /** The run completed and, if it is one the service verifies (SPEC §11), verified: nothing more will be appended to it. */
  async function runCompleted(runId: string): Promise<void> {
    await waitUntil(async () => runIsSettled((await send('GET', `/api/runs/${runId}`)).body), `run ${runId} to complete and be verified`)
  }

  const bothCommandPaths = [
    { name: 'preflight', path: preflightPath, valid: { scope: 'single_tenant', tenantId: VALID_TENANT_ID } },
    { name: 'start', path: runsPath, valid: validStart },
  ]

  describe.each(bothCommandPaths)('POST $name', ({ path, valid }) => {
    it('malformed JSON is 400 naming the body', async () => {
      for (const body of ['{"scope":', '{scope: "all_tenants"}', '', '{"scope":"all_tenants"}}', '\u0000']) {
        await expectRefused(() => send('POST', path, { body }), 400, '(body)')
      }
    })

    it('a body that is not an object is 400', async () => {
      for (const body of ['[]', '[{"scope":"all_tenants"}]', '"all_tenants"', 'null', '5', 'true']) {
        await expectRefused(() => send('POST', path, { body }), 400, '(body)')
      }
    })

    it('fields of the wrong JSON type are 400 naming the field', async () => {
      await expectRefused(() => send('POST', path, { json: { ...valid, scope: 5 } }), 400, 'scope')
      await expectRefused(() => send('POST', path, { json: { ...valid, tenantId: '7' } }), 400, 'tenantId')
      await expectRefused(() => send('POST', path, { json: { ...valid, tenantId: [VALID_TENANT_ID] } }), 400, 'tenantId')
      await expectRefused(() => send('POST', path, { json: { ...valid, tenantId: '1; drop table findings' } }), 400, 'tenantId')
    })

    it('an unknown scope is 422 naming scope', async () => {
      await expectRefused(() => send('POST', path, { json: { ...valid, scope: 'some_tenants' } }), 422, 'scope')
      await expectRefused(() => send('POST', path, { json: { ...valid, scope: '' } }), 422, 'scope')
    })

    it('an unknown runbook is 404', async () => {
      const unknown = path.replace(runbookKey, 'findings.lifecycle.nope')
      await expectRefused(() => send('POST', unknown, { json: valid }), 404)
      await expectRefused(() => send('POST', path.replace(runbookKey, "x'%20or%20'1'%3D'1"), { json: valid }), 404)
    })

    it('a tenant outside the universe (archived, platform, unknown) is 422 naming tenantId', async () => {
      for (const tenantId of [DEMO_ARCHIVED_TENANT_ID, DEMO_PLATFORM_TENANT_ID, UNKNOWN_TENANT_ID]) {
        await expectRefused(() => send('POST', path, { json: { ...valid, tenantId } }), 422, 'tenantId')
      }
    })

    it('a missing tenantId for single_tenant, or one given for all_tenants, is 422 naming tenantId', async () => {
      const { tenantId: _omitted, ...withoutTenant } = valid
      await expectRefused(() => send('POST', path, { json: withoutTenant }), 422, 'tenantId')
      await expectRefused(() => send('POST', path, { json: { ...valid, tenantId: null } }), 422, 'tenantId')
      await expectRefused(() => send('POST', path, { json: { ...valid, scope: 'all_tenants' } }), 422, 'tenantId')
    })

    it('out-of-range numbers for tenantId are 422 naming tenantId', async () => {
      for (const tenantId of [1e300, -1, 0, Number.MAX_SAFE_INTEGER + 2]) {
        await expectRefused(() => send('POST', path, { json: { ...valid, tenantId } }), 422, 'tenantId')
      }
      // JSON allows a literal that overflows to Infinity when parsed.
      const overflowing = JSON.stringify(valid).replace(/"tenantId":\d+/, '"tenantId":1e400')
      const events = await api.eventCount()
      const response = await send('POST', path, { body: overflowing })
      expect([400, 422], response.text).toContain(response.status)
      expectProblem(response, response.status, 'tenantId')
      expect(await api.eventCount()).toBe(events)
    })

    // docs/decisions.md: a field of the wrong JSON type is 400, a well-typed value that breaks a rule 422.
    // 1.5 is a JSON number like 1e300 (answered 422); only the integer rule rejects it.
    it('a fractional tenantId is 422 naming tenantId, like any other out-of-range number', async () => {
      await expectRefused(() => send('POST', path, { json: { ...valid, tenantId: 1.5 } }), 422, 'tenantId')
    })

    it('a field the API does not know is 422 naming it, never dropped while the rest is applied', async () => {
      await expectRefused(() => send('POST', path, { json: { ...valid, tenantIdz: VALID_TENANT_ID } }), 422, 'tenantIdz')
    })

    it('a body over 64 KiB is 413, with or without a content-length', async () => {
      const big = JSON.stringify({ ...valid, padding: 'x'.repeat(70 * 1024) })
      await expectRefused(() => send('POST', path, { body: big }), 413)
      const streamed = async (): Promise<ApiResponse> => {
        const chunk = new TextEncoder().encode(big)
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let offset = 0; offset < chunk.length; offset += 8 * 1024) controller.enqueue(chunk.slice(offset, offset + 8 * 1024))
            controller.close()
          },
        })
        const response = await fetch(api.baseUrl + path, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body,
          duplex: 'half',
        } as RequestInit)
        const text = await response.text()
        return { status: response.status, headers: response.headers, text, body: JSON.parse(text) }
      }
      await expectRefused(streamed, 413)
    })

    it('a form, multipart or XML content type is 415; no body at all is 400', async () => {
      for (const contentType of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
        await expectRefused(() => send('POST', path, { body: JSON.stringify(valid), contentType }), 415)
      }
      const withoutBody = () =>
        fetch(api.baseUrl + path, { method: 'POST', headers: { authorization: `Bearer ${token}` } }).then(async (r) => {
          const text = await r.text()
          return { status: r.status, headers: r.headers, text, body: JSON.parse(text) }
        })
      await expectRefused(withoutBody, 400, '(body)')
    })

    it('NUL and unusual unicode in strings are refused or handled, never 5xx', async () => {
      for (const scope of ['all_tenants\u0000', '\u0000', 'single_tenant\ud800', 'sıngle_tenant', 'single_tenant\u202e']) {
        await expectRefused(() => send('POST', path, { json: { ...valid, scope } }), 422, 'scope')
      }
    })
  })

  describe('POST start: confirmation and reason', () => {
    it('a confirmation that is not exactly the runbook key is 422 naming confirmation', async () => {
      for (const confirmation of ['', 'findings.lifecycle.backfil', 'FINDINGS.LIFECYCLE.BACKFILL', ` ${runbookKey}`, `${runbookKey}\u0000`]) {
        await expectRefused(() => send('POST', runsPath, { json: { ...validStart, confirmation } }), 422, 'confirmation')
      }
      const { confirmation: _omitted, ...withoutConfirmation } = validStart
      await expectRefused(() => send('POST', runsPath, { json: withoutConfirmation }), 422, 'confirmation')
    })

    it('wrong JSON types for confirmation and reason are 400 naming the field', async () => {
      await expectRefused(() => send('POST', runsPath, { json: { ...validStart, confirmation: 1 } }), 400, 'confirmation')
      await expectRefused(() => send('POST', runsPath, { json: { ...validStart, reason: 'x' } }), 400, 'reason')
      await expectRefused(() => send('POST', runsPath, { json: { ...validStart, reason: { code: 1, text: validReason.text } } }), 400, 'reason.code')
      await expectRefused(() => send('POST', runsPath, { json: { ...validStart, source: 7 } }), 400, 'source')
    })

    it('a misspelt field inside limits, the reason or the canary is 422 naming it', async () => {
      await expectRefused(() => send('POST', runsPath, { json: { ...validStart, limits: { maxFailure: 0 } } }), 422, 'limits.maxFailure')
      await expectRefused(() => send('POST', runsPath, { json: { ...validStart, reason: { ...validReason, txt: 'x' } } }), 422, 'reason.txt')
      await expectRefused(() => send('POST', runsPath, { json: { ...validStart, canary: { count: 1, tenantIdz: [2] } } }), 422, 'canary.tenantIdz')
    })

    it('a missing reason for an all_tenants run is 422 naming reason', async () => {
      await expectRefused(
        () => send('POST', runsPath, { json: { scope: 'all_tenants', confirmation: runbookKey } }),
        422,
        'reason',
      )
      await expectRefused(
        () => send('POST', runsPath, { json: { scope: 'all_tenants', confirmation: runbookKey, reason: null } }),
        422,
        'reason',
      )
    })

    it('a reason text of 9 or 501 characters, or only spaces, is 422 naming reason.text', async () => {
      for (const text of ['x'.repeat(9), 'x'.repeat(501), ' '.repeat(20), `${'x'.repeat(9)}${' '.repeat(5)}`]) {
        await expectRefused(
          () => send('POST', runsPath, { json: { scope: 'all_tenants', confirmation: runbookKey, reason: { code: 'INCIDENT', text } } }),
          422,
          'reason.text',
        )
      }
    })

    it('an unknown reason code is 422 naming reason.code', async () => {
      for (const code of ['OTHER', 'data_repair', '', "DATA_REPAIR' --"]) {
        await expectRefused(
          () => send('POST', runsPath, { json: { ...validStart, reason: { code, text: validReason.text } } }),
          422,
          'reason.code',
        )
      }
    })

    it('an unknown source is 422 naming source', async () => {
      await expectRefused(() => send('POST', runsPath, { json: { ...validStart, source: 'browser' } }), 422, 'source')
    })
  })

  describe('ids and query parameters', () => {
    it('ids that look like SQL are 404, and the tables are still there', async () => {
      const counts = async () =>
        api.sql<{ tenants: number; findings: number }[]>`
          select (select count(*)::int from tenants) as tenants, (select count(*)::int from findings) as findings`
      const before = await counts()
      await expectRefused(() => send('GET', "/api/runs/1'%20or%20'1'='1"), 404)
      await expectRefused(() => send('GET', "/api/runs/1'%20or%20'1'='1/events"), 404)
      await expectRefused(() => send('GET', '/api/runs/1;%20drop%20table%20findings'), 404)
      await expectRefused(() => send('GET', `/api/runs/${'A'.repeat(5000)}`), 404)
      // A well-formed ULID that names no run.
      await expectRefused(() => send('GET', '/api/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV'), 404)
      await expectRefused(() => send('GET', '/api/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/events'), 404)
      expect(await counts()).toEqual(before)
    })

    it('ids PostgreSQL could not even compare (a NUL) are 404 on every route with an id, never 5xx', async () => {
      for (const id of ['%00', 'a%00b']) {
        await expectRefused(() => send('GET', `/api/runs/${id}`), 404)
        await expectRefused(() => send('GET', `/api/runs/${id}/tenants`), 404)
        await expectRefused(() => send('PATCH', `/api/operators/${id}`, { json: { name: 'Someone' } }), 404)
        await expectRefused(() => send('POST', `/api/operators/${id}/disable`, { json: {} }), 404)
        await expectRefused(() => send('DELETE', `/api/alert-destinations/${id}`), 404)
        await expectRefused(() => send('GET', `/api/preflights/${id}/tenants`), 404)
        await expectRefused(() => send('POST', `/api/runbooks/${id}/preflight`, { json: { scope: 'all_tenants' } }), 404)
      }
    })

    it("a tenant filter that looks like SQL matches nothing it should not", async () => {
      for (const q of ["%' or 1=1 --", "%' or '1'='1", '%', '_', '\\']) {
        const response = await send('GET', `/api/tenants?q=${encodeURIComponent(q)}`)
        expect(response.status, response.text).toBe(200)
        expect(response.body.items, q).toEqual([])
      }
      const runs = await send('GET', `/api/runs?runbook=${encodeURIComponent("x' or '1'='1")}`)
      expect(runs.status).toBe(200)
      expect(runs.body.items).toEqual([])
      const [tables] = await api.sql<{ count: number }[]>`
        select count(*)::int as count from information_schema.tables
         where table_schema = 'public' and table_name in ('tenants', 'findings', 'operation_runs', 'event_store_events')`
      expect(tables!.count).toBe(4)
    })

    it('bad query parameters are 400 naming the parameter', async () => {
      const cases: Array<[string, string]> = [
        ['/api/runs?limit=0', 'limit'],
        ['/api/runs?limit=abc', 'limit'],
        ['/api/runs?limit=-1', 'limit'],
        ['/api/runs?limit=1.5', 'limit'],
        ['/api/runs?limit=100000', 'limit'],
        // numbers only as decimal digits: what JavaScript's Number() would also read is refused
        ['/api/runs?limit=0x10', 'limit'],
        ['/api/runs?limit=0b11', 'limit'],
        ['/api/runs?limit=1e1', 'limit'],
        ['/api/runs?limit=%202%20', 'limit'],
        ['/api/runs?tenantId=0x12', 'tenantId'],
        ['/api/events?limit=1e1', 'limit'],
        ['/api/tenants?limit=0x10', 'limit'],
        ['/api/runs?status=bogus', 'status'],
        ['/api/runs?outcome=bogus', 'outcome'],
        ['/api/runs?tenantId=abc', 'tenantId'],
        ['/api/runs?tenantId=1e300', 'tenantId'],
        ['/api/runs?tenantId=-1', 'tenantId'],
        ['/api/runs?cursor=garbage', 'cursor'],
        [`/api/runs?cursor=${encodeURIComponent(Buffer.from('{"at":"x","id":1}').toString('base64url'))}`, 'cursor'],
        ['/api/audit?limit=0', 'limit'],
        ['/api/audit?limit=abc', 'limit'],
        ['/api/audit?cursor=garbage', 'cursor'],
        // a cursor whose id carries a NUL: refused before the database sees it
        [`/api/runs?cursor=${Buffer.from('{"v":1,"at":"2025-01-01T00:00:00.000000Z","id":"\\u0000"}').toString('base64url')}`, 'cursor'],
        // well-formed, but a year PostgreSQL's timestamptz refuses: must not reach the database
        [`/api/runs?cursor=${Buffer.from('{"v":1,"at":"0000-01-01T00:00:00.000000Z","id":"x"}').toString('base64url')}`, 'cursor'],
        [`/api/audit?cursor=${Buffer.from('{"v":1,"at":"0000-01-01T00:00:00.000000Z","id":"x"}').toString('base64url')}`, 'cursor'],
        ['/api/tenants?limit=0', 'limit'],
        ['/api/tenants?cursor=not-a-cursor', 'cursor'],
        // a name carrying a NUL: refused before the database sees it
        [`/api/tenants?cursor=${Buffer.from('{"v":1,"n":"a\\u0000b","i":1}').toString('base64url')}`, 'cursor'],
      ]
      for (const [path, field] of cases) await expectRefused(() => send('GET', path), 400, field)
    })
  })

  describe('content types', () => {
    it('JSON sent as text/plain (fetch without a content type) is read as JSON', async () => {
      const response = await send('POST', preflightPath, {
        body: JSON.stringify({ scope: 'single_tenant', tenantId: VALID_TENANT_ID }),
        contentType: 'text/plain;charset=UTF-8',
      })
      expect(response.status, response.text).toBe(200)
      expect(response.body).toMatchObject({ totalCount: expect.any(Number) })
    })

    it('no body is `{}` where the body schema takes `{}`, and then the command\'s own rules answer', async () => {
      const started = await send('POST', runsPath, { json: validStart })
      expect(started.status, started.text).toBe(202)
      const { runId } = started.body as { runId: string }
      await runCompleted(runId)
      const bare = (method: string, path: string) =>
        fetch(api.baseUrl + path, { method, headers: { authorization: `Bearer ${token}` } }).then(async (r) => {
          const text = await r.text()
          return { status: r.status, headers: r.headers, text, body: JSON.parse(text) as unknown }
        })
      // `{reason?}`: read as {}, the run's state answers (a completed run is not resumed).
      expectProblem(await bare('POST', `/api/runs/${runId}/resume`), 409)
      // A pause needs its reason: named, as for `{}` (a start's required fields make no body malformed: 400 above).
      await expectRefused(() => bare('POST', `/api/runs/${runId}/pause`), 422, 'reason')
    })
  })

  describe('deeply nested bodies', () => {
    it('are 400, without a token and with one, never a stack overflow', async () => {
      const deep = (depth: number) => '{"email":' + '['.repeat(depth) + ']'.repeat(depth) + ',"password":"x"}'
      expectProblem(await api.request('POST', '/api/auth/tokens', { body: deep(5000) }), 400, '(body)')
      for (const path of [preflightPath, runsPath]) {
        await expectRefused(() => send('POST', path, { body: deep(5000) }), 400, '(body)')
      }
    })
  })

  describe('login body', () => {
    it('malformed or mistyped credentials are 4xx problem+json', async () => {
      expectProblem(await api.request('POST', '/api/auth/tokens', { body: '{"email":' }), 400, '(body)')
      expectProblem(await api.request('POST', '/api/auth/tokens', { body: '[]' }), 400, '(body)')
      expectProblem(await api.request('POST', '/api/auth/tokens', { json: { email: 1, password: 'x' } }), 400, 'email')
      expectProblem(await api.request('POST', '/api/auth/tokens', { json: { email: 'a@b.c' } }), 422, 'password')
      expectProblem(await api.request('POST', '/api/auth/tokens', { body: '{}', contentType: 'application/x-www-form-urlencoded' }), 415)
    })
  })

  describe('random bodies (property)', () => {
    const commandPath = fc.constantFrom(preflightPath, runsPath)

    it('random JSON values are refused with a 4xx and append nothing', async () => {
      const events = await api.eventCount()
      const findings = await api.findingsChecksum()
      await fc.assert(
        fc.asyncProperty(commandPath, fc.jsonValue(), async (path, value) => {
          const response = await send('POST', path, { body: JSON.stringify(value) ?? 'null' })
          expect(response.status, response.text).toBeGreaterThanOrEqual(400)
          expect(response.status, response.text).toBeLessThan(500)
          expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
        }),
        { numRuns: 150 },
      )
      expect(await api.eventCount()).toBe(events)
      expect(await api.findingsChecksum()).toBe(findings)
    })

    it('random objects near the real shape never answer 5xx, and a refused one appends nothing', async () => {
      const anyJson = fc.jsonValue({ maxDepth: 2 })
      const nearlyValid = fc.record(
        {
          scope: fc.oneof(fc.constantFrom('single_tenant', 'all_tenants', 'x'), anyJson),
          tenantId: fc.oneof(
            fc.constantFrom(VALID_TENANT_ID, DEMO_ARCHIVED_TENANT_ID, DEMO_PLATFORM_TENANT_ID, UNKNOWN_TENANT_ID, null),
            fc.integer(),
            fc.double(),
            anyJson,
          ),
          confirmation: fc.oneof(fc.constant(runbookKey), fc.string(), anyJson),
          reason: fc.oneof(
            fc.constant(validReason),
            fc.record({ code: fc.oneof(fc.constantFrom('DATA_REPAIR', 'SECURITY'), fc.string()), text: fc.string({ maxLength: 600 }) }),
            anyJson,
          ),
          source: fc.oneof(fc.constantFrom('api', 'cli', 'deploy_hook', 'system_ui'), anyJson),
        },
        { requiredKeys: [] },
      )
      const body = fc.oneof(nearlyValid, fc.object())
      await fc.assert(
        fc.asyncProperty(commandPath, body, async (path, value) => {
          const events = await api.eventCount()
          const response = await send('POST', path, { json: value })
          expect(response.status, `${JSON.stringify(value)} → ${response.text}`).toBeLessThan(500)
          if (response.status >= 400) {
            expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
            expect(await api.eventCount(), `${JSON.stringify(value)} → ${response.status}`).toBe(events)
          }
          // Let an accepted run finish at once: its workers' events would otherwise blur the next count.
          if (response.status === 202) await runCompleted(response.body.runId)
        }),
        { numRuns: 150 },
      )
    })
  })
  it('a method a path is not served with is 405 naming the ones it is (Allow), an unknown path 404; nothing changes', async () => {
    const runId = '01J0000000000000000000000A'
    const cases: Array<[method: string, path: string, allow: string]> = [
      ['PUT', `/api/runs/${runId}`, 'GET, HEAD'],
      ['DELETE', '/api/runs', 'GET, HEAD'],
      ['GET', runsPath, 'POST'],
      ['GET', `/api/runs/${runId}/pause`, 'POST'],
      ['POST', `/api/runs/${runId}/limits`, 'PATCH'],
      ['PATCH', '/api/halt', 'GET, HEAD, POST, DELETE'],
      ['POST', '/health', 'GET, HEAD'],
    ]
    for (const [method, path, allow] of cases) {
      const response = await expectRefused(() => send(method, path, method === 'GET' ? {} : { json: {} }), 405)
      expect(response.headers.get('allow'), `${method} ${path}`).toBe(allow)
      expect(response.body.detail, `${method} ${path}`).toContain(allow)
    }
    // HEAD is GET's: served where GET is, refused with the same Allow where it is not.
    expect((await send('HEAD', `/api/runs/${runId}`)).status).toBe(404)
    const head = await send('HEAD', `/api/runs/${runId}/pause`)
    expect(head.status).toBe(405)
    expect(head.headers.get('allow')).toBe('POST')
    // Without a token, the token is asked for first, as on any authenticated path.
    expectProblem(await api.request('PUT', `/api/runs/${runId}`, { json: {} }), 401)
    await expectRefused(() => send('PUT', '/api/nowhere', { json: {} }), 404)
  })

  // Last in the file: when the service stores such a string, the read-model projector may stop behind it.
  describe('text PostgreSQL cannot hold (NUL, lone surrogates)', () => {
    it('a NUL in a query parameter is 400 naming it (or matches nothing), never 5xx', async () => {
      const cases: Array<[string, string]> = [
        ['/api/tenants?q=%00', 'q'],
        ['/api/tenants?q=Acme%00', 'q'],
        ['/api/runs?runbook=%00', 'runbook'],
        ['/api/audit?action=%00', 'action'],
        ['/api/runs?cursor=%00', 'cursor'],
      ]
      const answers: string[] = []
      for (const [path, field] of cases) {
        const response = await send('GET', path)
        answers.push(`${path} → ${response.status}`)
        if (response.status === 200) expect(response.body.items, path).toEqual([])
        else if (response.status < 500) expectProblem(response, 400, field)
      }
      expect(answers.filter((answer) => / → 5\d\d$/.test(answer))).toEqual([])
    })

    it('a lone surrogate in a query parameter matches nothing', async () => {
      for (const path of ['/api/tenants?q=%ED%A0%80', '/api/tenants?q=%FF', '/api/runs?runbook=%ED%A0%80']) {
        const response = await send('GET', path)
        expect(response.status, `${path}: ${response.text}`).toBe(200)
        expect(response.body.items).toEqual([])
      }
    })

    /**
     * After a request that stored such a string, the read side must keep up: a later preflight still
     * reaches the audit log (a string jsonb refuses must not stop the projector for good).
     */
    async function expectReadSideKeepsUp(): Promise<void> {
      const preflights = async () =>
        ((await send('GET', '/api/audit?action=platform.ops.runbooks.preflight&limit=200')).body.items as unknown[]).length
      const before = await preflights()
      expect((await send('POST', preflightPath, { json: { scope: 'single_tenant', tenantId: VALID_TENANT_ID } })).status).toBe(200)
      await waitUntil(async () => (await preflights()) > before, 'a later preflight to reach the audit log', 10_000)
    }

    // Ordered from harmless to harmful: once one of them stops the projector, the later ones fail too.
    it.each([
      ['an emoji and a bidi override', 'reason with 🙂 and \u202e inside', 3],
      ['a lone surrogate', 'reason with a lone \ud800 surrogate', 4],
      ['a NUL', 'reason with a NUL \u0000 inside', 5],
    ])('a reason text with %s is refused with nothing appended, or stored and projected', async (_what, text, tenantId) => {
      const events = await api.eventCount()
      const response = await send('POST', runsPath, {
        json: { scope: 'single_tenant', tenantId, confirmation: runbookKey, reason: { code: 'INCIDENT', text } },
      })
      expect(response.status, response.text).toBeLessThan(500)
      if (response.status !== 202) {
        expectProblem(response, 422, 'reason.text')
        expect(await api.eventCount()).toBe(events)
        return
      }
      const run = await send('GET', `/api/runs/${response.body.runId}`)
      expect(run.status, `the accepted run is not readable: ${run.text}`).toBe(200)
      expect(run.body.context.reason.reason_code).toBe('INCIDENT')
      await runCompleted(response.body.runId)
      await expectReadSideKeepsUp()
    })

    it.each([
      ['a lone surrogate', 'surrogate\ud800@ops.test'],
      ['a NUL', 'nul\u0000@ops.test'],
    ])('a login email with %s is refused, and the audit log keeps up', async (_what, email) => {
      const response = await api.request('POST', '/api/auth/tokens', { json: { email, password: 'whatever-password' } })
      expect(response.status, response.text).toBeLessThan(500)
      expectProblem(response, response.status)
      expect([400, 401, 422]).toContain(response.status)
      await expectReadSideKeepsUp()
    })
  })
})
