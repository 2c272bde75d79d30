import { z } from 'zod'
import type { RunState } from '../commands/run/run-state.js'
import type { Sql } from '../db/database.js'

/**
 * The read side the HTTP layer calls: camelCase results, ISO-8601 strings for times, numbers for ids.
 * The JSON columns (`summaryCounts`, `failureSummary`, `context`, audit `context`, alert `payload`) are
 * returned as stored — snake_case inside, as SPEC §3 writes them.
 */

export const MAX_PAGE_SIZE = 200

export class InvalidCursorError extends Error {
  constructor(readonly cursor: string) {
    super('invalid cursor')
    this.name = 'InvalidCursorError'
  }
}

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

export interface RunSummary {
  id: string
  workspaceId: number
  tenantId: number | null
  userId: string
  initiatorName: string
  type: string
  status: string
  outcome: string
  runIdentityHash: string
  summaryCounts: Record<string, number>
  failureSummary: Array<{ tenant_id: number; reason_code: string; message: string }>
  context: Record<string, unknown>
  startedAt: string | null
  completedAt: string | null
  createdAt: string
  /** SPEC §9 additions. */
  limits: { maxConcurrency: number; maxFailures: number | null }
  pause: RunControlEntry | null
  /** Set from a cancel until the run completes `cancelled` (its in-flight repairs are being recorded). */
  cancellation: RunControlEntry | null
  tenantCounts: { targeted: number; pending: number; succeeded: number; failed: number; cancelled: number }
  retryOf: string | null
  /** SPEC §11: the run a revert run puts back; null for any other run. */
  revertOf: string | null
  /** SPEC §10: null for a run that needed no approval. */
  approval: { required: boolean; approvedBy: string | null; approvedAt: string | null; comment: string | null } | null
  /** SPEC §11: what a re-scan of the succeeded tenants after completion found still to change; null before. */
  verification: { remaining: number; tenantsWithRemaining: Array<{ tenantId: number; remaining: number }>; verifiedAt: string } | null
  /** SPEC §11: the tenants repaired first and alone; null for a run without a canary. */
  canary: { tenantIds: number[]; autoPromote: boolean; state: 'running' | 'passed' | 'failed' } | null
}

export interface RunControlEntry {
  reasonCode: string
  reasonText: string
  /** The operator's id, or `system` for the service's own pauses. */
  by: string
  byEmail: string | null
  byName: string | null
  at: string
}

export type RunDetail = RunSummary

/** A tenant of a run (SPEC §9 `GET /api/runs/{id}/tenants`). */
export interface RunTenant {
  tenantId: number
  tenantName: string | null
  status: 'pending' | 'succeeded' | 'failed' | 'cancelled'
  attempts: number
  counts: { total: number; updated: number; skipped: number } | null
  reasonCode: string | null
  message: string | null
  startedAt: string | null
  completedAt: string | null
}

export interface AuditEntry {
  id: string
  action: string
  occurredAt: string
  actorUserId: string | null
  actorEmail: string | null
  operationRunId: string | null
  context: Record<string, unknown>
  /** SPEC §12: the entry's place in the hash chain, its hash and the hash it chains from. */
  sequence: number
  hash: string
  previousHash: string
}

export interface AlertDelivery {
  id: string
  alertKey: string
  runId: string
  workspaceId: number
  destinationId: string
  payload: Record<string, unknown>
  status: string
  createdAt: string
}

export interface ListRunsFilter {
  status?: string
  outcome?: string
  runbook?: string
  /** Runs whose `tenant_id` is this tenant (single-tenant runs; all-tenants runs have none). */
  tenantId?: number
  cursor?: string | null
  limit: number
}

interface RunRow {
  id: string
  workspace_id: string
  tenant_id: string | null
  user_id: string
  initiator_name: string
  type: string
  status: string
  outcome: string
  run_identity_hash: string
  summary_counts: Record<string, number>
  failure_summary: RunSummary['failureSummary']
  context: Record<string, unknown>
  started_at: Date | null
  completed_at: Date | null
  created_at: Date
  sort_key: string
  max_concurrency: number | null
  max_failures: number | null
  pause: RunControlEntry | null
  cancellation: RunControlEntry | null
  approval: RunSummary['approval']
  verification: RunSummary['verification']
  canary: { tenantIds: number[]; autoPromote: boolean } | null
  canary_pending: number | null
  canary_failed: number | null
  retry_of: string | null
  targeted: number | null
  succeeded: number | null
  failed: number | null
  cancelled: number | null
}

/** Runs with their SPEC §9 controls (runs projected before controls existed have none: defaults apply). */
const RUNS_WITH_CONTROLS = `operation_runs r left join operation_run_controls c on c.run_id = r.id`

export async function listRuns(sql: Sql, filter: ListRunsFilter): Promise<Page<RunSummary>> {
  const limit = pageSize(filter.limit)
  const after = filter.cursor ? decodeCursor(filter.cursor) : null
  if (filter.tenantId !== undefined && !(Number.isSafeInteger(filter.tenantId) && filter.tenantId > 0)) {
    throw new RangeError(`tenantId must be a positive integer, got ${filter.tenantId}`)
  }
  const rows = await sql<RunRow[]>`
    select r.*, c.*, to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as sort_key
    from ${sql.unsafe(RUNS_WITH_CONTROLS)}
    where true
      ${filter.status !== undefined ? sql`and r.status = ${filter.status}` : sql``}
      ${filter.outcome !== undefined ? sql`and r.outcome = ${filter.outcome}` : sql``}
      ${filter.runbook !== undefined ? sql`and r.type = ${filter.runbook}` : sql``}
      ${filter.tenantId !== undefined ? sql`and r.tenant_id = ${filter.tenantId}::bigint` : sql``}
      ${after ? sql`and (r.created_at, r.id) < (${after.at}::timestamptz, ${after.id}::text)` : sql``}
    order by r.created_at desc, r.id desc
    limit ${limit + 1}`
  return toPage(rows, limit, toRunSummary)
}

export async function getRun(sql: Sql, id: string): Promise<RunDetail | null> {
  const [row] = await sql<RunRow[]>`select r.*, c.*, '' as sort_key from ${sql.unsafe(RUNS_WITH_CONTROLS)} where r.id = ${id}`
  return row ? toRunSummary(row) : null
}

/**
 * GET /api/runs/{id}'s read: the run's JSON text (`JSON.stringify(getRun(...))`), or null. Concurrent reads of
 * one run share one statement, and that statement is answered with the run's content hash alone when the
 * run is the one this process last made the text of (kept per run, at most `maxRuns`), so an unchanged run
 * is neither parsed nor serialised again.
 *
 * Read-your-writes holds as for `getRun`: a read never joins a statement already sent — it waits for the next
 * one, sent once that one is answered — so whatever committed before a read began is in the snapshot that
 * answers it, and the text it gets is that snapshot's (the hash is of both rows the resource is made of,
 * read in the same statement). A statement that fails fails every read it answers.
 */
export class RunReader {
  private readonly coalesce: Coalescer<string, string | null>
  private readonly made = new Map<string, { hash: string; json: string }>()
  private madeChars = 0

  /** Keeps the text of at most `maxRuns` runs and `maxChars` characters in all (the oldest made go first). */
  constructor(
    private readonly sql: Sql,
    private readonly maxRuns = 1_000,
    private readonly maxChars = 8 * 1024 * 1024,
  ) {
    this.coalesce = new Coalescer((id) => this.readNow(id))
  }

  readJson(id: string): Promise<string | null> {
    return this.coalesce.load(id)
  }

  /** Runs whose text this process keeps (tests). */
  get size(): number {
    return this.made.size
  }

  /** Characters of text this process keeps (tests). */
  get chars(): number {
    return this.madeChars
  }

  private async readNow(id: string): Promise<string | null> {
    const known = this.made.get(id)
    const [row] = await this.sql<Array<RunRow & { content_hash: string }>>`
      select v.content_hash, x.*
      from (select r.id, ${this.sql.unsafe(CONTENT_HASH)} as content_hash from ${this.sql.unsafe(RUNS_WITH_CONTROLS)} where r.id = ${id}) v
      left join lateral (
        select r.*, c.*, '' as sort_key from ${this.sql.unsafe(RUNS_WITH_CONTROLS)}
        where r.id = v.id and v.content_hash is distinct from ${known?.hash ?? null}::text) x on true`
    if (!row) {
      this.forget(id)
      return null
    }
    // Only the hash: the run is as this process last made it.
    if (known && row.id === null) return known.json
    const json = JSON.stringify(toRunSummary(row))
    this.forget(id)
    if (json.length <= this.maxChars / 4) {
      while (this.made.size > 0 && (this.made.size >= this.maxRuns || this.madeChars + json.length > this.maxChars)) {
        this.forget(this.made.keys().next().value!)
      }
      this.made.set(id, { hash: row.content_hash, json })
      this.madeChars += json.length
    }
    return json
  }

  private forget(id: string): void {
    const kept = this.made.get(id)
    if (!kept) return
    this.made.delete(id)
    this.madeChars -= kept.json.length
  }
}

/**
 * What a run resource is made of — its `operation_runs` row and its `operation_run_controls` row — hashed:
 * equal hashes, equal rows (each row's text form quotes its fields, so the two cannot run into each other).
 */
const CONTENT_HASH = `encode(sha256(convert_to(r::text || coalesce(c::text, ''), 'UTF8')), 'base64')`

/**
 * Per key: at most one load in flight, and the calls made meanwhile gathered into the next one, started once
 * it settles. A call is answered by a load that started after the call was made, never by one under way.
 */
export class Coalescer<K, V> {
  private readonly keys = new Map<K, { next: Deferred<V> | null }>()

  constructor(private readonly loadNow: (key: K) => Promise<V>) {}

  load(key: K): Promise<V> {
    const state = this.keys.get(key)
    if (!state) {
      const started = { next: null as Deferred<V> | null }
      this.keys.set(key, started)
      return this.run(key, started)
    }
    state.next ??= deferred<V>()
    return state.next.promise
  }

  /** How many keys have a load in flight (tests). */
  get inFlight(): number {
    return this.keys.size
  }

  private async run(key: K, state: { next: Deferred<V> | null }): Promise<V> {
    try {
      return await this.loadNow(key)
    } finally {
      const waiting = state.next
      if (waiting) {
        state.next = null
        this.run(key, state).then(waiting.resolve, waiting.reject)
      } else {
        this.keys.delete(key)
      }
    }
  }
}

interface Deferred<T> {
  promise: Promise<T>
  resolve(value: T): void
  reject(error: unknown): void
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((yes, no) => {
    resolve = yes
    reject = no
  })
  return { promise, resolve, reject }
}

export const RUN_TENANT_STATUSES = ['pending', 'succeeded', 'failed', 'cancelled'] as const

/** A run's tenants by tenant id, keyset-paginated (the cursor is the last tenant id, opaque to clients). */
export async function listRunTenants(
  sql: Sql,
  runId: string,
  filter: { status?: RunTenant['status']; cursor?: string | null; limit: number },
): Promise<Page<RunTenant>> {
  const limit = pageSize(filter.limit)
  const after = filter.cursor ? decodeTenantCursor(filter.cursor) : null
  const rows = await sql<TenantRow[]>`
    select t.*, n.name as tenant_name
    from operation_run_tenants t left join tenants n on n.id = t.tenant_id
    where t.run_id = ${runId}
      ${filter.status !== undefined ? sql`and t.status = ${filter.status}` : sql``}
      ${after !== null ? sql`and t.tenant_id > ${after}::bigint` : sql``}
    order by t.tenant_id
    limit ${limit + 1}`
  const items = rows.slice(0, limit).map(toRunTenant)
  const last = items.at(-1)
  const nextCursor = rows.length > limit && last ? Buffer.from(JSON.stringify({ v: 1, t: last.tenantId })).toString('base64url') : null
  return { items, nextCursor }
}

function decodeTenantCursor(cursor: string): number {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw new InvalidCursorError(cursor)
  try {
    const parsed = z.object({ v: z.literal(1), t: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) }).strict()
      .safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')))
    if (parsed.success) return parsed.data.t
  } catch {
    // not JSON: refused below
  }
  throw new InvalidCursorError(cursor)
}

/**
 * Whether the read model shows what a command left a run in: its status, a cancel under way, its limits
 * (a completed row shows every command's effect). The `until` of read-your-writes after run control.
 */
export function showsRunState(run: RunDetail, state: RunState): boolean {
  if (state.status === 'none' || run.status === 'completed') return true
  if (run.status !== state.status) return false
  if (state.status !== 'completed' && state.cancellation && run.cancellation === null) return false
  // An approval leaves a paused run paused (the halt's): only the approval itself tells it was projected.
  if (state.status !== 'completed' && state.approvedAt !== null && !run.approval?.approvedAt) return false
  return run.limits.maxConcurrency === state.limits.maxConcurrency && run.limits.maxFailures === state.limits.maxFailures
}

/**
 * Read-your-writes for a client that just started or steered a run: polls until the projection has the
 * row (and, given `until`, shows what the command left), at most `timeoutMs`; then the row as it is, or null.
 */
export async function waitForRun(
  sql: Sql,
  id: string,
  options: { timeoutMs: number; intervalMs?: number; until?: (run: RunDetail) => boolean },
): Promise<RunDetail | null> {
  const deadline = Date.now() + options.timeoutMs
  const interval = options.intervalMs ?? 25
  for (;;) {
    const run = await getRun(sql, id)
    if ((run && (options.until?.(run) ?? true)) || Date.now() >= deadline) return run
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, Math.max(deadline - Date.now(), 0))))
  }
}

interface AuditRow {
  id: string
  action: string
  occurred_at: Date
  actor_user_id: string | null
  actor_email: string | null
  operation_run_id: string | null
  context: Record<string, unknown>
  sequence: string
  hash: string
  previous_hash: string
  sort_key: string
}

/** `operator`: the actor's id or email (emails compared without case); `runId`: the entry's run. */
export async function listAudit(
  sql: Sql,
  filter: { action?: string; operator?: string; runId?: string; cursor?: string | null; limit: number },
): Promise<Page<AuditEntry>> {
  const limit = pageSize(filter.limit)
  const after = filter.cursor ? auditCursor.decode(filter.cursor) : null
  // Newest first in the chain's own order (SPEC §12): unfiltered, each item's `previousHash` is the next item's `hash`.
  // The entries' times can tie (one event's entries) or step back (appends of several processes commit in
  // another order than their clocks read), so the time does not order them.
  const rows = await sql<AuditRow[]>`
    select *, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as sort_key
    from audit_log
    where true
      ${filter.action !== undefined ? sql`and action = ${filter.action}` : sql``}
      ${filter.operator !== undefined ? sql`and (actor_user_id = ${filter.operator} or lower(actor_email) = lower(${filter.operator}))` : sql``}
      ${filter.runId !== undefined ? sql`and operation_run_id = ${filter.runId}` : sql``}
      ${after ? sql`and sequence < ${after.id}::bigint` : sql``}
    order by sequence desc
    limit ${limit + 1}`
  const listed = rows.slice(0, limit)
  const last = listed.at(-1)
  const nextCursor = rows.length > limit && last ? auditCursor.encode({ at: last.sort_key, id: last.sequence }) : null
  const items = listed.map((row): AuditEntry => ({
    id: row.id,
    action: row.action,
    occurredAt: row.occurred_at.toISOString(),
    actorUserId: row.actor_user_id,
    actorEmail: row.actor_email,
    operationRunId: row.operation_run_id,
    context: row.context,
    sequence: Number(row.sequence),
    hash: row.hash,
    previousHash: row.previous_hash,
  }))
  return { items, nextCursor }
}

interface AlertDeliveryRow {
  id: string
  alert_key: string
  run_id: string
  workspace_id: string
  destination_id: string
  payload: Record<string, unknown>
  status: string
  created_at: Date
}

/** Oldest first; without `runId`, the latest `limit` (default 100) deliveries. */
export async function listAlertDeliveries(sql: Sql, filter: { runId?: string; limit?: number } = {}): Promise<AlertDelivery[]> {
  const limit = pageSize(filter.limit ?? 100)
  const rows = await sql<AlertDeliveryRow[]>`
    select * from (
      select * from alert_deliveries
      ${filter.runId !== undefined ? sql`where run_id = ${filter.runId}` : sql``}
      order by created_at desc, id desc
      limit ${limit}) latest
    order by created_at, id`
  return rows.map((row) => ({
    id: row.id,
    alertKey: row.alert_key,
    runId: row.run_id,
    workspaceId: Number(row.workspace_id),
    destinationId: row.destination_id,
    payload: row.payload,
    status: row.status,
    createdAt: row.created_at.toISOString(),
  }))
}

interface TenantRow {
  run_id: string
  tenant_id: string
  tenant_name: string | null
  status: string
  total: number | null
  updated: number | null
  reason_code: string | null
  message: string | null
  attempt: number | null
  processed_at: Date | null
  started_at: Date | null
  completed_at: Date | null
}

function toRunSummary(row: RunRow): RunSummary {
  return {
    id: row.id,
    workspaceId: Number(row.workspace_id),
    tenantId: row.tenant_id === null ? null : Number(row.tenant_id),
    userId: row.user_id,
    initiatorName: row.initiator_name,
    type: row.type,
    status: row.status,
    outcome: row.outcome,
    runIdentityHash: row.run_identity_hash,
    summaryCounts: row.summary_counts,
    failureSummary: row.failure_summary,
    context: row.context,
    startedAt: row.started_at?.toISOString() ?? null,
    completedAt: row.completed_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    ...controlsOf(row),
  }
}

function controlsOf(row: RunRow): Pick<RunSummary, 'limits' | 'pause' | 'cancellation' | 'tenantCounts' | 'retryOf' | 'revertOf' | 'approval' | 'verification' | 'canary'> {
  const counts = row.summary_counts
  // A run projected before controls existed: its counts come from its summary.
  const targeted = row.targeted ?? counts.tenants ?? 1
  const succeeded = row.succeeded ?? 0
  const failed = row.failed ?? (row.targeted === null ? (counts.failed ?? 0) : 0)
  const cancelled = row.cancelled ?? 0
  const legacyDone = row.targeted === null && row.status === 'completed'
  return {
    limits: { maxConcurrency: row.max_concurrency ?? 1000, maxFailures: row.max_failures ?? null },
    pause: row.status === 'paused' ? row.pause : null,
    cancellation: row.status === 'completed' ? null : row.cancellation,
    tenantCounts: {
      targeted,
      pending: legacyDone ? 0 : Math.max(targeted - succeeded - failed - cancelled, 0),
      succeeded: legacyDone ? targeted - failed : succeeded,
      failed,
      cancelled,
    },
    retryOf: row.retry_of ?? null,
    revertOf: revertOfContext(row.context),
    approval: row.approval ?? null,
    verification: row.verification ?? null,
    canary: row.canary
      ? {
          tenantIds: row.canary.tenantIds,
          autoPromote: row.canary.autoPromote,
          state: (row.canary_failed ?? 0) > 0 ? 'failed' : (row.canary_pending ?? 0) > 0 ? 'running' : 'passed',
        }
      : null,
  }
}

function toRunTenant(row: TenantRow): RunTenant {
  const processed = row.status === 'succeeded' || row.status === 'failed'
  return {
    tenantId: Number(row.tenant_id),
    tenantName: row.tenant_name,
    status: row.status as RunTenant['status'],
    attempts: processed ? (row.attempt ?? 1) : 0,
    counts:
      row.status === 'succeeded' && row.total !== null && row.updated !== null
        ? { total: row.total, updated: row.updated, skipped: row.total - row.updated }
        : null,
    reasonCode: row.reason_code,
    message: row.message,
    startedAt: row.started_at?.toISOString() ?? null,
    completedAt: row.completed_at?.toISOString() ?? null,
  }
}

function pageSize(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`)
  return Math.min(limit, MAX_PAGE_SIZE)
}

function toPage<R extends { id: string; sort_key: string }, T>(rows: R[], limit: number, map: (row: R) => T): Page<T> {
  const items = rows.slice(0, limit)
  const last = items[items.length - 1]
  const nextCursor = rows.length > limit && last ? encodeCursor({ at: last.sort_key, id: last.id }) : null
  return { items: items.map(map), nextCursor }
}

/**
 * Cursor = base64url JSON of the last item's sort key: opaque to clients, versioned for us. The time is
 * the microsecond text the database produced (a JS Date would drop the microseconds the column keeps).
 */
/** A keyset cursor codec whose ids match `idPattern` (nothing else can be a cursor's id: a crafted one is a 400). */
export function keysetCursor(idPattern: RegExp) {
  const schema = z.object({ v: z.literal(1), at: z.iso.datetime({ precision: 6 }), id: z.string().regex(idPattern) }).strict()
  return {
    encode(key: { at: string; id: string }): string {
      return Buffer.from(JSON.stringify({ v: 1, ...key }), 'utf8').toString('base64url')
    },
    decode(cursor: string): { at: string; id: string } {
      if (!/^[A-Za-z0-9_-]{1,1000}$/.test(cursor)) throw new InvalidCursorError(cursor)
      let parsed: unknown
      try {
        parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
      } catch {
        throw new InvalidCursorError(cursor)
      }
      const result = schema.safeParse(parsed)
      if (!result.success || !isRealInstant(result.data.at)) throw new InvalidCursorError(cursor)
      return { at: result.data.at, id: result.data.id }
    },
  }
}

// Ids of the listed rows are ULIDs (runs); an audit cursor's id is the last entry's sequence.
const listCursor = keysetCursor(/^[0-9A-Za-z-]{1,64}$/)
const auditCursor = keysetCursor(/^[0-9]{1,18}$/)
const encodeCursor = listCursor.encode
const decodeCursor = listCursor.decode

/**
 * Rejects well-formed but impossible dates (2024-02-30) and years PostgreSQL's timestamptz does not take
 * in this form (year 0, or beyond 9999) before they reach the database as an error.
 */
function isRealInstant(at: string): boolean {
  const date = new Date(at)
  if (Number.isNaN(date.getTime())) return false
  const year = date.getUTCFullYear()
  return year >= 1 && year <= 9999 && date.toISOString().slice(0, 19) === at.slice(0, 19)
}

/** The run a revert run puts back, as its context records it (`revert_of`, SPEC §11). */
function revertOfContext(context: Record<string, unknown>): string | null {
  const original = context.revert_of
  return typeof original === 'string' && original !== '' ? original : null
}
