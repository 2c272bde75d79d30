import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pino from 'pino'
import { createApp, SECURITY_HEADERS } from '../../src/http/app.js'
import { serviceFlavours, waitUntil, type ApiResponse, type TestService } from '../support/service.js'
import { runbookKey, runsPath } from './problem-assertions.js'

/**
 * GET /api/runs/{id} (issue 11): concurrent reads of a run share a statement and the run's JSON text is made
 * once per change; the answer stays what `c.json(run)` answered, and every command's effect is in the next GET.
 */

const reason = { code: 'INCIDENT', text: 'checking the run resource reads' }

function expectSecurityHeaders(response: ApiResponse): void {
  for (const [name, value] of SECURITY_HEADERS) expect(response.headers.get(name), `${name} of ${response.status}`).toBe(value)
}

describe.each(serviceFlavours())('GET /api/runs/{id}: $name', (flavour) => {
  let api: TestService
  let token: string

  beforeAll(async () => {
    api = await flavour.start()
    token = await api.token()
  })

  afterAll(async () => {
    await api?.close()
  })

  const get = (path: string) => api.request('GET', path, { token })
  const send = (method: string, path: string, json: unknown) => api.request(method, path, { token, json })

  it('shows each command in the GET that follows its answer, and answers what the list answers, byte for byte', async () => {
    const start = await send('POST', runsPath, { scope: 'all_tenants', confirmation: runbookKey, reason, limits: { maxConcurrency: 1 } })
    expect(start.status, start.text).toBe(202)
    const runId = start.body.runId as string
    // Started: the next GET shows the run (waiting for its projection if need be).
    const first = await get(`/api/runs/${runId}`)
    expect(first.status, first.text).toBe(200)
    expect(first.body.id).toBe(runId)
    // Read again and again (this process now keeps the run's text), then paused: the next GET shows the pause.
    for (let i = 0; i < 3; i++) expect((await get(`/api/runs/${runId}`)).status).toBe(200)
    const paused = await send('POST', `/api/runs/${runId}/pause`, { reason })
    expect(paused.status, paused.text).toBe(202)
    const afterPause = await get(`/api/runs/${runId}`)
    expect(afterPause.body).toMatchObject({ status: 'paused', pause: { reasonCode: reason.code } })
    const limited = await send('PATCH', `/api/runs/${runId}/limits`, { maxConcurrency: 2 })
    expect(limited.status, limited.text).toBe(200)
    expect((await get(`/api/runs/${runId}`)).body.limits).toEqual({ maxConcurrency: 2, maxFailures: null })
    const cancelled = await send('POST', `/api/runs/${runId}/cancel`, { reason })
    expect(cancelled.status, cancelled.text).toBe(202)
    const afterCancel = (await get(`/api/runs/${runId}`)).body
    expect(afterCancel.status === 'completed' || afterCancel.cancellation !== null).toBe(true)
    await waitUntil(async () => (await get(`/api/runs/${runId}`)).body.status === 'completed', `run ${runId} to complete`)

    // Many at once: one text for all, the one `c.json` makes of the run as the list shows it.
    const answers = await Promise.all(Array.from({ length: 24 }, () => get(`/api/runs/${runId}`)))
    const list = await get('/api/runs?limit=200')
    const listed = (list.body.items as Array<{ id: string }>).find((run) => run.id === runId)
    for (const answer of answers) {
      expect(answer.status).toBe(200)
      expect(answer.headers.get('content-type')).toBe('application/json')
      expect(answer.text).toBe(JSON.stringify(listed))
      expectSecurityHeaders(answer)
    }
  })

  it('sets the security headers once on every kind of answer: JSON, problem, health, console page', async () => {
    const answers = [
      await get('/api/runs/01JZZZZZZZZZZZZZZZZZZZZZZZ'),
      await api.request('GET', '/api/runs'),
      await api.request('GET', '/health'),
      await api.request('GET', '/api/openapi.json'),
      await api.request('GET', '/system/login'),
      await api.request('GET', '/no/such/path'),
    ]
    expect(answers.map((answer) => answer.status)).toEqual([404, 401, 200, 200, 200, 404])
    for (const answer of answers) expectSecurityHeaders(answer)
    // The console's pages keep their own policy beside them.
    expect(answers[4]!.headers.get('content-security-policy')).toContain("default-src 'self'")
  })
})

describe('security headers without @hono/node-server (app.request)', () => {
  it('sets them on the answer itself, each once', async () => {
    const app = createApp({
      sql: undefined as never,
      log: undefined as never,
      catalog: undefined as never,
      logger: pino({ level: 'silent' }),
      config: { TOKEN_TTL_SECONDS: 3600, NODE_ENV: 'test', TRUST_PROXY_HOPS: 0, WORKER_CONCURRENCY: 1, WORKER_CAPACITY: 1 },
      healthy: async () => true,
      serveApi: false,
    })
    for (const path of ['/health', '/nowhere']) {
      const response = await app.request(path)
      for (const [name, value] of SECURITY_HEADERS) expect(response.headers.get(name), name).toBe(value)
    }
  })
})
