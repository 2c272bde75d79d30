import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventLineSchema, eventPageSchema } from '../../src/http/schemas/event-schemas.js'
import { runSchema } from '../../src/http/schemas/run-schemas.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { expectProblem, runsPath, runbookKey, validReason } from './problem-assertions.js'

/** SPEC §12 "Replaying streams" over the HTTP API, on the embedded default and on PostgreSQL + NATS. */

describe.each(serviceFlavours())('replaying streams: $name', (flavour) => {
  let api: TestService
  let token: string
  let runId: string
  let runEvents: any[]

  const get = (path: string, headers: Record<string, string> = {}) => api.request('GET', path, { token, headers })

  beforeAll(async () => {
    api = await flavour.start()
    token = await api.token()
    // A run with a pause in it: its canary tenant first, then it pauses (CANARY_COMPLETE) until resumed.
    const started = await api.request('POST', runsPath, { token, json: { scope: 'all_tenants', confirmation: runbookKey, reason: validReason, canary: { count: 1 } } })
    expect(started.status, started.text).toBe(202)
    runId = started.body.runId
    await waitUntil(async () => (await get(`/api/runs/${runId}`)).body.status === 'paused', 'the canary pause')
    const resumed = await api.request('POST', `/api/runs/${runId}/resume`, { token, json: { reason: { code: 'INCIDENT', text: 'the canary tenant looks right' } } })
    expect(resumed.status, resumed.text).toBe(202)
    await waitUntil(async () => runIsSettled((await get(`/api/runs/${runId}`)).body), 'the run settled', 120_000)
    runEvents = (await get(`/api/runs/${runId}/events`)).body.items
  }, 180_000)

  afterAll(async () => {
    await api?.close()
  })

  /** Every page of GET /api/events from `after` on. */
  async function allPages(limit: number, after?: string): Promise<{ items: any[]; pages: number }> {
    const items: any[] = []
    let cursor: string | null | undefined = after
    let pages = 0
    do {
      const response = await get(`/api/events?limit=${limit}${cursor ? `&after=${encodeURIComponent(cursor)}` : ''}`)
      expect(response.status, response.text).toBe(200)
      expect(response.body.items.length).toBeLessThanOrEqual(limit)
      items.push(...response.body.items)
      cursor = response.body.nextCursor
      pages++
    } while (cursor)
    return { items, pages }
  }

  describe('GET /api/events', () => {
    it('pages through every event of the store in global order, items as the run stream shows them plus streamName', async () => {
      const stored = await api.eventCount()
      const { items, pages } = await allPages(7)
      // Logins and audit-worthy events may have been appended meanwhile: at least what was stored before.
      expect(items.length).toBeGreaterThanOrEqual(stored)
      expect(pages).toBeGreaterThan(1)
      expect(new Set(items.map((e) => e.metadata.eventId)).size).toBe(items.length)
      expect(items.filter((e) => e.streamName === `run-${runId}`)).toEqual(runEvents.map((e) => ({ ...e, streamName: `run-${runId}` })))
      // Within each stream, revisions follow one another from 0: nothing skipped, nothing out of order.
      const next = new Map<string, number>()
      for (const e of items) {
        expect(e.revision, `${e.streamName}`).toBe(next.get(e.streamName) ?? 0)
        next.set(e.streamName, e.revision + 1)
      }
      // A page from any event's position starts right after that event.
      const middle = Math.floor(items.length / 2)
      const after = await get(`/api/events?limit=3&after=${encodeURIComponent(items[middle].position)}`)
      expect(after.body.items).toEqual(items.slice(middle + 1, middle + 4))
    })

    it('streams the same items as NDJSON, from a cursor or from the start', async () => {
      const { items } = await allPages(200)
      const response = await fetch(`${api.baseUrl}/api/events`, { headers: { authorization: `Bearer ${token}`, accept: 'application/x-ndjson' } })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/)
      const text = await response.text()
      expect(text.endsWith('\n')).toBe(true)
      const lines = text.trimEnd().split('\n').map((line) => JSON.parse(line))
      expect(lines.slice(0, items.length)).toEqual(items)
      const from = items[2].position
      const tail = await get(`/api/events?after=${encodeURIComponent(from)}`, { accept: 'application/x-ndjson' })
      expect(tail.text.trimEnd().split('\n').map((line) => JSON.parse(line)).slice(0, items.length - 3)).toEqual(items.slice(3))
    })

    it('answers JSON when the client prefers it or says nothing', async () => {
      for (const accept of ['application/json', '*/*', 'application/json, application/x-ndjson;q=0.5']) {
        const response = await get('/api/events?limit=1', { accept })
        expect(response.headers.get('content-type'), accept).toMatch(/^application\/json/)
        expect(response.body.items).toHaveLength(1)
      }
    })

    it('refuses a cursor it did not issue and a limit out of bounds with 400, naming the parameter', async () => {
      for (const after of ['abc', '1:2:3', '-1:5', '99999999999999999999:1', '9223372036854775808:1']) {
        expectProblem(await get(`/api/events?after=${encodeURIComponent(after)}`), 400, 'after')
        expectProblem(await get(`/api/events?after=${encodeURIComponent(after)}`, { accept: 'application/x-ndjson' }), 400, 'after')
      }
      for (const limit of ['0', '201', 'x', '1.5']) expectProblem(await get(`/api/events?limit=${limit}`), 400, 'limit')
    })

    it('answers an empty last page after the newest event', async () => {
      const { items } = await allPages(200)
      const response = await get(`/api/events?after=${encodeURIComponent('9223372036854775807:9223372036854775807')}`)
      expect(response.status).toBe(200)
      expect(response.body).toEqual({ items: [], nextCursor: null })
      expect(items.length).toBeGreaterThan(0)
    })

    it('needs platform.ops.view (403 whatever the query), and a token (401)', async () => {
      const viewer = await api.operatorToken(['platform.runbooks.view'])
      const refused = await api.request('GET', '/api/events?after=nonsense', { token: viewer, headers: { accept: 'application/x-ndjson' } })
      expectProblem(refused, 403)
      expect(refused.body.missingCapabilities).toContain('platform.ops.view')
      expectProblem(await api.request('GET', '/api/events'), 401)
    })
  })

  describe('GET /api/runs/{id}/state', () => {
    it('is the run as it stood right after its N-th event, N counting from 1', async () => {
      const first = await get(`/api/runs/${runId}/state?revision=1`)
      expect(first.status, first.text).toBe(200)
      expect(first.body).toMatchObject({ id: runId, status: 'queued', outcome: 'pending', startedAt: null, pause: null })
      expect(first.body.tenantCounts.pending).toBe(first.body.tenantCounts.targeted)
      // The event /events lists with revision r is the (r+1)-th: the state after it shows it.
      const paused = runEvents.find((e) => e.type === 'RunPaused')
      const atPause = await get(`/api/runs/${runId}/state?revision=${paused.revision + 1}`)
      expect(atPause.body).toMatchObject({ status: 'paused', pause: { reasonCode: 'CANARY_COMPLETE', by: 'system', at: paused.data.pausedAt } })
      const beforePause = await get(`/api/runs/${runId}/state?revision=${paused.revision}`)
      expect(beforePause.body.status).toBe('running')
      const resumed = runEvents.find((e) => e.type === 'RunResumed')
      expect((await get(`/api/runs/${runId}/state?revision=${resumed.revision + 1}`)).body).toMatchObject({ status: 'running', pause: null })
    })

    it('at the last revision, and without one, equals GET /api/runs/{id}', async () => {
      const projected = (await get(`/api/runs/${runId}`)).body
      expect(projected.status).toBe('completed')
      expect((await get(`/api/runs/${runId}/state?revision=${runEvents.length}`)).body).toEqual(projected)
      expect((await get(`/api/runs/${runId}/state`)).body).toEqual(projected)
    })

    it('answers 404 beyond the last event or for an unknown run, 400 for a revision that is not a count', async () => {
      const beyond = await get(`/api/runs/${runId}/state?revision=${runEvents.length + 1}`)
      expectProblem(beyond, 404)
      expect(beyond.body.revisions).toBe(runEvents.length)
      expectProblem(await get('/api/runs/01JZZZZZZZZZZZZZZZZZZZZZZZ/state?revision=1'), 404)
      expectProblem(await get('/api/runs/not-a-run/state'), 404)
      for (const revision of ['0', '-1', 'x', '1.5', '1e400']) expectProblem(await get(`/api/runs/${runId}/state?revision=${revision}`), 400, 'revision')
    })

    it('needs platform.ops.view, like the run\'s other reads', async () => {
      const viewer = await api.operatorToken(['platform.runbooks.view'])
      expectProblem(await api.request('GET', `/api/runs/${runId}/state?revision=zero`, { token: viewer }), 403)
      expectProblem(await api.request('GET', `/api/runs/${runId}/state`), 401)
    })
  })

  it('documents both routes in /api/openapi.json, the events answer in both content types', async () => {
    const document = (await api.request('GET', '/api/openapi.json')).body
    const events = document.paths['/api/events'].get
    expect(Object.keys(events.responses['200'].content).sort()).toEqual(['application/json', 'application/x-ndjson'])
    expect(events.parameters.map((p: any) => p.name).sort()).toEqual(['after', 'limit'])
    expect(events['x-required-capabilities']).toEqual(['platform.ops.view'])
    const state = document.paths['/api/runs/{id}/state'].get
    expect(state.parameters.map((p: any) => p.name).sort()).toEqual(['id', 'revision'])
    expect(Object.keys(state.responses).sort()).toEqual(['200', '400', '401', '403', '404'])
    // The documented schemas are those of the real answers.
    expect(eventPageSchema.safeParse((await get('/api/events?limit=200')).body).error).toBeUndefined()
    const lines = (await get('/api/events', { accept: 'application/x-ndjson' })).text.trimEnd().split('\n')
    for (const line of lines) expect(eventLineSchema.safeParse(JSON.parse(line)).error).toBeUndefined()
    expect(runSchema.safeParse((await get(`/api/runs/${runId}/state?revision=2`)).body).error).toBeUndefined()
  })
})
