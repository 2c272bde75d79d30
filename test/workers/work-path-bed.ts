import pino, { type Logger } from 'pino'
import type { Actor } from '../../src/commands/actor.js'
import { loadRun } from '../../src/commands/run-execution.js'
import { testCatalog } from '../support/catalog.js'
import type { RunbookCatalog } from '../../src/runbooks/catalog.js'
import { startRun } from '../../src/commands/start-run.js'
import type { Database, Sql } from '../../src/db/database.js'
import { beforeImageSchema } from '../../src/db/before-images.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { platformSchema } from '../../src/db/schema.js'
import { streams, type EventData } from '../../src/events/index.js'
import { readModelSchema } from '../../src/projections/read-model-schema.js'
import type { JobConsumer, JobDelivery, JobQueue, TenantJob } from '../../src/queue/job-queue.js'
import { findingsLifecycleBackfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import type { Runbook } from '../../src/runbooks/runbook.js'
import { EventLog, type LoggedEvent } from '../../src/store/event-log.js'
import { eventStoreSchema, PostgresEventStore } from '../../src/store/postgres-event-store.js'
import { subscriptionSchema, type EventSubscription } from '../../src/workers/event-subscription.js'
import { tenantResultsSchema } from '../../src/db/tenant-results.js'
import { DAY, finding, insertFindings, insertTenant, T0 } from '../runbooks/findings-fixture.js'

export const runbookKey = findingsLifecycleBackfill.key

/** The tenants every work-path test starts with. Tenant 1 is the platform tenant (workspace 1). */
export const tenants = {
  platform: 1,
  /** Four findings, three of them need repair. */
  mixed: 10,
  /** Two findings, both already repaired. */
  clean: 20,
  /** One finding with severity 'urgent' (outside the known set) and one that needs repair: fails INVALID_DATA. */
  invalid: 30,
} as const

export const universe = [tenants.mixed, tenants.clean, tenants.invalid]

export const actor: Actor = {
  operatorId: 'op-ops',
  email: 'ops@example.test',
  name: 'Ops Operator',
  capabilities: [
    'platform.ops.view',
    'platform.runbooks.view',
    'platform.runbooks.run',
    'platform.runbooks.findings.lifecycle_backfill',
  ],
  isBreakGlass: false,
  ip: null,
  userAgent: null,
}

export const silentLogger: Logger = pino({ level: 'silent' })

export interface WorkBed {
  db: Database
  sql: Sql
  store: PostgresEventStore
  log: EventLog
  logger: Logger
  catalog: RunbookCatalog
  close(): Promise<void>
}

export async function openWorkBed(open: () => Promise<Database>): Promise<WorkBed> {
  const db = await open()
  try {
    await applyMigrations(db.sql, [platformSchema, eventStoreSchema, readModelSchema, tenantResultsSchema, subscriptionSchema, beforeImageSchema])
    await seedTenants(db.sql)
  } catch (error) {
    await db.close()
    throw error
  }
  const store = new PostgresEventStore(db.sql)
  return { db, sql: db.sql, store, log: new EventLog(store), logger: silentLogger, catalog: testCatalog, close: () => db.close() }
}

async function seedTenants(sql: Sql): Promise<void> {
  await insertTenant(sql, { id: tenants.platform, workspaceId: 1, name: 'Platform', isPlatform: true })
  await insertTenant(sql, { id: tenants.mixed, workspaceId: 110, name: 'Mixed' })
  await insertTenant(sql, { id: tenants.clean, workspaceId: 120, name: 'Clean' })
  await insertTenant(sql, { id: tenants.invalid, workspaceId: 130, name: 'Invalid' })
  await insertFindings(sql, [
    // Legacy status with no first-seen time: normalised, gets an SLA.
    finding(101, tenants.mixed, { status: 'open', severity: 'high', firstSeenAt: null }),
    // A duplicate pair: 103 (earlier) is canonical, 102 is resolved as its duplicate.
    finding(102, tenants.mixed, { fingerprint: 'fp-dup', severity: 'info', firstSeenAt: T0 + DAY, lastSeenAt: T0 + 2 * DAY }),
    finding(103, tenants.mixed, { fingerprint: 'fp-dup', severity: 'info', firstSeenAt: T0, lastSeenAt: T0 + DAY }),
    finding(104, tenants.mixed),
    finding(201, tenants.clean),
    finding(202, tenants.clean, { severity: 'low', status: 'resolved', resolvedAt: T0 + DAY, resolvedReason: 'fixed' }),
    finding(301, tenants.invalid, { severity: 'urgent' }),
    finding(302, tenants.invalid, { status: 'closed', severity: 'medium' }),
  ])
}

export async function startAllTenantsRun(
  bed: Pick<WorkBed, 'sql' | 'log' | 'catalog'>,
  limits?: { maxConcurrency?: number; maxFailures?: number | null },
): Promise<string> {
  const { runId } = await startRun(bed, actor, {
    runbookKey,
    scope: 'all_tenants',
    tenantId: null,
    confirmation: runbookKey,
    reason: { code: 'DATA_REPAIR', text: 'normalise legacy finding lifecycles' },
    source: 'cli',
    ...(limits ? { limits } : {}),
  })
  return runId
}

export async function startSingleTenantRun(bed: Pick<WorkBed, 'sql' | 'log' | 'catalog'>, tenantId: number): Promise<string> {
  const { runId } = await startRun(bed, actor, {
    runbookKey,
    scope: 'single_tenant',
    tenantId,
    confirmation: runbookKey,
    reason: null,
    source: 'cli',
  })
  return runId
}

/** The lifecycle runbook with each tenant its preflight scans recorded in `scanned`, and a catalog of it alone. */
export function countingPreflightScans(): { scanned: number[]; catalog: Pick<RunbookCatalog, 'find'> } {
  const scanned: number[] = []
  const counting: Runbook = {
    ...findingsLifecycleBackfill,
    preflightTenant: (...args: Parameters<typeof findingsLifecycleBackfill.preflightTenant>) => {
      scanned.push(args[1])
      return findingsLifecycleBackfill.preflightTenant(...args)
    },
  }
  return { scanned, catalog: { find: (key: string) => (key === counting.key ? counting : undefined) } }
}

export async function runEvents(log: EventLog, runId: string): Promise<LoggedEvent[]> {
  return (await log.read(streams.run(runId))).events
}

export async function tenantProcessedEvents(log: EventLog, runId: string): Promise<Array<EventData<'TenantProcessed'>>> {
  return (await runEvents(log, runId)).flatMap((e) => (e.event.type === 'TenantProcessed' ? [e.event.data] : []))
}

export async function runCompletedEvents(log: EventLog, runId: string): Promise<Array<EventData<'RunCompleted'>>> {
  return (await runEvents(log, runId)).flatMap((e) => (e.event.type === 'RunCompleted' ? [e.event.data] : []))
}

/** Polls the run's stream until it completes; the only RunCompleted is returned. */
export async function waitForRunCompleted(log: EventLog, runId: string, timeoutMs = 20_000): Promise<EventData<'RunCompleted'>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const state = await loadRun(log, runId)
    if (state.status === 'completed') {
      const [completed] = await runCompletedEvents(log, runId)
      return completed!
    }
    if (Date.now() > deadline) throw new Error(`run ${runId} did not complete within ${timeoutMs} ms (status ${state.status})`)
    await sleep(25)
  }
}

/**
 * Runs the dispatcher until none of the runs is still queued. One pass is not always enough on a shared
 * PostgreSQL server: the event store's read horizon is the oldest transaction open anywhere on the server,
 * so another suite's open transaction can hide a just-appended RunRequested for a moment.
 */
export async function dispatchRuns(dispatcher: EventSubscription, log: EventLog, runIds: readonly string[]): Promise<void> {
  await waitFor(
    async () => {
      await dispatcher.runOnce()
      for (const runId of runIds) if ((await loadRun(log, runId)).status === 'queued') return false
      return true
    },
    20_000,
    `the dispatcher to start runs ${runIds.join(', ')}`,
  )
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Per-tenant preflight of the real runbook on the data as it is now. */
export async function preflightOf(sql: Sql, tenantIds: readonly number[]): Promise<Map<number, { affected: number; total: number; wouldFail: boolean }>> {
  const counts = new Map<number, { affected: number; total: number; wouldFail: boolean }>()
  for (const id of tenantIds) {
    const { affected, total, wouldFail } = await findingsLifecycleBackfill.preflightTenant(sql, id, {})
    counts.set(id, { affected, total, wouldFail: Boolean(wouldFail) })
  }
  return counts
}

/** A plan's sums as SPEC §2 has them: over the tenants whose repair would succeed. */
export function planSums(plan: Map<number, { affected: number; total: number; wouldFail: boolean }>): { affected: number; total: number } {
  const succeeding = [...plan.values()].filter((t) => !t.wouldFail)
  return { affected: succeeding.reduce((n, t) => n + t.affected, 0), total: succeeding.reduce((n, t) => n + t.total, 0) }
}

export interface TenantJobResultRow {
  run_id: string
  tenant_id: string
  status: string
  total: number | null
  updated: number | null
  reason_code: string | null
  message: string | null
  attempt: number
}

export async function tenantJobResults(sql: Sql, runId: string): Promise<TenantJobResultRow[]> {
  return sql<TenantJobResultRow[]>`select * from tenant_job_results where run_id = ${runId} order by tenant_id`
}

/** The real runbook, counting how often its repair ran (including attempts rolled back). */
export function countingRunbook(base: Runbook = findingsLifecycleBackfill): Runbook & { executions: number[] } {
  const executions: number[] = []
  return {
    ...base,
    executions,
    async executeTenant(tx, tenantId) {
      executions.push(tenantId)
      return base.executeTenant(tx, tenantId, {})
    },
  }
}

/**
 * A runbook whose repair waits, inside its transaction, until released (only `tenantId`'s, when given);
 * `base` counts what it repairs.
 */
export function repairThatWaits(base = countingRunbook(), tenantId?: number) {
  let release!: () => void
  const mayFinish = new Promise<void>((resolve) => (release = resolve))
  let started!: () => void
  const isRepairing = new Promise<void>((resolve) => (started = resolve))
  const runbook: Runbook & { executions: number[] } = {
    ...base,
    executions: base.executions,
    async executeTenant(tx, id, parameters) {
      if (tenantId === undefined || id === tenantId) {
        started()
        await mayFinish
      }
      return base.executeTenant(tx, id, parameters)
    },
  }
  return { runbook, isRepairing, release }
}

/**
 * A hand-made delivery: the worker's logic is under test, not the queue. Records what the worker did
 * with it.
 */
export function fakeDelivery(job: TenantJob, deliveryCount: number) {
  const settled: Array<{ kind: 'ack' } | { kind: 'retryLater'; delayMs: number }> = []
  const delivery: JobDelivery<TenantJob> = {
    job,
    deliveryCount,
    ack: async () => {
      settled.push({ kind: 'ack' })
    },
    retryLater: async (delayMs: number) => {
      settled.push({ kind: 'retryLater', delayMs })
    },
    working: async () => {},
  }
  return { delivery, settled }
}

export function jobFor(runId: string, tenantId: number, generation = 0): TenantJob {
  return { runId, runbookKey, tenantIds: [tenantId], generation }
}

/** A queue that loses every job it is given (DESIGN invariant 7: NATS may lose a message), keeping a note of them. */
export class LosingJobQueue implements JobQueue<TenantJob> {
  readonly lost: Array<{ job: TenantJob; dedupeId: string }> = []

  async publish(job: TenantJob, dedupeId: string): Promise<void> {
    this.lost.push({ job, dedupeId })
  }

  async consume(): Promise<JobConsumer> {
    throw new Error('a losing queue delivers nothing')
  }

  async healthy(): Promise<boolean> {
    return true
  }

  async close(): Promise<void> {}
}
