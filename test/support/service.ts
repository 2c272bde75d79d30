import { isVerifiable } from '../../src/commands/run/run-decider.js'
import { randomUUID } from 'node:crypto'
import { connect } from 'nats'
import pino from 'pino'
import { createOperator } from '../../src/auth/operator-store.js'
import { cheapScryptParamsForTests } from '../../src/auth/password-hash.js'
import { composeService, type Service } from '../../src/composition.js'
import { loadConfig } from '../../src/config.js'
import type { Database, Sql } from '../../src/db/database.js'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import type { JobQueue, TenantJob } from '../../src/queue/job-queue.js'
import { NatsJobQueue } from '../../src/queue/nats-job-queue.js'
import { freshEmbeddedDatabase, freshPostgresDatabase, TEST_NATS_URL, TEST_POSTGRES_URL } from './databases.js'

/** The bootstrap operator every test service starts with; it holds every capability. */
export const testAdmin = { email: 'admin@ops.test', password: 'correct horse battery staple' } as const

export interface ApiResponse {
  status: number
  headers: Headers
  /** The raw body. */
  text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  body: any
}

export interface RequestOptions {
  /** Bearer token; omitted → no Authorization header. */
  token?: string
  /** Sent as JSON with content-type application/json. */
  json?: unknown
  /** Sent as is (with `contentType`, default application/json). */
  body?: string
  contentType?: string
  headers?: Record<string, string>
}

export interface TestService {
  flavour: string
  service: Service
  sql: Sql
  baseUrl: string
  /** A bearer token: the bootstrap admin's (logged in once, then cached) or, given credentials, a fresh one. */
  token(credentials?: { email: string; password: string }): Promise<string>
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>
  /** Creates an operator with these capabilities (cheap hash) and logs it in. */
  operatorToken(capabilities: string[], email?: string): Promise<string>
  /** Number of events in the event store, read in SQL (no read horizon in between). */
  eventCount(): Promise<number>
  /** A digest of every stored column of every finding: unchanged digest, unchanged findings. */
  findingsChecksum(): Promise<string>
  /** Closes the service's job queue under it, so that `healthy()` turns false. */
  closeQueue(): Promise<void>
  close(): Promise<void>
}

export interface ServiceFlavour {
  name: string
  start(options?: TestServiceOptions): Promise<TestService>
}

export interface TestServiceOptions {
  /** More configuration (e.g. OPS_WEBHOOK_ALLOWED_HOSTS), over the test defaults. */
  env?: Record<string, string>
  /** The service's logger (default: silent), e.g. one that captures every line. */
  logger?: import('pino').Logger
}

/** Embedded PGlite + in-process queue always; PostgreSQL + NATS JetStream when both servers are configured. */
export function serviceFlavours(): ServiceFlavour[] {
  const flavours: ServiceFlavour[] = [
    {
      name: 'embedded (PGlite, in-process queue)',
      start: (options) => startTestService('embedded', freshEmbeddedDatabase, async () => new InProcessJobQueue<TenantJob>(), options),
    },
  ]
  if (TEST_POSTGRES_URL && TEST_NATS_URL) {
    flavours.push({
      name: 'PostgreSQL + NATS JetStream',
      start: (options) => startTestService('postgres+nats', freshPostgresDatabase, openTestNatsQueue, options),
    })
  }
  return flavours
}

export interface OpenedQueue {
  queue: JobQueue<TenantJob>
  /** Closes the queue and removes whatever it left on its server. */
  dispose(): Promise<void>
}

/** A NATS JetStream queue on a stream of its own, removed again by `dispose()`. */
export async function openTestNatsQueue(): Promise<OpenedQueue> {
  const id = randomUUID().replaceAll('-', '').slice(0, 16)
  const stream = `TEST_HTTP_JOBS_${id}`
  const queue = await NatsJobQueue.connect<TenantJob>({
    url: TEST_NATS_URL,
    stream,
    subject: `test.http.jobs.${id}`,
    durable: `test-http-workers-${id}`,
    ackWaitMs: 30_000,
    maxDeliver: 100,
    pullExpiresMs: 1_000,
  })
  return {
    queue,
    async dispose() {
      await queue.close()
      const admin = await connect({ servers: TEST_NATS_URL })
      try {
        const jsm = await admin.jetstreamManager()
        await jsm.streams.delete(stream).catch(() => false)
      } finally {
        await admin.close()
      }
    },
  }
}

async function startTestService(
  flavour: string,
  openDatabase: () => Promise<Database>,
  openQueue: () => Promise<OpenedQueue | JobQueue<TenantJob>>,
  options: TestServiceOptions = {},
): Promise<TestService> {
  const db = await openDatabase()
  let opened: OpenedQueue | null = null
  let service: Service | null = null
  try {
    const queueOrOpened = await openQueue()
    opened = 'dispose' in queueOrOpened ? queueOrOpened : { queue: queueOrOpened, dispose: () => queueOrOpened.close() }
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      OPS_DEMO_SEED: 'true',
      OPS_BOOTSTRAP_ADMIN_EMAIL: testAdmin.email,
      OPS_BOOTSTRAP_ADMIN_PASSWORD: testAdmin.password,
      RECONCILER_STALE_AFTER_MS: '5000',
      RECONCILER_INTERVAL_MS: '1000',
      LOG_LEVEL: 'silent',
      ...options.env,
    })
    service = await composeService(config, options.logger ?? pino({ level: 'silent' }), {
      db,
      queue: opened.queue,
      hashParams: { ...cheapScryptParamsForTests },
    })
  } catch (error) {
    await opened?.dispose().catch(() => {})
    await db.close()
    throw error
  }
  const composed = service
  const queue = opened
  const baseUrl = `http://127.0.0.1:${composed.port}`
  let adminToken: string | null = null

  const request = async (method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    let body: string | undefined
    if (options.json !== undefined) {
      body = JSON.stringify(options.json)
      headers['content-type'] = options.contentType ?? 'application/json'
    } else if (options.body !== undefined) {
      body = options.body
      headers['content-type'] = options.contentType ?? 'application/json'
    }
    const response = await fetch(baseUrl + path, { method, headers, body })
    const text = await response.text()
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined
    }
    return { status: response.status, headers: response.headers, text, body: parsed }
  }

  const login = async (credentials: { email: string; password: string }): Promise<string> => {
    const response = await request('POST', '/api/auth/tokens', { json: credentials })
    if (response.status !== 201) throw new Error(`login of ${credentials.email} answered ${response.status}: ${response.text}`)
    return response.body.token as string
  }

  return {
    flavour,
    service: composed,
    sql: db.sql,
    baseUrl,
    request,
    async token(credentials) {
      if (credentials) return login(credentials)
      adminToken ??= await login(testAdmin)
      return adminToken
    },
    async operatorToken(capabilities, email = `op-${randomUUID().slice(0, 8)}@ops.test`) {
      const password = `pw-${randomUUID()}`
      await createOperator(
        db.sql,
        { email, name: `Operator ${email}`, password, capabilities, isBreakGlass: false },
        { hashParams: { ...cheapScryptParamsForTests } },
      )
      return login({ email, password })
    },
    async eventCount() {
      const [row] = await db.sql<{ count: number }[]>`select count(*)::int as count from event_store_events`
      return row!.count
    },
    async findingsChecksum() {
      const [row] = await db.sql<{ digest: string | null; count: number }[]>`
        select md5(coalesce(string_agg(f::text, '|' order by f.id), '')) as digest, count(*)::int as count from findings f`
      return `${row!.count}:${row!.digest}`
    },
    closeQueue: () => queue.queue.close(),
    async close() {
      await composed.close()
      await queue.dispose()
      await db.close()
    },
  }
}

/** Polls until `condition` holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * A run resource that will change no more: completed and, if the service verifies it (SPEC §11), verified.
 * Tests that check "nothing was appended" wait for this, or a late RunVerified would land in their count.
 */
export function runIsSettled(
  run: { status?: string; outcome?: string; verification?: unknown; revertOf?: string | null } | undefined,
): boolean {
  if (run?.status !== 'completed') return false
  return run.verification != null || !isVerifiable({ outcome: run.outcome ?? '', revertOf: run.revertOf ?? null })
}
