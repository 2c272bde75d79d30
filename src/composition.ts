import type { Server as HttpServer } from 'node:http'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { serve, type ServerType } from '@hono/node-server'
import type { Logger } from 'pino'
import { countOperators, ensureBootstrapAdmin } from './auth/operator-store.js'
import { introduceCapabilities, recordBootstrapOperator } from './commands/operators.js'
import { ConfigError, type Config } from './config.js'
import { connectPostgres, IDLE_IN_TRANSACTION_MS, startEmbedded, type Database } from './db/database.js'
import { seedDemo } from './db/demo-seed.js'
import { createApp } from './http/app.js'
import { ensureConsoleAlertDestination } from './projections/alerts.js'
import type { Projector } from './projections/projector.js'
import { readModelProjector } from './projections/read-model-projections.js'
import { InProcessJobQueue } from './queue/in-process-job-queue.js'
import type { JobConsumer, JobQueue, TenantJob } from './queue/job-queue.js'
import { builtInRunbooks } from './runbooks/built-in-runbooks.js'
import { createRunbookCatalog, type RunbookCatalog } from './runbooks/catalog.js'
import type { Runbook } from './runbooks/runbook.js'
import { migrateService } from './service-migrations.js'
import { createServiceMetrics, type ServiceMetrics } from './metrics/service-metrics.js'
import { EventLog } from './store/event-log.js'
import type { EventStore } from './store/event-store.js'
import { PostgresEventStore } from './store/postgres-event-store.js'
import { createDispatcher } from './workers/dispatcher.js'
import { createVerifier } from './workers/verifier.js'
import { createPlanner } from './workers/planner.js'
import type { EventSubscription } from './workers/event-subscription.js'
import { Reconciler } from './workers/reconciler.js'
import { LeaderLease } from './workers/leader-lease.js'
import { advisoryLockKeys } from './db/advisory-locks.js'
import { BeforeImagePurge } from './workers/before-image-purge.js'
import { AlertSender } from './alerts/alert-sender.js'
import { TenantWorker, type TenantWorkerOptions } from './workers/tenant-worker.js'
import { serveLocalAdmin, type LocalAdmin } from './http/local-admin-socket.js'
import { rebuildReadModelsAs } from './commands/rebuild-read-models.js'

export interface Service {
  config: Config
  db: Database
  store: EventStore
  log: EventLog
  catalog: RunbookCatalog
  queue: JobQueue<TenantJob>
  projector: Projector | null
  /** The HTTP server, when this process serves (every role answers /health). */
  server: ServerType | null
  port: number | null
  bootstrapAdminCreated: boolean
  demoSeeded: boolean
  /** Set when this start created the demo operator (embedded demo without bootstrap credentials). */
  demoCredentials: { email: string; password: string; file: string } | null
  healthy(): Promise<boolean>
  close(): Promise<void>
}

export interface ComposeOverrides {
  /** The runbooks this process offers (default: the built-in ones). */
  runbooks?: readonly Runbook[]
  /** Tests: a database they created (it is not closed by the service). */
  db?: Database
  /** Tests: a queue they created (it is not closed by the service). */
  queue?: JobQueue<TenantJob>
  tenantWorker?: Partial<TenantWorkerOptions>
  /** Tests: scrypt cost for the bootstrap admin. */
  hashParams?: { N: number; r: number; p: number }
  /** Start the HTTP server (default true). */
  listen?: boolean
}

const HEALTH_TIMEOUT_MS = 2_000
/** A worker process that leads died: another leads within this long of its connection ending. */
const LEADER_CHECK_MS = 1_000
/** Before-images are kept for days: an hourly purge keeps them within an hour of their retention. */
const BEFORE_IMAGE_PURGE_INTERVAL_MS = 3_600_000

export const DEMO_ADMIN_EMAIL = 'admin@demo.local'

export function demoCredentialsFile(config: Config): string {
  return join(config.DATA_DIR, 'demo-operator.txt')
}

export async function openDatabase(config: Config): Promise<Database> {
  return config.DATABASE_URL ? connectPostgres(config.DATABASE_URL) : startEmbedded(config.DATA_DIR)
}

/** The service's tables and each runbook's brought up to this release (versioned migrations, one process at a time). */
async function applyServiceSchema(config: Pick<Config, 'EVENTSTORE_URL'>, db: Database, catalog: RunbookCatalog): Promise<void> {
  await migrateService(db.sql, { postgresEventStore: !config.EVENTSTORE_URL, runbooks: catalog.runbooks })
}

/** The event store: EventStoreDB when configured, the database's own tables otherwise. */
export async function connectEventStore(config: Pick<Config, 'EVENTSTORE_URL'>, db: Database): Promise<EventStore> {
  // On PostgreSQL the roles may be processes of their own: each append wakes every process's followers.
  if (!config.EVENTSTORE_URL) return new PostgresEventStore(db.sql, { acrossProcesses: db.kind === 'postgres' })
  // Loaded only when configured, as the NATS queue below: the clients are tens of MiB the embedded default does not need.
  const { EventStoreDbEventStore } = await import('./store/eventstoredb-event-store.js')
  return EventStoreDbEventStore.connect(config.EVENTSTORE_URL)
}

async function openQueue(config: Config, logger: Logger, onStreamRecreated: () => void): Promise<JobQueue<TenantJob>> {
  if (!config.NATS_URL) return new InProcessJobQueue<TenantJob>({ logger, ackWaitMs: config.JOB_ACK_WAIT_MS })
  const { NatsJobQueue } = await import('./queue/nats-job-queue.js')
  // max_deliver must exceed the worker's own attempt limits (TENANT_LOCKED waits up to ~900 s), so the
  // worker always records the final failure itself and no job is left stranded at the server's limit.
  return NatsJobQueue.connect<TenantJob>({
    url: config.NATS_URL,
    stream: config.NATS_STREAM,
    subject: `runbook.jobs.${config.NATS_STREAM}`,
    durable: `${config.NATS_STREAM}-workers`,
    ackWaitMs: config.JOB_ACK_WAIT_MS,
    maxDeliver: 100,
    // Short idle pulls: after NATS comes back, a pull the restarted server forgot ends within 2 s, and an
    // empty one is when the queue checks its stream is still there.
    pullExpiresMs: 2_000,
    logger,
    onStreamRecreated,
  })
}

/** This process's own address, as a client on this host reaches it. */
function ownBaseUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host
  return `http://${reachable}:${port}`
}

/** `open()`'s answer; when it fails, `close()` first (what was opened before it), then its failure. */
async function closingOnFailure<T>(open: () => Promise<T>, close: () => Promise<void>): Promise<T> {
  try {
    return await open()
  } catch (error) {
    await close().catch(() => {})
    throw error
  }
}

/** The one composition root: builds the object graph from validated configuration and starts the roles. */
export async function composeService(config: Config, logger: Logger, overrides: ComposeOverrides = {}): Promise<Service> {
  const catalog = createRunbookCatalog(overrides.runbooks ?? builtInRunbooks)
  const db = overrides.db ?? (await openDatabase(config))
  const closeDatabase = async () => {
    if (!overrides.db) await db.close()
  }
  await closingOnFailure(() => applyServiceSchema(config, db, catalog), closeDatabase)
  const store = await closingOnFailure(() => connectEventStore(config, db), closeDatabase)
  // Bound once the queue exists (nothing is appended before): the metrics read its depth.
  let metrics: ServiceMetrics | null = null
  const log = new EventLog(store, (appended) => metrics?.eventsAppended(appended))
  // The queue is made before the reconciler that answers its news of lost jobs: bound late, and news that
  // comes before there is a reconciler (the stream made again at connect) is kept for it. Only a process
  // with the worker role has a reconciler; the others' queues never publish, so they lose nothing to tell.
  let jobsLostBeforeReconciler = false
  let jobsLost = () => {
    jobsLostBeforeReconciler = true
  }
  const queue =
    overrides.queue ??
    (await closingOnFailure(
      () => openQueue(config, logger, () => jobsLost()),
      async () => {
        await store.close()
        await closeDatabase()
      },
    ))
  metrics = createServiceMetrics({ sql: db.sql, store, storeInDatabase: log.appendsInTransactions, queue })

  const roles = config.ROLE === 'all' ? new Set(['api', 'worker', 'projector']) : new Set([config.ROLE])
  let projector: Projector | null = null
  let leaderLease: LeaderLease | null = null
  let dispatcher: EventSubscription | null = null
  let verifier: EventSubscription | null = null
  let planner: EventSubscription | null = null
  let consumer: JobConsumer | null = null
  let reconciler: Reconciler | null = null
  let beforeImagePurge: BeforeImagePurge | null = null
  let alertSender: AlertSender | null = null
  let localAdmin: LocalAdmin | null = null
  let port: number | null = null
  let demoSeeded = false
  let demoCredentials: { email: string; password: string; file: string } | null = null
  let bootstrapAdminCreated = false
  // A dependency that is down may not answer at all (a connection attempt waits for its timeout): the
  // probe answers "unavailable" within HEALTH_TIMEOUT_MS whatever it is waiting for.
  const probe = async (): Promise<boolean> => {
    await db.sql`select 1`
    // Not a $-stream: those are system streams EventStoreDB may refuse to read without admin rights.
    await store.readStream('health-probe', { maxCount: 1 })
    return queue.healthy()
  }
  const healthy = async (): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), HEALTH_TIMEOUT_MS)
    })
    try {
      return await Promise.race([probe().catch(() => false), timedOut])
    } finally {
      clearTimeout(timer)
    }
  }

  let server: ServerType | null = null
  try {
    if (roles.has('api')) {
      if (config.demoSeed) {
        demoSeeded = await seedDemo(db.sql)
        await ensureConsoleAlertDestination({ sql: db.sql, log })
      }
      let admin = config.OPS_BOOTSTRAP_ADMIN_EMAIL
        ? { email: config.OPS_BOOTSTRAP_ADMIN_EMAIL, password: config.OPS_BOOTSTRAP_ADMIN_PASSWORD! }
        : null
      if (!admin && config.demoSeed && (await countOperators(db.sql)) === 0) {
        // The demo must be usable without configuration: a demo operator with a random password, shown once
        // and kept (mode 0600) in the data folder so it can be read again.
        demoCredentials = { email: DEMO_ADMIN_EMAIL, password: randomBytes(12).toString('base64url'), file: demoCredentialsFile(config) }
        admin = demoCredentials
      }
      bootstrapAdminCreated = await ensureBootstrapAdmin(
        db.sql,
        admin,
        catalog.knownCapabilities,
        overrides.hashParams ? { hashParams: overrides.hashParams } : {},
      )
      // At every start, not only the creating one: a creation whose event a crash kept from the store (or one by
      // an earlier release) is recorded while the operator's stream is still empty.
      if (admin) await recordBootstrapOperator({ sql: db.sql, log }, admin.email)
      const introduced = await introduceCapabilities({ sql: db.sql, log, knownCapabilities: catalog.knownCapabilities })
      if (introduced.length > 0) logger.info({ capabilities: introduced }, 'capabilities introduced by this release; granted to the bootstrap admin')
      if (demoCredentials && bootstrapAdminCreated) {
        mkdirSync(config.DATA_DIR, { recursive: true })
        writeFileSync(demoCredentials.file, `email: ${demoCredentials.email}\npassword: ${demoCredentials.password}\n`, { mode: 0o600 })
      } else {
        demoCredentials = null
      }
    }

    if (roles.has('projector')) {
      projector = readModelProjector({ store, sql: db.sql, consoleBaseUrl: config.publicUrl, logger })
      projector.start()
    }

    if (roles.has('worker')) {
      const deps = { sql: db.sql, log, queue, logger }
      const lead = () => {
        dispatcher = createDispatcher(deps)
        dispatcher.start()
        verifier = createVerifier({ ...deps, catalog, verifyLock: db.kind === 'postgres' })
        verifier.start()
        planner = createPlanner({ ...deps, catalog, planLock: db.kind === 'postgres' })
        planner.start()
      }
      const stepDown = async () => {
        const running = [dispatcher, verifier, planner]
        dispatcher = verifier = planner = null
        await Promise.all(running.map((follower) => follower?.stop()))
      }
      // The embedded database belongs to one process (data-dir-lock.ts): it leads, with no lease to hold.
      if (db.kind === 'embedded') lead()
      else {
        leaderLease = new LeaderLease({ url: db.url, lockKey: advisoryLockKeys.followersLeader, checkEveryMs: LEADER_CHECK_MS, lead, stepDown, logger })
        await leaderLease.start()
      }
      const heartbeatMs = Math.max(100, Math.floor(config.JOB_ACK_WAIT_MS / 3))
      const worker = new TenantWorker(
        { ...deps, catalog },
        { heartbeatMs, idleInTransactionMs: db.kind === 'postgres' ? IDLE_IN_TRANSACTION_MS : 0, ...overrides.tenantWorker },
      )
      consumer = await worker.start(config.WORKER_CONCURRENCY)
      reconciler = new Reconciler({ ...deps, catalog, planLock: db.kind === 'postgres', queueAvailable: () => queue.healthy() }, {
        staleAfterMs: config.RECONCILER_STALE_AFTER_MS,
        intervalMs: config.RECONCILER_INTERVAL_MS,
        // Jobs delivered but not yet under way when the queue lost its stream show up as a quiet run: a few
        // ack waits of quiet are enough to tell, while the loss is fresh.
        staleAfterLossMs: 3 * config.JOB_ACK_WAIT_MS,
      })
      const started = reconciler
      jobsLost = () => void started.presumeJobsLost()
      if (jobsLostBeforeReconciler) jobsLost()
      reconciler.start()
      beforeImagePurge = new BeforeImagePurge(deps, { retentionDays: config.OPS_BEFORE_IMAGE_DAYS, intervalMs: BEFORE_IMAGE_PURGE_INTERVAL_MS })
      beforeImagePurge.start()
      // The console's inbox is this service: posted to directly when this process serves the API, else at PUBLIC_URL.
      alertSender = new AlertSender({
        sql: db.sql,
        logger,
        hostPolicy: config.webhookHostPolicy,
        serviceBaseUrl: () => (roles.has('api') ? (port === null ? null : ownBaseUrl(config.HOST, port)) : config.publicUrl),
      })
      alertSender.start()
    }

    if (overrides.listen !== false) {
      const app = createApp({
        sql: db.sql,
        log,
        catalog,
        logger,
        config,
        healthy,
        serveApi: roles.has('api'),
        metrics,
        ...(overrides.hashParams ? { hashParams: overrides.hashParams } : {}),
      })
      const started = await listen(app)
      server = started.server
      port = started.port
    }
    // The embedded database's folder is this process's alone: `npm run rebuild-projections` asks it to rebuild.
    if (!overrides.db && db.kind === 'embedded') {
      const rebuild = () => rebuildReadModelsAs({ sql: db.sql, log, consoleBaseUrl: config.publicUrl, logger }, 'deployment')
      localAdmin = await serveLocalAdmin(config.DATA_DIR, rebuild, logger)
    }
  } catch (error) {
    // Whatever failed (the seeding, the leader lease, the worker, the listen), the roles started before it would
    // keep the process, its connections and the embedded database's folder held; a server listening already too.
    const listening = server as HttpServer | null
    if (listening) await new Promise<void>((resolve) => listening.close(() => resolve()))
    await stopRoles().catch(() => {})
    await closeConnections().catch(() => {})
    throw error
  }

  return {
    config,
    db,
    store,
    log,
    catalog,
    queue,
    projector,
    server,
    port,
    bootstrapAdminCreated,
    demoSeeded,
    demoCredentials,
    healthy,
    async close() {
      // New connections are refused at once; requests under way and the workers' jobs in flight finish.
      const http = server as (ServerType & Partial<Pick<HttpServer, 'closeIdleConnections' | 'closeAllConnections'>>) | null
      const httpClosed = http ? new Promise<void>((resolve) => http.close(() => resolve())) : Promise.resolve()
      http?.closeIdleConnections?.()
      await stopRoles()
      // What is still open now are live streams (run pages, `--follow`): their clients reconnect elsewhere.
      http?.closeAllConnections?.()
      await httpClosed
      await closeConnections()
    },
  }

  /** Stops the roles this process started, the workers first; one that fails to stop does not keep the rest running. */
  async function stopRoles(): Promise<void> {
    jobsLost = () => {}
    const failures: unknown[] = []
    const stop = async (role: () => Promise<unknown> | undefined) => {
      try {
        await role()
      } catch (error) {
        failures.push(error)
      }
    }
    await stop(() => localAdmin?.close())
    await stop(() => reconciler?.stop())
    await stop(() => beforeImagePurge?.stop())
    await stop(() => alertSender?.stop())
    await stop(() => consumer?.stop())
    if (leaderLease) await stop(() => leaderLease?.stop())
    else await Promise.all([dispatcher, verifier, planner].map((follower) => stop(() => follower?.stop())))
    await stop(() => projector?.stop())
    if (failures.length > 0) throw failures[0]
  }

  /** Closes the queue, the store and the database, unless they were handed in. */
  async function closeConnections(): Promise<void> {
    if (!overrides.queue) await queue.close()
    await store.close()
    await closeDatabase()
  }

  function listen(app: ReturnType<typeof createApp>): Promise<{ server: ServerType; port: number }> {
    return new Promise<{ server: ServerType; port: number }>((resolve, reject) => {
      // A port taken or not allowed is the operator's to fix: said in a sentence that names the variable.
      // Only while listening starts: a later error of the server is not a start-up's.
      const refused = (error: NodeJS.ErrnoException) => {
        const where = `port ${config.PORT}${config.HOST ? ` on ${config.HOST}` : ''}`
        if (error.code === 'EADDRINUSE') reject(new ConfigError(`${where} is already in use: stop what listens there, or set PORT to another`))
        else if (error.code === 'EACCES') reject(new ConfigError(`${where} may not be opened by this user: set PORT to another (above 1023)`))
        else reject(error)
      }
      const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
        s.off('error', refused)
        resolve({ server: s, port: info.port })
      })
      s.once('error', refused)
    })
  }
}
