import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LIVE_STREAMS_PER_SESSION } from '../../../src/http/console/live-stream-slots.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../../support/service.js'
import { runbookKey, runsPath } from '../problem-assertions.js'
import { consoleLogin, createConsoleOperator, parseServerSentEvents, type ConsoleSession } from './console-client.js'

/** Issue 7 hardening: a console session holds a bounded number of live run streams; a slot is freed whenever a stream ends. */

interface OpenStream {
  status: number
  response: Response
  close(): void
}

describe.each(serviceFlavours())('console live stream bound per session: $name', (flavour) => {
  let service: TestService
  let admin: string
  let viewer: ConsoleSession
  let runId: string
  /** Every stream opened and answered 200, closed by the test or not. */
  const open: OpenStream[] = []
  /** The viewer's streams that the test has not closed. */
  let viewerStreams: OpenStream[] = []

  /** Opens the run's live stream for `session` and keeps it open (its answer's headers are in). */
  async function openStream(session: ConsoleSession, id = runId): Promise<OpenStream> {
    const controller = new AbortController()
    const response = await fetch(`${service.baseUrl}/system/ops/runs/${id}/events/stream`, {
      headers: { accept: 'text/event-stream', cookie: `rcp_session=${session.cookies.rcp_session}` },
      signal: controller.signal,
    })
    const stream = { status: response.status, response, close: () => controller.abort() }
    if (response.status === 200) open.push(stream)
    return stream
  }

  beforeAll(async () => {
    service = await flavour.start()
    admin = await service.token()
    viewer = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view']))
    // A run awaiting approval stays live until someone decides: its streams stay open meanwhile.
    expect((await service.request('PUT', '/api/settings/approvals', { token: admin, json: { required: 'all' } })).status).toBe(200)
    const tenants = (await service.request('GET', '/api/tenants', { token: admin })).body.items
    const started = await service.request('POST', runsPath, {
      token: admin,
      json: { scope: 'single_tenant', tenantId: tenants[0].id, confirmation: runbookKey, reason: { code: 'DATA_REPAIR', text: 'hold a run open for the streams' } },
    })
    expect(started.status, started.text).toBe(202)
    expect(started.body.status).toBe('awaiting_approval')
    runId = started.body.runId
  })

  afterAll(async () => {
    for (const stream of open) stream.close()
    await service?.close()
  })

  it('refuses the stream one over the bound with 429 problem+json and Retry-After, for that session only', async () => {
    // Streams refused before they start (an unknown run) hold no slot.
    for (let i = 0; i <= LIVE_STREAMS_PER_SESSION; i++) {
      expect((await openStream(viewer, '01ARZ3NDEKTSV4RRFFQ69G5FAV')).status).toBe(404)
    }
    for (let i = 0; i < LIVE_STREAMS_PER_SESSION; i++) {
      const stream = await openStream(viewer)
      expect(stream.status).toBe(200)
      viewerStreams.push(stream)
    }
    const refused = await openStream(viewer)
    expect(refused.status).toBe(429)
    expect(refused.response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(Number(refused.response.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await refused.response.json()).toMatchObject({ status: 429, detail: expect.stringContaining(String(LIVE_STREAMS_PER_SESSION)) })

    // Another session of the same operator has slots of its own.
    const otherSession = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view']))
    expect((await openStream(otherSession)).status).toBe(200)
  })

  it('answers HEAD without a stream, holding no slot (a HEAD\'s body is never read, so its stream would never end)', async () => {
    const session = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view']))
    for (let i = 0; i <= LIVE_STREAMS_PER_SESSION; i++) {
      const head = await fetch(`${service.baseUrl}/system/ops/runs/${runId}/events/stream`, {
        method: 'HEAD',
        headers: { accept: 'text/event-stream', cookie: `rcp_session=${session.cookies.rcp_session}` },
      })
      expect(head.status).toBe(200)
    }
    for (let i = 0; i < LIVE_STREAMS_PER_SESSION; i++) expect((await openStream(session)).status).toBe(200)
    expect((await openStream(session)).status).toBe(429)
  })

  it('lets a new stream in once one of the session closes (the client went away)', async () => {
    expect((await openStream(viewer)).status).toBe(429)
    const [closed, ...others] = viewerStreams
    closed!.close()
    viewerStreams = others
    // The server sees the connection go shortly after the client drops it: the next attempt that gets in proves the slot is free.
    await waitUntil(async () => {
      const attempt = await openStream(viewer)
      expect([200, 429]).toContain(attempt.status)
      if (attempt.status === 200) viewerStreams.push(attempt)
      return attempt.status === 200
    }, 'a slot freed by the closed stream')
    expect((await openStream(viewer)).status).toBe(429)
  })

  it('frees every slot when the run completes: the open streams end with "completed", and as many new ones open again', async () => {
    const approver = await service.operatorToken(['platform.ops.view', 'platform.runbooks.approve', 'platform.runbooks.findings.lifecycle_backfill'])
    expect(viewerStreams).toHaveLength(LIVE_STREAMS_PER_SESSION)
    const ends = viewerStreams.map(async (stream) => parseServerSentEvents(await stream.response.text()).at(-1)?.event)
    const rejected = await service.request('POST', `/api/runs/${runId}/reject`, {
      token: approver,
      json: { reason: { code: 'INCIDENT', text: 'only here to end the streams' } },
    })
    expect(rejected.status, rejected.text).toBe(202)
    await waitUntil(async () => runIsSettled((await service.request('GET', `/api/runs/${runId}`, { token: admin })).body), 'rejected run settled')
    expect(await Promise.all(ends)).toEqual(Array(LIVE_STREAMS_PER_SESSION).fill('completed'))
    for (let i = 0; i <= LIVE_STREAMS_PER_SESSION; i++) {
      const again = await openStream(viewer)
      expect(again.status).toBe(200)
      expect(parseServerSentEvents(await again.response.text()).at(-1)?.event).toBe('completed')
    }
  })
})
