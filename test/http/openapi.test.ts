import type { Hono } from 'hono'
import { inspectRoutes } from 'hono/dev'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { z } from 'zod'
import { createApp } from '../../src/http/app.js'
import { tokenSchema } from '../../src/http/schemas/auth-schemas.js'
import { auditPageSchema } from '../../src/http/schemas/audit-schemas.js'
import { forbiddenProblemSchema, problemSchema } from '../../src/http/schemas/problem-schemas.js'
import { runEventsSchema, runPageSchema, runSchema } from '../../src/http/schemas/run-schemas.js'
import { catalogSchema, preflightSchema, startedRunSchema, tenantListSchema } from '../../src/http/schemas/runbook-schemas.js'
import { serviceFlavours, testAdmin, waitUntil, type ApiResponse, type TestService } from '../support/service.js'
import { preflightPath, runbookKey, runsPath, validReason } from './problem-assertions.js'

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const

/** `METHOD /path` of every operation of the document, paths as written there (`/api/runs/{id}`). */
function documentedOperations(document: any): string[] {
  return Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
    HTTP_METHODS.filter((method) => item[method]).map((method) => `${method.toUpperCase()} ${path}`),
  )
}

/**
 * `METHOD /path` of every route the app answers under /api, Hono's `:id` (with or without a pattern)
 * written `{id}`. Middleware mounted with `use` (method ALL) serves nothing by itself and is left out;
 * anything else counts, however it was registered.
 */
function servedApiOperations(app: Hono<any>): string[] {
  const served = inspectRoutes(app)
    .filter((route) => route.path === '/api' || route.path.startsWith('/api/'))
    .filter((route) => !(route.method === 'ALL' && route.isMiddleware))
    .map((route) => `${route.method} ${route.path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}')}`)
  return [...new Set(served)].sort()
}

const undocumented = (app: Hono<any>, document: any) => {
  const documented = new Set(documentedOperations(document))
  return servedApiOperations(app).filter((operation) => !documented.has(operation))
}

const service = serviceFlavours()[0]!

describe(`OpenAPI document: ${service.name}`, () => {
  let api: TestService
  let token: string
  let document: any

  /** The app as composition builds it, over the service's database: the routes it serves. */
  const composedApp = () =>
    createApp({
      sql: api.sql,
      log: api.service.log,
      catalog: api.service.catalog,
      logger: pino({ level: 'silent' }),
      config: api.service.config,
      healthy: () => api.service.healthy(),
      serveApi: true,
    })

  beforeAll(async () => {
    api = await service.start()
    token = await api.token()
    const response = await api.request('GET', '/api/openapi.json')
    expect(response.status, response.text).toBe(200)
    document = response.body
  })

  afterAll(async () => {
    await api?.close()
  })

  const operation = (method: string, path: string) => {
    const found = document.paths[path]?.[method]
    expect(found, `${method.toUpperCase()} ${path} in the document`).toBeDefined()
    return found
  }
  const resolve = (schema: any): any => (schema?.$ref ? document.components.schemas[schema.$ref.split('/').pop()] : schema)

  it('is an OpenAPI 3.1 document, served without credentials, with bearer security', () => {
    expect(document.openapi).toMatch(/^3\.1\./)
    expect(document.info).toMatchObject({ title: expect.any(String), version: expect.any(String) })
    expect(document.components.securitySchemes.bearerAuth).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }))
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/api/auth/tokens', '/api/runbooks', '/api/tenants', '/api/runs', '/api/runs/{id}', '/api/audit']),
    )
  })

  it('documents every route the app serves under /api, and nothing it does not serve', () => {
    const app = composedApp()
    const served = servedApiOperations(app)
    expect(served.length).toBeGreaterThanOrEqual(11)
    expect(undocumented(app, document), 'served but missing from /api/openapi.json').toEqual([])
    expect(documentedOperations(document).filter((operation) => !served.includes(operation)), 'documented but not served').toEqual([])
  })

  it('notices a route registered outside the OpenAPI registry', () => {
    const app = composedApp()
    app.get('/api/runs/:id/undocumented', (c) => c.text('nobody described me'))
    app.post('/api/undocumented', (c) => c.text('nor me'))
    expect(undocumented(app, document)).toEqual(['GET /api/runs/{id}/undocumented', 'POST /api/undocumented'])
  })

  it('describes the request schemas the routes validate with', () => {
    const start = operation('post', '/api/runbooks/{key}/runs')
    expect(start.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'key', in: 'path', required: true })]))
    const startBody = resolve(start.requestBody.content['application/json'].schema)
    expect(startBody.properties.confirmation).toMatchObject({ type: 'string' })
    expect(startBody.properties.scope.enum).toEqual(['single_tenant', 'all_tenants'])
    expect(startBody.required).toEqual(expect.arrayContaining(['scope', 'confirmation']))
    // A body is optional where every field is (no body reads as `{}`), required elsewhere.
    expect(start.requestBody.required).toBe(true)
    expect(operation('post', '/api/runs/{id}/resume').requestBody.required).toBe(false)

    const preflightBody = resolve(operation('post', '/api/runbooks/{key}/preflight').requestBody.content['application/json'].schema)
    expect(Object.keys(preflightBody.properties)).toEqual(['scope', 'tenantId', 'parameters'])

    const runsQuery = operation('get', '/api/runs').parameters.filter((parameter: any) => parameter.in === 'query')
    expect(runsQuery.map((parameter: any) => parameter.name)).toEqual(['status', 'outcome', 'runbook', 'tenantId', 'cursor', 'limit'])
    // Numbers in queries are documented as the integers they are (read from decimal digits only).
    expect(runsQuery.find((parameter: any) => parameter.name === 'limit').schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 200 })
    const runId = operation('get', '/api/runs/{id}').parameters.find((parameter: any) => parameter.name === 'id')
    expect(runId).toMatchObject({ in: 'path', required: true, schema: { pattern: expect.any(String) } })
    const credentials = resolve(operation('post', '/api/auth/tokens').requestBody.content['application/json'].schema)
    expect(credentials.required).toEqual(['email', 'password'])
  })

  it('lists bearer security, capabilities and problem+json error answers per route', () => {
    const expectedErrors: Record<string, string[]> = {
      'POST /api/auth/tokens': ['400', '401', '413', '415', '422', '429'],
      'GET /api/runbooks': ['401', '403'],
      'GET /api/tenants': ['400', '401', '403'],
      'POST /api/runbooks/{key}/preflight': ['400', '401', '403', '404', '413', '415', '422'],
      // SPEC §9: a start while halted is 423.
      'POST /api/runbooks/{key}/runs': ['400', '401', '403', '404', '409', '413', '415', '422', '423'],
      'GET /api/runs': ['400', '401', '403'],
      'GET /api/runs/{id}': ['401', '403', '404'],
      'GET /api/runs/{id}/events': ['401', '403', '404'],
      'GET /api/audit': ['400', '401', '403'],
    }
    for (const [key, errors] of Object.entries(expectedErrors)) {
      const [method, path] = key.split(' ') as [string, string]
      const described = operation(method.toLowerCase(), path)
      const statuses = Object.keys(described.responses)
      expect(statuses.filter((status) => status.startsWith('4')), key).toEqual(errors)
      expect(statuses.filter((status) => status.startsWith('2')), key).toHaveLength(1)
      for (const status of errors) {
        expect(Object.keys(described.responses[status].content), `${key} ${status}`).toEqual(['application/problem+json'])
      }
      const authenticated = path !== '/api/auth/tokens'
      expect(described.security, key).toEqual(authenticated ? [{ bearerAuth: [] }] : undefined)
      if (authenticated) expect(described['x-required-capabilities'], key).toEqual([expect.stringMatching(/^platform\./)])
    }
    expect(operation('get', '/api/openapi.json').security).toBeUndefined()
  })

  it("the documented answers are the API's real answers", async () => {
    const expectAnswer = (response: ApiResponse, status: number, schema: z.ZodType) => {
      expect(response.status, response.text).toBe(status)
      const parsed = schema.safeParse(response.body)
      expect(parsed.success, `${response.text.slice(0, 300)}\n${parsed.error?.message}`).toBe(true)
    }
    expectAnswer(await api.request('POST', '/api/auth/tokens', { json: testAdmin }), 201, tokenSchema)
    expectAnswer(await api.request('GET', '/api/runbooks', { token }), 200, catalogSchema)
    const tenants = await api.request('GET', '/api/tenants?q=a', { token })
    expectAnswer(tenants, 200, tenantListSchema)
    const tenantId = tenants.body.items[0].id as number
    expectAnswer(await api.request('POST', preflightPath, { token, json: { scope: 'all_tenants' } }), 200, preflightSchema)
    const started = await api.request('POST', runsPath, {
      token,
      json: { scope: 'single_tenant', tenantId, confirmation: runbookKey, reason: validReason },
    })
    expectAnswer(started, 202, startedRunSchema)
    const runPath = `/api/runs/${started.body.runId}`
    expect(started.headers.get('location')).toBe(runPath)
    await waitUntil(async () => (await api.request('GET', runPath, { token })).body?.status === 'completed', 'the run to complete')
    expectAnswer(await api.request('GET', runPath, { token }), 200, runSchema)
    expectAnswer(await api.request('GET', `${runPath}/events`, { token }), 200, runEventsSchema)
    expectAnswer(await api.request('GET', '/api/runs?limit=1', { token }), 200, runPageSchema)
    expectAnswer(await api.request('GET', '/api/audit?limit=5', { token }), 200, auditPageSchema)

    const viewer = await api.operatorToken(['platform.ops.view'])
    expectAnswer(await api.request('GET', '/api/runbooks', { token: viewer }), 403, forbiddenProblemSchema)
    expectAnswer(await api.request('GET', '/api/runs/not-a-run-id', { token }), 404, problemSchema)
  })

  it('GET /api/docs renders every operation as a self-contained page', async () => {
    const response = await api.request('GET', '/api/docs')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/html/)
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'")
    expect(response.text).not.toMatch(/<script|<link|\bsrc=/i)
    for (const entry of documentedOperations(document)) {
      const [method, path] = entry.split(' ') as [string, string]
      expect(response.text).toContain(`<span class="method">${method.toLowerCase()}</span> <code>${path}</code>`)
    }
    expect(response.text).toContain('confirmation')
  })
})
