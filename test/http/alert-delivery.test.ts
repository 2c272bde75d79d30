import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { startReceiver, type TestReceiver } from '../alerts/webhook-receiver.js'
import { serviceFlavours, waitUntil, type ApiResponse, type TestService } from '../support/service.js'
import { expectProblem, runsPath } from './problem-assertions.js'

/**
 * SPEC §12 "Alert delivery" over HTTP, on both flavours: webhook destinations managed through the API
 * (secrets never shown again), a failed run's alert POSTed, signed, to a local receiver and to the
 * console's own inbox, deliveries listed; OPS_WEBHOOK_ALLOWED_HOSTS narrowing the URLs.
 */

const secret = 'whsec-a-secret-nobody-sees-9d1c'
const allowedHosts = '127.0.0.0/8,hooks.example.com'

describe.each(serviceFlavours())('alert delivery over HTTP: $name', (flavour) => {
  let api: TestService
  let admin: string
  let receiver: TestReceiver
  const logLines: string[] = []

  beforeAll(async () => {
    receiver = await startReceiver(secret)
    const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) })
    api = await flavour.start({ env: { OPS_WEBHOOK_ALLOWED_HOSTS: allowedHosts }, logger })
    admin = await api.token()
  })
  afterAll(async () => {
    await api?.close()
    await receiver?.close()
  })

  const call = async (method: string, path: string, json?: unknown, token = admin) => {
    return api.request(method, path, json === undefined ? { token } : { token, json })
  }

  it('refuses without platform.operators.manage (403) before reading the body', async () => {
    const viewer = await api.operatorToken(['platform.ops.view'])
    const before = await api.eventCount()
    expectProblem(await call('POST', '/api/alert-destinations', { kind: 'carrier pigeon' }, viewer), 403)
    expectProblem(await call('POST', '/api/alert-destinations', { kind: 'webhook', url: receiver.url, secret }, viewer), 403)
    const malformed = await api.request('POST', '/api/alert-destinations', { token: viewer, body: '{not json', contentType: 'application/json' })
    expectProblem(malformed, 403)
    expectProblem(await call('GET', '/api/alert-destinations', undefined, viewer), 403)
    expectProblem(await call('DELETE', '/api/alert-destinations/platform-console', undefined, viewer), 403)
    expect(await api.eventCount()).toBe(before)
    // Deliveries are for platform.ops.view holders.
    const manager = await api.operatorToken(['platform.operators.manage'])
    expectProblem(await call('GET', '/api/alert-deliveries', undefined, manager), 403)
    expect((await call('GET', '/api/alert-deliveries', undefined, viewer)).status).toBe(200)
  })

  it('refuses URLs that are not http(s) or whose host is not allowed (422 naming the field), changing nothing', async () => {
    const before = await api.eventCount()
    for (const url of ['ftp://127.0.0.1/x', 'not a url', 'http://10.1.2.3/hook', 'https://evil.example.org/hook', 'http://[::1]:9/x', 'http://hooks.example.com.evil.test/']) {
      expectProblem(await call('POST', '/api/alert-destinations', { kind: 'webhook', url, secret }), 422, 'url')
    }
    expectProblem(await call('POST', '/api/alert-destinations', { kind: 'webhook', url: receiver.url, secret: '' }), 422, 'secret')
    expectProblem(await call('POST', '/api/alert-destinations', { kind: 'email', url: receiver.url, secret }), 422, 'kind')
    expectProblem(await call('POST', '/api/alert-destinations', { kind: 'webhook', url: 42, secret }), 400, 'url')
    expect(await api.eventCount()).toBe(before)
    const listed = await call('GET', '/api/alert-destinations')
    expect(listed.body.items.map((d: any) => d.kind)).toEqual(['console'])
  })

  it('adds a webhook (host name or CIDR allowed), never shows its secret, and records the change as an event and an audit entry', async () => {
    const byName = await call('POST', '/api/alert-destinations', { kind: 'webhook', url: 'https://hooks.example.com/ops', secret })
    expect(byName.status, byName.text).toBe(201)
    expect(byName.body).toEqual({ id: expect.any(String), kind: 'webhook', url: 'https://hooks.example.com/ops', secretSet: true, createdAt: expect.any(String) })
    const removed = await call('DELETE', `/api/alert-destinations/${byName.body.id}`)
    expect(removed.status, removed.text).toBe(200)
    expect(removed.body).toMatchObject({ removed: true, destination: { id: byName.body.id, secretSet: false } })
    expectProblem(await call('DELETE', `/api/alert-destinations/${byName.body.id}`), 404)
    expectProblem(await call('DELETE', '/api/alert-destinations/no-such-destination'), 404)

    const added = await call('POST', '/api/alert-destinations', { kind: 'webhook', url: receiver.url, secret })
    expect(added.status, added.text).toBe(201)
    expect(added.body).toMatchObject({ kind: 'webhook', url: receiver.url, secretSet: true })
    const listed = await call('GET', '/api/alert-destinations')
    expect(listed.body.items.map((d: any) => d.id)).toEqual(['platform-console', added.body.id])
    expect(listed.body.items.every((d: any) => !('secret' in d))).toBe(true)

    const events = await api.sql<Array<{ type: string; data: any }>>`
      select type, data from event_store_events where stream_id = ${`alertDestination-${byName.body.id}`} order by revision`
    expect(events.map((e) => e.type)).toEqual(['AlertDestinationAdded', 'AlertDestinationRemoved'])
    // The event and its audit entry show the scheme and host only: a webhook's path is often its credential.
    expect(events[0]!.data).toMatchObject({ destinationId: byName.body.id, kind: 'webhook', url: 'https://hooks.example.com/…' })
    // The last change first: once it is in the audit log, the earlier ones are too (projected in order).
    await waitUntil(async () => {
      const audit = await call('GET', '/api/audit?action=platform.ops.alerts.destination_added')
      return audit.body.items.some((e: any) => e.context.destination_id === added.body.id)
    }, 'the last addition in the audit log')
    const removals = await call('GET', '/api/audit?action=platform.ops.alerts.destination_removed')
    expect(removals.body.items.some((e: any) => e.context.destination_id === byName.body.id)).toBe(true)
    const audit = await call('GET', '/api/audit?action=platform.ops.alerts.destination_added')
    const entry = audit.body.items.find((e: any) => e.context.destination_id === added.body.id)
    expect(entry).toMatchObject({ actorEmail: 'admin@ops.test', context: { destination_kind: 'webhook', destination_url: `http://127.0.0.1:${receiver.port}/…` } })
    expect(JSON.stringify(audit.body)).not.toContain('/hooks/alerts')
  })

  it('takes {url, secret} without a kind as a webhook (SPEC §12); another kind stays 422', async () => {
    const added = await call('POST', '/api/alert-destinations', { url: 'https://hooks.example.com/no-kind', secret })
    expect(added.status, added.text).toBe(201)
    expect(added.body).toMatchObject({ kind: 'webhook', secretSet: true })
    expect((await call('DELETE', `/api/alert-destinations/${added.body.id}`)).status).toBe(200)
    expectProblem(await call('POST', '/api/alert-destinations', { kind: 'console', url: 'https://hooks.example.com/x', secret }), 422, 'kind')
  })

  it("delivers a failed run's alert, signed, to the webhook and to the console's inbox; lists the deliveries", async () => {
    const tenants = (await call('GET', '/api/tenants?limit=1000')).body.items as Array<{ id: number; name: string }>
    const invalid = tenants.find((t) => t.name === DEMO_INVALID_TENANT_NAME)!
    const started = await call('POST', runsPath, { scope: 'single_tenant', tenantId: invalid.id, confirmation: 'findings.lifecycle.backfill' })
    expect(started.status, started.text).toBe(202)
    const runId = started.body.runId as string

    const deliveries = async () => (await call('GET', `/api/alert-deliveries?runId=${runId}`)).body.items as any[]
    await waitUntil(async () => {
      const items = await deliveries()
      return items.length === 2 && items.every((d) => d.status === 'delivered')
    }, 'both deliveries delivered')
    const items = await deliveries()
    for (const item of items) {
      expect(item).toEqual({
        id: expect.any(String),
        alertKey: 'operations.run.failed',
        runId,
        destination: { id: expect.any(String), kind: expect.any(String), url: expect.any(String) },
        status: 'delivered',
        attempts: 1,
        lastAttemptAt: expect.any(String),
        nextAttemptAt: null,
        deliveredAt: expect.any(String),
        lastError: null,
        createdAt: expect.any(String),
      })
    }
    expect(items.map((d) => d.destination.kind).sort()).toEqual(['console', 'webhook'])
    // Deliveries are for platform.ops.view holders: a webhook's scheme and host only, never its path.
    expect(items.find((d) => d.destination.kind === 'webhook').destination.url).toBe(`http://127.0.0.1:${receiver.port}/…`)
    expect(items.find((d) => d.destination.kind === 'console').destination.url).toBe('/api/alert-inbox')

    const posts = receiver.posts.filter((post) => post.json?.run_id === runId)
    expect(posts).toHaveLength(1)
    expect(posts[0]!.signatureValid).toBe(true)
    expect(posts[0]!.headers['content-type']).toBe('application/json')
    expect(posts[0]!.headers['x-delivery-id']).toBe(items.find((d) => d.destination.kind === 'webhook').id)
    expect(posts[0]!.json).toMatchObject({
      alert_key: 'operations.run.failed',
      run_id: runId,
      run_type: 'findings.lifecycle.backfill',
      scope: 'single_tenant',
      console_url: expect.stringMatching(new RegExp(`/system/ops/runs/${runId}$`)),
    })
    // The console's inbox verified its signature and kept it.
    const [inbox] = await api.sql<Array<{ run_id: string; alert_key: string }>>`select run_id, alert_key from alert_inbox where run_id = ${runId}`
    expect(inbox).toEqual({ run_id: runId, alert_key: 'operations.run.failed' })

    // Filters and paging.
    expect((await call('GET', `/api/alert-deliveries?status=failed&runId=${runId}`)).body.items).toEqual([])
    const first = await call('GET', '/api/alert-deliveries?limit=1')
    expect(first.body.items).toHaveLength(1)
    const second = await call('GET', `/api/alert-deliveries?limit=1&cursor=${first.body.nextCursor}`)
    expect(second.status).toBe(200)
    expect(second.body.items[0].id).not.toBe(first.body.items[0].id)
    expectProblem(await call('GET', '/api/alert-deliveries?status=lost'), 400, 'status')
    expectProblem(await call('GET', '/api/alert-deliveries?cursor=garbage!'), 400, 'cursor')
  })

  it('refuses a crafted cursor (an id PostgreSQL cannot hold, an impossible time) with 400 naming the cursor', async () => {
    const crafted = (key: object) => Buffer.from(JSON.stringify({ v: 1, ...key }), 'utf8').toString('base64url')
    for (const cursor of [
      crafted({ at: '2026-01-01T00:00:00.000000Z', id: 'run\u0000x' }),
      crafted({ at: '2026-01-01T00:00:00.000000Z', id: "x' or 1=1" }),
      crafted({ at: '2026-02-30T00:00:00.000000Z', id: 'RUN:hook' }),
    ]) {
      expectProblem(await call('GET', `/api/alert-deliveries?cursor=${cursor}`), 400, 'cursor')
    }
    expect((await call('GET', `/api/alert-deliveries?cursor=${crafted({ at: '2026-01-01T00:00:00.000000Z', id: '01KBRUN:break-glass:platform-console' })}`)).status).toBe(200)
  })

  it("the console's inbox takes only bodies signed with a console destination's secret", async () => {
    const body = JSON.stringify({ alert_key: 'operations.run.failed', delivery_id: 'forged', raised_at: new Date().toISOString(), run_id: 'X' })
    const unsigned = await api.request('POST', '/api/alert-inbox', { body })
    expectProblem(unsigned, 401)
    const { createHmac } = await import('node:crypto')
    const wrong = await api.request('POST', '/api/alert-inbox', { body, headers: { 'x-signature': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` } })
    expectProblem(wrong, 401)
    expect((await api.sql`select 1 from alert_inbox where delivery_id = 'forged'`).length).toBe(0)
  })

  it('shows the secret in no answer, event, audit entry or log line', async () => {
    // Its own destination, secret, delivery and answers: nothing left by the tests before it.
    const ownSecret = `whsec-own-${Date.now().toString(36)}-never-shown`
    const own = await startReceiver(ownSecret)
    const seen: ApiResponse[] = []
    const mine = async (method: string, path: string, json?: unknown) => {
      const answer = await call(method, path, json)
      seen.push(answer)
      return answer
    }
    try {
      const added = await mine('POST', '/api/alert-destinations', { kind: 'webhook', url: own.url, secret: ownSecret })
      expect(added.status, added.text).toBe(201)
      const id = added.body.id as string
      await mine('GET', '/api/alert-destinations')
      // A delivery of an alert to it, recorded as the alerts projection would: the service's sender posts it.
      const runId = `SECRET-CHECK-${id}`
      await api.sql`
        insert into alert_deliveries (id, alert_key, run_id, workspace_id, destination_id, payload, status, created_at)
        select ${`${runId}:${id}`}, 'operations.run.failed', ${runId}, workspace_id, id, '{}'::jsonb, 'recorded', now()
        from alert_destinations where id = ${id}`
      await waitUntil(async () => (await mine('GET', `/api/alert-deliveries?runId=${runId}`)).body.items[0]?.status === 'delivered', 'the delivery delivered')
      expect(own.posts).toHaveLength(1)
      expect(own.posts[0]!.signatureValid).toBe(true)
      await waitUntil(async () => {
        const audit = await mine('GET', '/api/audit?action=platform.ops.alerts.destination_added')
        return audit.body.items.some((e: any) => e.context.destination_id === id)
      }, 'the addition in the audit log')
      expect((await mine('DELETE', `/api/alert-destinations/${id}`)).status).toBe(200)
      await mine('GET', `/api/alert-deliveries?runId=${runId}`)

      expect(seen.length).toBeGreaterThanOrEqual(6)
      for (const answer of seen) expect(answer.text).not.toContain(ownSecret)
      const events = await api.sql<Array<{ row: string }>>`select e::text as row from event_store_events e where stream_id = ${`alertDestination-${id}`}`
      expect(events.map((e) => e.row).join('\n')).toContain('AlertDestinationAdded')
      expect((await api.sql<Array<{ row: string }>>`select e::text as row from event_store_events e`).filter((e) => e.row.includes(ownSecret))).toEqual([])
      expect((await api.sql<Array<{ row: string }>>`select a::text as row from audit_log a`).filter((a) => a.row.includes(ownSecret))).toEqual([])
      expect(logLines.some((line) => line.includes('alert delivered') && line.includes(runId))).toBe(true)
      expect(logLines.filter((line) => line.includes(ownSecret))).toEqual([])
    } finally {
      await own.close()
    }
  })
})
