import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { AlertSender } from '../../src/alerts/alert-sender.js'
import { parseAllowedHosts } from '../../src/commands/alert-destinations-hosts.js'
import { connectPostgres, type Database, type Sql } from '../../src/db/database.js'
import { migrateService } from '../../src/service-migrations.js'
import { databaseFlavours, freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'
import { startReceiver, type TestReceiver } from './webhook-receiver.js'

/** SPEC §12: the sender delivers recorded alert deliveries as signed POSTs, retried with backoff for 24 hours. */

const secret = 'a webhook secret 0f9e'
const silent = pino({ level: 'silent' })
const policy = { baseDelayMs: 5_000, maxDelayMs: 3_600_000, giveUpAfterMs: 24 * 3_600_000 }
const HOUR = 3_600_000

async function addWebhook(sql: Sql, id: string, url: string): Promise<void> {
  await sql`insert into alert_destinations (id, workspace_id, kind, target, enabled, secret) values (${id}, 1, 'webhook', ${url}, true, ${secret})`
}

async function recordDelivery(sql: Sql, runId: string, destinationId: string, createdAt = new Date('2026-01-01T00:00:00Z')): Promise<string> {
  const id = `${runId}:${destinationId}`
  const payload = { run_id: runId, run_type: 'findings.lifecycle.backfill', scope: 'single_tenant', console_url: `http://ops.test/system/ops/runs/${runId}` }
  await sql`
    insert into alert_deliveries (id, alert_key, run_id, workspace_id, destination_id, payload, status, created_at)
    values (${id}, 'operations.run.failed', ${runId}, 1, ${destinationId}, ${JSON.stringify(payload)}::text::jsonb, 'recorded', ${createdAt.toISOString()})`
  return id
}

interface DeliveryRow {
  status: string
  attempts: number
  last_error: string | null
  first_attempt_at: Date | null
  last_attempt_at: Date | null
  next_attempt_at: Date | null
  delivered_at: Date | null
}

async function delivery(sql: Sql, id: string): Promise<DeliveryRow> {
  const [row] = await sql<DeliveryRow[]>`
    select status, attempts, last_error, first_attempt_at, last_attempt_at, next_attempt_at, delivered_at from alert_deliveries where id = ${id}`
  return row!
}

/** A clock the test moves. */
function testClock(start: string) {
  let now = new Date(start)
  return { now: () => now, set: (at: Date) => (now = at), advance: (ms: number) => (now = new Date(now.getTime() + ms)) }
}

describe.each(databaseFlavours())('alert sender: $name', (flavour) => {
  let db: Database
  let receiver: TestReceiver

  beforeAll(async () => {
    db = await flavour.open()
    await migrateService(db.sql, { postgresEventStore: true, runbooks: [] })
  })
  afterAll(async () => {
    await db?.close()
  })
  beforeEach(async () => {
    receiver = await startReceiver(secret)
    await db.sql`delete from alert_deliveries`
    await db.sql`delete from alert_destinations`
  })
  afterEach(async () => {
    await receiver.close()
  })

  const sender = (clock: { now: () => Date }, extra: Partial<ConstructorParameters<typeof AlertSender>[0]> = {}) =>
    new AlertSender({ sql: db.sql, logger: silent, hostPolicy: null, serviceBaseUrl: () => null, retryPolicy: policy, now: clock.now, random: () => 0.5, ...extra })

  it('POSTs the alert as JSON signed with the secret, with a delivery id; a 500 is retried after a backoff and counted', async () => {
    await addWebhook(db.sql, 'hook', receiver.url)
    const id = await recordDelivery(db.sql, 'RUN1', 'hook')
    receiver.answer([500, 200])
    const clock = testClock('2026-01-01T00:00:10Z')
    const alerts = sender(clock)

    expect(await alerts.runOnce()).toBe(1)
    const retried = await delivery(db.sql, id)
    expect(retried).toMatchObject({ status: 'recorded', attempts: 1, last_error: 'HTTP 500', delivered_at: null })
    // Equal jitter with a draw of 0.5: three quarters of the base delay.
    expect(retried.next_attempt_at!.getTime()).toBe(clock.now().getTime() + 3_750)
    // Not due yet: nothing is sent.
    expect(await alerts.runOnce()).toBe(0)
    expect(receiver.posts).toHaveLength(1)

    clock.advance(3_750)
    expect(await alerts.runOnce()).toBe(1)
    const delivered = await delivery(db.sql, id)
    expect(delivered).toMatchObject({ status: 'delivered', attempts: 2, last_error: null, next_attempt_at: null })
    expect(delivered.delivered_at!.toISOString()).toBe(clock.now().toISOString())
    expect(delivered.first_attempt_at!.toISOString()).toBe('2026-01-01T00:00:10.000Z')

    expect(receiver.posts).toHaveLength(2)
    for (const post of receiver.posts) {
      expect(post.signatureValid).toBe(true)
      expect(post.headers['content-type']).toBe('application/json')
      expect(post.headers['x-delivery-id']).toBe(id)
      expect(post.json).toEqual({
        alert_key: 'operations.run.failed',
        delivery_id: id,
        raised_at: '2026-01-01T00:00:00.000Z',
        run_id: 'RUN1',
        run_type: 'findings.lifecycle.backfill',
        scope: 'single_tenant',
        console_url: 'http://ops.test/system/ops/runs/RUN1',
      })
    }
    // Every attempt sends the same bytes: a receiver sees one alert whatever the retries.
    expect(receiver.posts[0]!.body.equals(receiver.posts[1]!.body)).toBe(true)
    // Delivered is final.
    clock.advance(HOUR)
    expect(await alerts.runOnce()).toBe(0)
  })

  it('keeps retrying with growing, capped waits for 24 hours from the first attempt, then fails the delivery', async () => {
    await addWebhook(db.sql, 'hook', receiver.url)
    const id = await recordDelivery(db.sql, 'RUN2', 'hook')
    receiver.answer([503])
    const clock = testClock('2026-01-01T00:00:00Z')
    const alerts = sender(clock)
    const waits: number[] = []
    for (let pass = 0; pass < 200; pass++) {
      expect(await alerts.runOnce()).toBe(1)
      const row = await delivery(db.sql, id)
      if (row.status !== 'recorded') break
      waits.push(row.next_attempt_at!.getTime() - clock.now().getTime())
      clock.set(row.next_attempt_at!)
    }
    const failed = await delivery(db.sql, id)
    expect(failed.status).toBe('failed')
    expect(failed.last_error).toBe('HTTP 503')
    expect(failed.attempts).toBe(receiver.posts.length)
    expect(failed.attempts).toBeGreaterThan(20)
    expect(failed.last_attempt_at!.getTime() - failed.first_attempt_at!.getTime()).toBe(24 * HOUR)
    expect(failed.next_attempt_at).toBeNull()
    // Exponential, then capped at the maximum (jitter: between half and all of it).
    expect(waits[1]!).toBe(2 * waits[0]!)
    expect(Math.max(...waits)).toBeLessThanOrEqual(HOUR)
    expect(waits.filter((w) => w === 0.75 * HOUR).length).toBeGreaterThan(10)
    clock.advance(HOUR)
    expect(await alerts.runOnce()).toBe(0)
  })

  it('records a refused connection by its error class, never the receiver or a secret', async () => {
    const closed = await startReceiver(secret)
    await closed.close()
    await addWebhook(db.sql, 'gone', `http://user:pass@127.0.0.1:${closed.port}/x`)
    const id = await recordDelivery(db.sql, 'RUN3', 'gone')
    const lines: string[] = []
    const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) })
    await sender(testClock('2026-01-01T00:00:00Z'), { logger }).runOnce()
    expect(await delivery(db.sql, id)).toMatchObject({ status: 'recorded', attempts: 1, last_error: 'ECONNREFUSED' })
    expect(lines.length).toBeGreaterThan(0)
    expect(lines.join('\n')).not.toContain(secret)
    expect(lines.join('\n')).not.toContain('pass@')
  })

  it('sends user info of the URL as Basic authentication, and no longer sends to a host the allowed list dropped', async () => {
    await addWebhook(db.sql, 'basic', receiver.url.replace('http://', 'http://alice:s3cr%40t@'))
    const basic = await recordDelivery(db.sql, 'RUN4', 'basic')
    await sender(testClock('2026-01-01T00:00:00Z')).runOnce()
    expect(await delivery(db.sql, basic)).toMatchObject({ status: 'delivered' })
    expect(receiver.posts[0]!.headers.authorization).toBe(`Basic ${Buffer.from('alice:s3cr@t').toString('base64')}`)

    await addWebhook(db.sql, 'narrowed', receiver.url)
    const narrowed = await recordDelivery(db.sql, 'RUN5', 'narrowed')
    await sender(testClock('2026-01-01T00:00:00Z'), { hostPolicy: parseAllowedHosts('hooks.example.com,10.0.0.0/8') }).runOnce()
    expect(await delivery(db.sql, narrowed)).toMatchObject({ status: 'failed', attempts: 0, last_error: 'HOST_NOT_ALLOWED' })
    expect(receiver.posts).toHaveLength(1)
  })

  it('takes over a delivery whose sender died mid-send once its claim runs out (by the database clock)', async () => {
    await addWebhook(db.sql, 'hook', receiver.url)
    const id = await recordDelivery(db.sql, 'RUN6', 'hook')
    // A sender claimed it and died: its lease runs for another 30 seconds of the database's clock. A sender
    // whose own clock is a year ahead does not take it over: the lease is not its clock's.
    await db.sql`update alert_deliveries set claimed_by = 'dead-sender', claimed_until = clock_timestamp() + interval '30 seconds' where id = ${id}`
    const alerts = sender(testClock('2030-01-01T00:00:00Z'), { leaseMs: 30_000 })
    expect(await alerts.runOnce()).toBe(0)
    await db.sql`update alert_deliveries set claimed_until = clock_timestamp() - interval '1 millisecond' where id = ${id}`
    expect(await alerts.runOnce()).toBe(1)
    expect(await delivery(db.sql, id)).toMatchObject({ status: 'delivered', attempts: 1 })
    expect(receiver.posts).toHaveLength(1)
  })

  it('leases by the database clock: a sender whose clock is behind keeps its claim from one whose clock is ahead', async () => {
    // A receiver that holds its first answer until the test lets it go (the others are answered at once).
    let arrived!: () => void
    let release!: () => void
    const first = new Promise<void>((resolve) => (arrived = resolve))
    const held = new Promise<void>((resolve) => (release = resolve))
    let posts = 0
    const slow = createServer((request, response) => {
      posts += 1
      request.resume()
      if (posts === 1) {
        arrived()
        void held.then(() => response.end('ok'))
      } else response.end('ok')
    })
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
    try {
      await addWebhook(db.sql, 'slow', `http://127.0.0.1:${(slow.address() as AddressInfo).port}/x`)
      const id = await recordDelivery(db.sql, 'RUN9', 'slow')
      const sending = sender(testClock('2020-01-01T00:00:00Z'), { leaseMs: 60_000 }).runOnce()
      await first
      // Mid-send: the claim is live by the database's clock, whatever the other sender's clock says.
      expect(await sender(testClock('2030-01-01T00:00:00Z'), { leaseMs: 60_000 }).runOnce()).toBe(0)
      release()
      expect(await sending).toBe(1)
      expect(posts).toBe(1)
      expect(await delivery(db.sql, id)).toMatchObject({ status: 'delivered', attempts: 1 })
    } finally {
      release()
      slow.closeAllConnections()
      await new Promise<void>((resolve) => slow.close(() => resolve()))
    }
  })

  it('says so when the destination was removed while a delivery was being sent (not that another sender took it over)', async () => {
    let arrived!: () => void
    let release!: () => void
    const first = new Promise<void>((resolve) => (arrived = resolve))
    const held = new Promise<void>((resolve) => (release = resolve))
    const slow = createServer((request, response) => {
      request.resume()
      arrived()
      void held.then(() => response.end('ok'))
    })
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
    const lines: string[] = []
    const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) })
    try {
      await addWebhook(db.sql, 'slow', `http://127.0.0.1:${(slow.address() as AddressInfo).port}/x`)
      const id = await recordDelivery(db.sql, 'RUN10', 'slow')
      const sending = sender(testClock('2026-01-01T00:00:00Z'), { logger }).runOnce()
      await first
      // What removeAlertDestination writes (src/commands/alert-destinations.ts), mid-send.
      await db.sql`update alert_destinations set enabled = false, removed_at = now(), secret = null where id = 'slow'`
      await db.sql`
        update alert_deliveries set status = 'failed', last_error = 'DESTINATION_REMOVED', next_attempt_at = null, claimed_by = null, claimed_until = null
        where destination_id = 'slow' and status = 'recorded'`
      release()
      await sending
      expect(await delivery(db.sql, id)).toMatchObject({ status: 'failed', attempts: 0, last_error: 'DESTINATION_REMOVED' })
      const log = lines.join('\n')
      expect(log).toContain('destination was removed while it was being sent')
      expect(log).not.toContain('another sender took it over')
    } finally {
      release()
      slow.closeAllConnections()
      await new Promise<void>((resolve) => slow.close(() => resolve()))
    }
  })

  it('fails, without sending, the deliveries of a destination no sender can post to, and carries on with the others', async () => {
    await db.sql`insert into alert_destinations (id, workspace_id, kind, target, enabled) values ('legacy-email', 1, 'email', 'ops@example.com', true)`
    await db.sql`insert into alert_destinations (id, workspace_id, kind, target, enabled, secret) values ('bad-url', 1, 'webhook', 'not a url', true, ${secret})`
    // Longer than a destination may be added with (the decider's rule, which the sender applies too).
    await addWebhook(db.sql, 'too-long', `${receiver.url}?${'x'.repeat(2100)}`)
    await addWebhook(db.sql, 'hook', receiver.url)
    const email = await recordDelivery(db.sql, 'RUN8', 'legacy-email')
    const bad = await recordDelivery(db.sql, 'RUN8', 'bad-url')
    const long = await recordDelivery(db.sql, 'RUN8', 'too-long')
    const good = await recordDelivery(db.sql, 'RUN8', 'hook')
    expect(await sender(testClock('2026-01-01T00:00:00Z')).runOnce()).toBe(4)
    expect(await delivery(db.sql, email)).toMatchObject({ status: 'failed', attempts: 0, last_error: 'UNSUPPORTED_DESTINATION' })
    expect(await delivery(db.sql, bad)).toMatchObject({ status: 'failed', attempts: 0, last_error: 'UNSUPPORTED_DESTINATION' })
    expect(await delivery(db.sql, long)).toMatchObject({ status: 'failed', attempts: 0, last_error: 'UNSUPPORTED_DESTINATION' })
    expect(await delivery(db.sql, good)).toMatchObject({ status: 'delivered', attempts: 1 })
    expect(receiver.posts).toHaveLength(1)
  })

  it('fails the deliveries of a destination that was removed, without sending', async () => {
    await addWebhook(db.sql, 'hook', receiver.url)
    const id = await recordDelivery(db.sql, 'RUN7', 'hook')
    await db.sql`update alert_destinations set enabled = false, removed_at = now(), secret = null where id = 'hook'`
    await sender(testClock('2026-01-01T00:00:00Z')).runOnce()
    expect(await delivery(db.sql, id)).toMatchObject({ status: 'failed', last_error: 'DESTINATION_REMOVED' })
    expect(receiver.posts).toHaveLength(0)
  })

  it('a destination that does not answer holds up its own delivery only: an alert recorded meanwhile is delivered at once', async () => {
    // Takes the POST and never answers (until the test lets go of it).
    const held = new Set<import('node:net').Socket>()
    let received!: () => void
    const reached = new Promise<void>((resolve) => (received = resolve))
    const silentServer = createServer((request) => {
      held.add(request.socket)
      received()
    })
    await new Promise<void>((resolve) => silentServer.listen(0, '127.0.0.1', resolve))
    await addWebhook(db.sql, 'silent', `http://127.0.0.1:${(silentServer.address() as AddressInfo).port}/hooks`)
    await addWebhook(db.sql, 'hook', receiver.url)
    const stuck = await recordDelivery(db.sql, 'RUN9', 'silent')
    const alerts = sender(testClock('2026-01-01T00:00:00Z'), { pollIntervalMs: 20, requestTimeoutMs: 60_000 })
    alerts.start()
    try {
      await reached
      const later = await recordDelivery(db.sql, 'RUN10', 'hook')
      const deadline = Date.now() + 10_000
      while ((await delivery(db.sql, later)).status !== 'delivered' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
      expect(await delivery(db.sql, later)).toMatchObject({ status: 'delivered', attempts: 1 })
      expect(await delivery(db.sql, stuck)).toMatchObject({ status: 'recorded', attempts: 0 })
    } finally {
      for (const socket of held) socket.destroy()
      await alerts.stop()
      await new Promise<void>((resolve) => silentServer.close(() => resolve()))
    }
    expect(await delivery(db.sql, stuck)).toMatchObject({ status: 'recorded', attempts: 1 })
  }, 30_000)
})

describe.runIf(TEST_POSTGRES_URL)('alert sender: two senders with their own connection pools, one database', () => {
  let db: Database
  let other: Database
  let receiver: TestReceiver

  beforeAll(async () => {
    db = await freshPostgresDatabase()
    await migrateService(db.sql, { postgresEventStore: true, runbooks: [] })
    const [row] = await db.sql<Array<{ name: string }>>`select current_database() as name`
    const name = row!.name
    const url = new URL(TEST_POSTGRES_URL)
    url.pathname = `/${name}`
    other = await connectPostgres(url.toString())
    receiver = await startReceiver(secret)
  })
  afterAll(async () => {
    await receiver?.close()
    await other?.close()
    await db?.close()
  })

  it('delivers each delivery exactly once whichever sender claims it', async () => {
    await addWebhook(db.sql, 'hook', receiver.url)
    const ids: string[] = []
    for (let i = 0; i < 60; i++) ids.push(await recordDelivery(db.sql, `RUN${String(i).padStart(3, '0')}`, 'hook'))
    const clock = { now: () => new Date() }
    const senders = [db, other].map(
      (database) => new AlertSender({ sql: database.sql, logger: silent, hostPolicy: null, serviceBaseUrl: () => null, retryPolicy: policy, now: clock.now, batchSize: 4 }),
    )
    const claimedBy = new Map<AlertSender, number>()
    // Both at once, each pass after pass, until neither finds anything due.
    await Promise.all(
      senders.map(async (sender) => {
        for (;;) {
          const sent = await sender.runOnce()
          if (sent === 0) return
          claimedBy.set(sender, (claimedBy.get(sender) ?? 0) + sent)
        }
      }),
    )
    const rows = await db.sql<Array<{ status: string; attempts: number }>>`select status, attempts from alert_deliveries`
    expect(rows).toHaveLength(60)
    expect(rows.every((row) => row.status === 'delivered' && row.attempts === 1)).toBe(true)
    const received = receiver.posts.map((post) => post.headers['x-delivery-id'])
    expect(received.sort()).toEqual([...ids].sort())
    expect(new Set(received).size).toBe(60)
    expect(receiver.posts.every((post) => post.signatureValid)).toBe(true)
    // What the senders claimed adds up to the deliveries: none was claimed twice.
    expect([...claimedBy.values()].reduce((a, b) => a + b, 0)).toBe(60)
  })

  it('delivers each delivery exactly once with two sender processes', async () => {
    await db.sql`delete from alert_deliveries`
    receiver.posts.length = 0
    const ids: string[] = []
    for (let i = 0; i < 40; i++) ids.push(await recordDelivery(db.sql, `PROC${String(i).padStart(3, '0')}`, 'hook', new Date()))
    const [row] = await db.sql<Array<{ name: string }>>`select current_database() as name`
    const url = new URL(TEST_POSTGRES_URL)
    url.pathname = `/${row!.name}`
    const runSender = () =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'test/alerts/sender-process.ts'], {
          env: { ...process.env, DATABASE_URL: url.toString() },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let out = ''
        let err = ''
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
        child.on('error', reject)
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim()).claimed as number) : reject(new Error(`sender process exited ${code}: ${err}`))))
      })
    const claimed = await Promise.all([runSender(), runSender()])
    expect(claimed[0]! + claimed[1]!).toBe(40)
    const received = receiver.posts.map((post) => post.headers['x-delivery-id'])
    expect(received.sort()).toEqual([...ids].sort())
    const rows = await db.sql<Array<{ status: string; attempts: number }>>`select status, attempts from alert_deliveries`
    expect(rows.every((r) => r.status === 'delivered' && r.attempts === 1)).toBe(true)
  }, 60_000)
})
