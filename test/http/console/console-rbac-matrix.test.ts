import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { consoleRoutes } from '../../../src/http/console/console-routes.js'
import { getRun } from '../../../src/projections/queries.js'
import { listUniverse } from '../../../src/runbooks/tenant-universe.js'
import { runIsSettled, serviceFlavours, testAdmin, waitUntil, type TestService } from '../../support/service.js'
import { consoleLogin, consoleRequest, createConsoleOperator, type ConsoleResponse, type ConsoleSession } from './console-client.js'

/**
 * The RBAC matrix of the console, the API's (test/http/rbac-matrix.test.ts) for the pages under /system:
 * every route the console's Hono app declares, against every subset of the capabilities it needs (those
 * its guards name, plus the runbook's own where the route acts on a runbook or a run's controls, as the API
 * route it mirrors). Any missing capability is 403 whatever the form (checked before it is read), changes
 * nothing and shows none of the data behind the route; with all of them the route is no longer refused for
 * capabilities (nor a 5xx, nor a trip back to the login page). Forms are empty or malformed, so a request
 * that gets through changes nothing either.
 */

const runbookKey = 'findings.lifecycle.backfill'
const runbookCapability = 'platform.runbooks.findings.lifecycle_backfill'
/** API operations that act on a runbook or a run's controls, and so need the runbook's own capability too (as in the API's matrix). */
const actsOnRunbook = /\/runbooks\/\{key\}\/|\/runs\/\{id\}\/(pause|resume|cancel|limits|retry|revert|approve|reject)$/
const opsView = 'platform.ops.view'
const runbooksView = 'platform.runbooks.view'
const runbooksRun = 'platform.runbooks.run'
const runbooksApprove = 'platform.runbooks.approve'
const opsHalt = 'platform.ops.halt'
const operatorsManage = 'platform.operators.manage'
const runReason = 'a run for the console rbac matrix'
/** A well-formed operator id no operator has (nor any preview): a post that gets through is a 404 and changes nobody. */
const unknownOperatorId = '01ARZ3NDEKTSV4RRFFQ69G5FAV'

/** How a route is asked: its URL, what it is sent, and whether it ends the session that asks. */
interface Probe {
  url: (ids: { runId: string }) => string
  /** `page`: GET as a browser; `data`: GET as the page script (JSON / event stream); `form`: a form post; `json`: the script's JSON post. */
  kind: 'page' | 'data' | 'stream' | 'form' | 'json'
  form?: Record<string, string>
  /** The route ends (or may end) the session it is called with: a fresh session for each call. */
  endsSession?: boolean
}

interface Entry {
  /**
   * The API operation it mirrors (method and path of the OpenAPI document): the console route needs exactly
   * what that operation needs (its `x-required-capabilities`, plus the runbook's own where it acts on a
   * runbook or a run's controls). Null for the one console route with no API counterpart.
   */
  mirrors: string | null
  needs: string[]
  probe: Probe
}

/** Public console routes (no session): the only routes the matrix leaves out. */
const publicRoutes = new Set(['GET /', 'GET /login', 'POST /login'])

const run = (action: string) => ({ runId }: { runId: string }) => `/system/ops/runs/${runId}/${action}`
const operator = (action: string) => () => `/system/ops/operators/${unknownOperatorId}${action}`

/** Console route (method + the pattern the console app declares, relative to /system) → what it needs. */
const table: Record<string, Entry> = {
  'POST /logout': { mirrors: 'DELETE /api/auth/tokens/current', needs: [], probe: { kind: 'form', url: () => '/system/logout', endsSession: true } },
  'GET /ops/runbooks': { mirrors: 'GET /api/runbooks', needs: [runbooksView], probe: { kind: 'page', url: () => '/system/ops/runbooks' } },
  'GET /ops/tenants': { mirrors: 'GET /api/tenants', needs: [runbooksView], probe: { kind: 'data', url: () => '/system/ops/tenants?q=a' } },
  'POST /ops/runbooks/:key/preflight': {
    mirrors: 'POST /api/runbooks/{key}/preflight',
    needs: [runbooksView, runbookCapability],
    probe: { kind: 'json', url: () => `/system/ops/runbooks/${runbookKey}/preflight` },
  },
  // A well-formed id of no preview: a request that gets through is a 404 (an existing plan needs its runbook's capability too, as the API's route: see console-preflight-plans.test.ts).
  'GET /ops/preflights/:preflightId/tenants': {
    mirrors: 'GET /api/preflights/{preflightId}/tenants',
    needs: [runbooksView],
    probe: { kind: 'data', url: () => `/system/ops/preflights/${unknownOperatorId}/tenants` },
  },
  'POST /ops/runbooks/:key/runs': {
    mirrors: 'POST /api/runbooks/{key}/runs',
    needs: [runbooksRun, runbookCapability],
    probe: { kind: 'form', url: () => `/system/ops/runbooks/${runbookKey}/runs` },
  },
  'POST /ops/runs/:id/pause': { mirrors: 'POST /api/runs/{id}/pause', needs: [runbooksRun, runbookCapability], probe: { kind: 'form', url: run('pause') } },
  'POST /ops/runs/:id/resume': { mirrors: 'POST /api/runs/{id}/resume', needs: [runbooksRun, runbookCapability], probe: { kind: 'form', url: run('resume') } },
  'POST /ops/runs/:id/cancel': { mirrors: 'POST /api/runs/{id}/cancel', needs: [runbooksRun, runbookCapability], probe: { kind: 'form', url: run('cancel') } },
  'POST /ops/runs/:id/limits': {
    mirrors: 'PATCH /api/runs/{id}/limits',
    needs: [runbooksRun, runbookCapability],
    // An empty form would mean "no failure limit": a malformed number changes nothing.
    probe: { kind: 'form', url: run('limits'), form: { maxConcurrency: 'not a number', maxFailures: 'not a number' } },
  },
  'POST /ops/runs/:id/retry': { mirrors: 'POST /api/runs/{id}/retry', needs: [runbooksRun, runbookCapability], probe: { kind: 'form', url: run('retry') } },
  'POST /ops/runs/:id/revert': { mirrors: 'POST /api/runs/{id}/revert', needs: [runbooksRun, runbookCapability], probe: { kind: 'form', url: run('revert') } },
  'POST /ops/runs/:id/approve': { mirrors: 'POST /api/runs/{id}/approve', needs: [runbooksApprove, runbookCapability], probe: { kind: 'form', url: run('approve') } },
  'POST /ops/runs/:id/reject': { mirrors: 'POST /api/runs/{id}/reject', needs: [runbooksApprove, runbookCapability], probe: { kind: 'form', url: run('reject') } },
  'GET /ops/runs': { mirrors: 'GET /api/runs', needs: [opsView], probe: { kind: 'page', url: () => '/system/ops/runs' } },
  'GET /ops/runs/:id': { mirrors: 'GET /api/runs/{id}', needs: [opsView], probe: { kind: 'page', url: ({ runId }) => `/system/ops/runs/${runId}` } },
  'GET /ops/runs/:id/events/stream': { mirrors: 'GET /api/runs/{id}/events', needs: [opsView], probe: { kind: 'stream', url: run('events/stream') } },
  // The halt page is the halt's form (GET /api/halt, the halt as it is, is every ops.view holder's banner).
  'GET /ops/halt': { mirrors: 'POST /api/halt', needs: [opsHalt], probe: { kind: 'page', url: () => '/system/ops/halt' } },
  'POST /ops/halt': { mirrors: 'POST /api/halt', needs: [opsHalt], probe: { kind: 'form', url: () => '/system/ops/halt' } },
  'POST /ops/halt/lift': { mirrors: 'DELETE /api/halt', needs: [opsHalt], probe: { kind: 'form', url: () => '/system/ops/halt/lift' } },
  'GET /ops/audit': { mirrors: 'GET /api/audit', needs: [opsView], probe: { kind: 'page', url: () => '/system/ops/audit' } },
  'GET /ops/alerts': { mirrors: 'GET /api/alert-deliveries', needs: [opsView], probe: { kind: 'page', url: () => '/system/ops/alerts' } },
  'POST /ops/alerts/destinations': {
    mirrors: 'POST /api/alert-destinations',
    needs: [operatorsManage],
    probe: { kind: 'form', url: () => '/system/ops/alerts/destinations' },
  },
  'POST /ops/alerts/destinations/:id/remove': {
    mirrors: 'DELETE /api/alert-destinations/{id}',
    needs: [operatorsManage],
    probe: { kind: 'form', url: () => `/system/ops/alerts/destinations/${unknownOperatorId}/remove` },
  },
  'GET /ops/operators': { mirrors: 'GET /api/operators', needs: [operatorsManage], probe: { kind: 'page', url: () => '/system/ops/operators' } },
  'POST /ops/operators/approvals': {
    mirrors: 'PUT /api/settings/approvals',
    needs: [operatorsManage],
    probe: { kind: 'form', url: () => '/system/ops/operators/approvals' },
  },
  'POST /ops/operators': { mirrors: 'POST /api/operators', needs: [operatorsManage], probe: { kind: 'form', url: () => '/system/ops/operators' } },
  'POST /ops/operators/:id': { mirrors: 'PATCH /api/operators/{id}', needs: [operatorsManage], probe: { kind: 'form', url: operator('') } },
  'POST /ops/operators/:id/disable': { mirrors: 'PATCH /api/operators/{id}', needs: [operatorsManage], probe: { kind: 'form', url: operator('/disable') } },
  'POST /ops/operators/:id/enable': { mirrors: 'PATCH /api/operators/{id}', needs: [operatorsManage], probe: { kind: 'form', url: operator('/enable') } },
  'POST /ops/operators/:id/password': {
    mirrors: 'POST /api/operators/{id}/password',
    needs: [operatorsManage],
    probe: { kind: 'form', url: operator('/password') },
  },
  'GET /ops/me': { mirrors: 'GET /api/me', needs: [], probe: { kind: 'page', url: () => '/system/ops/me' } },
  'POST /ops/me/password': { mirrors: 'POST /api/me/password', needs: [], probe: { kind: 'form', url: () => '/system/ops/me/password', endsSession: true } },
  // The pattern of the app-wide middleware (headers, body limit, halt banner) and of the session-guarded
  // "no such page" fallback: a session is all it needs.
  'ALL /*': { mirrors: null, needs: [], probe: { kind: 'page', url: () => '/system/ops/no-such-page' } },
}

function subsets<T>(items: T[]): T[][] {
  return items.reduce<T[][]>((all, item) => [...all, ...all.map((subset) => [...subset, item])], [[]])
}

describe.each(serviceFlavours().slice(0, 1))('RBAC matrix of the console: $name', (flavour) => {
  let service: TestService
  let runId: string
  /** Data behind the routes that no refusal may show: who started the run, its reason, tenant names. */
  let secrets: string[]

  beforeAll(async () => {
    service = await flavour.start()
    const started = await service.request('POST', `/api/runbooks/${runbookKey}/runs`, {
      token: await service.token(),
      json: { scope: 'all_tenants', confirmation: runbookKey, reason: { code: 'DATA_REPAIR', text: runReason } },
    })
    expect(started.status, started.text).toBe(202)
    runId = started.body.runId
    // A completed run: its live stream ends at once, and no control post can change it.
    await waitUntil(async () => runIsSettled((await getRun(service.sql, runId)) ?? undefined), `run ${runId} completed`)
    secrets = [testAdmin.email, runReason, ...(await listUniverse(service.sql, undefined, 5)).map((tenant) => tenant.name)]
  })

  afterAll(async () => {
    await service?.close()
  })

  /** The console's routes as its Hono app declares them (built as the service builds it), one per method + path. */
  function declaredRoutes(): string[] {
    const app = consoleRoutes({ sql: service.sql, log: service.service.log, catalog: service.service.catalog, logger: pino({ level: 'silent' }), nodeEnv: undefined })
    return [...new Set(app.routes.map((route) => `${route.method} ${route.path}`))]
  }

  it('has every console route in its table, and only those', () => {
    const declared = declaredRoutes().filter((route) => !publicRoutes.has(route))
    expect(declared.length).toBeGreaterThan(20)
    expect(declared.filter((route) => !(route in table)), 'console routes missing from the capability table').toEqual([])
    expect(Object.keys(table).filter((route) => !declared.includes(route)), 'table entries the console does not declare').toEqual([])
    for (const route of publicRoutes) expect(declaredRoutes(), `public route ${route}`).toContain(route)
  })

  it('needs for each route exactly what the API operation it mirrors needs', async () => {
    const document = (await service.request('GET', '/api/openapi.json')).body
    for (const [route, { mirrors, needs }] of Object.entries(table)) {
      if (mirrors === null) continue
      const [method, path] = mirrors.split(' ') as [string, string]
      const operation = document.paths[path]?.[method.toLowerCase()]
      expect(operation, `${route} mirrors ${mirrors}, which the API does not document`).toBeDefined()
      const apiNeeds: string[] = [...(operation['x-required-capabilities'] ?? []), ...(actsOnRunbook.test(path) ? [runbookCapability] : [])]
      expect([...needs].sort(), `${route} against ${mirrors}`).toEqual(apiNeeds.sort())
    }
  })

  it('refuses every route to every operator lacking one of its capabilities, and only to them', async () => {
    const sessions = new Map<string, ConsoleSession>()
    const sessionFor = async (held: string[], fresh: boolean) => {
      const key = [...held].sort().join(',')
      if (fresh) return consoleLogin(service, await createConsoleOperator(service, held))
      if (!sessions.has(key)) sessions.set(key, await consoleLogin(service, await createConsoleOperator(service, held)))
      return sessions.get(key)!
    }
    const send = (probe: Probe, session: ConsoleSession): Promise<ConsoleResponse> => {
      const url = probe.url({ runId })
      const cookies = session.cookies
      switch (probe.kind) {
        case 'page':
          return consoleRequest(service, 'GET', url, { cookies })
        case 'data':
          return consoleRequest(service, 'GET', url, { cookies, headers: { accept: 'application/json' } })
        case 'stream':
          return consoleRequest(service, 'GET', url, { cookies, headers: { accept: 'text/event-stream' } })
        case 'form':
          return consoleRequest(service, 'POST', url, { cookies, form: { _csrf: session.csrf, ...probe.form } })
        case 'json':
          // Malformed JSON: a preflight that gets through is a 400, recording nothing.
          return fetchMalformedJson(url, session)
      }
    }
    const fetchMalformedJson = async (url: string, session: ConsoleSession): Promise<ConsoleResponse> => {
      const response = await fetch(service.baseUrl + url, {
        method: 'POST',
        headers: {
          accept: 'application/json',
          'content-type': 'application/json',
          'x-csrf-token': session.csrf,
          cookie: `rcp_session=${session.cookies.rcp_session}`,
        },
        body: '{',
        redirect: 'manual',
      })
      return { status: response.status, headers: response.headers, text: await response.text(), setCookies: new Map() }
    }

    let checked = 0
    let expected = 0
    /** Secrets some allowed response showed: the refusals' check is about data the routes really serve. */
    const served = new Set<string>()
    for (const [route, { needs, probe }] of Object.entries(table)) {
      expected += 2 ** needs.length
      for (const held of subsets(needs)) {
        const session = await sessionFor(held, probe.endsSession === true)
        const eventsBefore = await service.eventCount()
        const response = await send(probe, session)
        const what = `${route} with [${held.join(', ')}]: ${response.status} ${response.headers.get('location') ?? ''} ${response.text.slice(0, 300)}`
        const missing = needs.filter((capability) => !held.includes(capability))
        if (missing.length > 0) {
          expect.soft(response.status, what).toBe(403)
          expect.soft(missing.some((capability) => response.text.includes(capability)), `${what}: names a missing capability`).toBe(true)
          for (const secret of secrets) expect.soft(response.text, `${what}: shows ${secret}`).not.toContain(secret)
        } else {
          expect.soft([401, 403], what).not.toContain(response.status)
          expect.soft(response.status, what).toBeLessThan(500)
          if (!probe.endsSession) expect.soft(response.headers.get('location') ?? '', `${what}: sent back to the login page`).not.toMatch(/^\/system\/login/)
          for (const secret of secrets) if (response.text.includes(secret)) served.add(secret)
        }
        // Refused or let through with an empty or malformed form: nothing was recorded. (Soft: one run
        // reports every case that fails.)
        expect.soft(await service.eventCount(), `${what}: changed something`).toBe(eventsBefore)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(0)
    expect(checked).toBe(expected)
    expect(secrets.filter((secret) => !served.has(secret)), 'secrets no allowed route showed').toEqual([])
  })
})
