import type { Database, Sql } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { platformSchema } from '../../src/db/schema.js'
import {
  encodeEvent,
  streams,
  type DomainEvent,
  type EventData,
  type EventMetadata,
  type Initiator,
} from '../../src/events/index.js'
import { listAudit, type AuditEntry, type Page } from '../../src/projections/queries.js'
import { readModelSchema } from '../../src/projections/read-model-schema.js'
import { eventStoreSchema, PostgresEventStore } from '../../src/store/postgres-event-store.js'

export const runbookKey = 'findings.lifecycle.backfill'
export const platformWorkspaceId = 100

export const alice: Extract<Initiator, { kind: 'operator' }> = {
  kind: 'operator',
  platformUserId: 'op-alice',
  email: 'alice@ops.example',
  name: 'Alice Operator',
  isBreakGlass: false,
  ip: '10.0.0.5',
  userAgent: 'Mozilla/5.0 (X11)',
}
export const aliceAsRunInitiator = { platformUserId: alice.platformUserId, email: alice.email, name: alice.name, isBreakGlass: false }
export const tenantWorker: Initiator = { kind: 'system', component: 'tenant-worker' }
export const dispatcher: Initiator = { kind: 'system', component: 'dispatcher' }

let eventCounter = 0
/** Deterministic, valid v4-shaped UUIDs so that tests can name audit rows (their id is the event id). */
export function nextEventId(): string {
  eventCounter += 1
  return `00000000-0000-4000-8000-${eventCounter.toString().padStart(12, '0')}`
}

export function hashOf(seed: string): string {
  return Buffer.from(seed.padEnd(32, '.')).toString('hex').slice(0, 64).padEnd(64, '0')
}

export interface TestBed {
  db: Database
  sql: Sql
  store: PostgresEventStore
  /** Appends one event to a stream with the given initiator and time; returns its metadata. */
  append(streamId: string, event: DomainEvent, initiator: Initiator, occurredAt: string, correlationId?: string): Promise<EventMetadata>
  /**
   * Waits until `readAll` shows every event appended so far. The PostgreSQL store only shows events
   * below the cluster's oldest running transaction, and other suites share the server.
   */
  settle(): Promise<void>
}

export async function openTestBed(open: () => Promise<Database>): Promise<TestBed> {
  const db = await open()
  await applyMigrations(db.sql, [platformSchema, eventStoreSchema, readModelSchema])
  await db.sql`
    insert into tenants (id, workspace_id, name, is_platform) values
      (1, ${platformWorkspaceId}, 'Platform', true), (11, 201, 'Acme', false), (12, 202, 'Globex', false), (13, 203, 'Initech', false)`
  await db.sql`
    insert into alert_destinations (id, workspace_id, kind, target, enabled) values
      ('dest-email', ${platformWorkspaceId}, 'email', 'oncall@ops.example', true),
      ('dest-hook', ${platformWorkspaceId}, 'webhook', 'https://hooks.example/ops', true),
      ('dest-off', ${platformWorkspaceId}, 'email', 'old@ops.example', false),
      ('dest-acme', 201, 'email', 'admin@acme.example', true)`
  const store = new PostgresEventStore(db.sql)
  const appendedIds: string[] = []
  return {
    db,
    sql: db.sql,
    store,
    async append(streamId, event, initiator, occurredAt, correlationId) {
      const metadata: EventMetadata = {
        eventId: nextEventId(),
        correlationId: correlationId ?? streamId,
        causationId: null,
        initiator,
        occurredAt,
      }
      await store.append(streamId, [{ eventId: metadata.eventId, ...encodeEvent(event, metadata) }], { expectedRevision: 'any' })
      appendedIds.push(metadata.eventId)
      return metadata
    },
    async settle() {
      const deadline = Date.now() + 30_000
      for (;;) {
        const visible = new Set((await store.readAll({ maxCount: 100_000 })).map((e) => e.eventId))
        if (appendedIds.every((id) => visible.has(id))) return
        if (Date.now() > deadline) throw new Error('appended events did not become visible to readAll within 30 s')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
  }
}

export function runRequested(overrides: Partial<EventData<'RunRequested'>> & Pick<EventData<'RunRequested'>, 'runId' | 'requestedAt'>): DomainEvent {
  return {
    type: 'RunRequested',
    data: {
      runbookKey,
      scope: 'single_tenant',
      workspaceId: 201,
      targetTenantId: 11,
      tenantIds: [11],
      source: 'system_ui',
      preflight: { affectedCount: 5, totalCount: 8, estimatedTenants: 1 },
      reason: null,
      initiator: aliceAsRunInitiator,
      runIdentityHash: hashOf(overrides.runId),
      limits: { maxConcurrency: 4, maxFailures: null },
      retryOf: null,
      approvalRequired: false,
      parameters: {},
      pinnedPreflightId: null,
      canary: null,
      revertOf: null,
      ...overrides,
    },
  }
}

type TenantOutcome = { tenantId: number; attempt?: number; result: EventData<'TenantProcessed'>['result']; at: string }

export async function appendTenantProcessed(bed: TestBed, runId: string, r: TenantOutcome): Promise<void> {
  await bed.append(
    streams.run(runId),
    { type: 'TenantProcessed', data: { runId, tenantId: r.tenantId, attempt: r.attempt ?? 1, result: r.result, processedAt: r.at, startedAt: null, completedAt: null } },
    tenantWorker,
    r.at,
    runId,
  )
}

export async function appendCompleted(bed: TestBed, runId: string, completed: Omit<EventData<'RunCompleted'>, 'runId'>): Promise<void> {
  await bed.append(streams.run(runId), { type: 'RunCompleted', data: { runId, ...completed } }, tenantWorker, completed.completedAt, runId)
}

/** Appends a run: requested, started (when given), one TenantProcessed per result, completed (when given). */
export async function appendRun(
  bed: TestBed,
  run: {
    requested: Parameters<typeof runRequested>[0]
    startedAt?: string
    results?: TenantOutcome[]
    completed?: Omit<EventData<'RunCompleted'>, 'runId'>
  },
): Promise<void> {
  const runId = run.requested.runId
  const stream = streams.run(runId)
  await bed.append(stream, runRequested(run.requested), alice, run.requested.requestedAt, runId)
  if (run.startedAt) await bed.append(stream, { type: 'RunStarted', data: { runId, startedAt: run.startedAt } }, dispatcher, run.startedAt, runId)
  for (const r of run.results ?? []) await appendTenantProcessed(bed, runId, r)
  if (run.completed) await appendCompleted(bed, runId, run.completed)
}

const tables: Record<string, string> = {
  operation_runs: 'id',
  operation_run_tenants: 'run_id, tenant_id',
  operation_run_controls: 'run_id',
  audit_log: 'id',
  alert_deliveries: 'id',
}

/** Every row of every projected table, in a stable order. */
export async function dumpReadModels(sql: Sql): Promise<Record<string, unknown[]>> {
  const dump: Record<string, unknown[]> = {}
  for (const [table, order] of Object.entries(tables)) {
    dump[table] = [...(await sql.unsafe(`select * from ${table} order by ${order}`))]
  }
  return dump
}

/**
 * A run steered through every control of SPEC §9: limits changed, paused over its error budget, resumed,
 * paused by an operator, cancelled with a repair in flight, completed cancelled (one tenant never started).
 */
export async function appendControlledRun(bed: TestBed): Promise<void> {
  const runId = 'run-steered'
  const stream = streams.run(runId)
  const reason = { reasonCode: 'INCIDENT' as const, reasonText: 'steering the repair by hand' }
  const at = (s: number) => `2025-03-02T10:00:${String(s).padStart(2, '0')}.000Z`
  await bed.append(stream, runRequested({ runId, requestedAt: at(0), scope: 'all_tenants', targetTenantId: null, tenantIds: [11, 12, 13], limits: { maxConcurrency: 2, maxFailures: null } }), alice, at(0), runId)
  await bed.append(stream, { type: 'RunStarted', data: { runId, startedAt: at(1) } }, dispatcher, at(1), runId)
  await bed.append(stream, { type: 'RunLimitsChanged', data: { runId, limits: { maxConcurrency: 1, maxFailures: 0 }, previous: { maxConcurrency: 2, maxFailures: null }, changedAt: at(2) } }, alice, at(2), runId)
  await appendTenantProcessed(bed, runId, { tenantId: 12, result: { status: 'failed', reasonCode: 'INVALID_DATA', message: 'finding 1203 is odd' }, at: at(3) })
  await bed.append(stream, { type: 'RunPaused', data: { runId, reason: { reasonCode: 'ERROR_BUDGET_EXCEEDED', reasonText: '1 tenants failed' }, pausedAt: at(3) } }, tenantWorker, at(3), runId)
  await bed.append(stream, { type: 'RunResumed', data: { runId, reason: null, generation: 1, resumedAt: at(4) } }, alice, at(4), runId)
  await bed.append(stream, { type: 'RunPaused', data: { runId, reason, pausedAt: at(5) } }, alice, at(5), runId)
  await bed.append(stream, { type: 'RunCancelled', data: { runId, reason, cancelledAt: at(6) } }, alice, at(6), runId)
  await appendTenantProcessed(bed, runId, { tenantId: 11, result: { status: 'succeeded', total: 8, updated: 5 }, at: at(7) })
  await appendCompleted(bed, runId, {
    outcome: 'cancelled',
    summaryCounts: { total: 8, processed: 8, updated: 5, skipped: 3, failed: 1, tenants: 3 },
    failureSummary: [{ tenantId: 12, reasonCode: 'INVALID_DATA', message: 'finding 1203 is odd' }],
    completedAt: at(7),
  })
}

/** Every audit entry `listAudit` lists, page after page of `limit`. */
export async function listWholeAudit(sql: Sql, limit: number): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = []
  let cursor: string | null = null
  do {
    const page: Page<AuditEntry> = await listAudit(sql, { limit, cursor })
    entries.push(...page.items)
    cursor = page.nextCursor
  } while (cursor)
  return entries
}
