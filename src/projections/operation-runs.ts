import type { TransactionSql } from '../db/database.js'
import { outcomesCancellingUnstarted } from '../commands/run/run-state.js'
import type { DomainEvent, EventMetadata, EventOf, FailureEntry, PreflightResult } from '../events/index.js'
import type { Projection } from './projector.js'
import { repairBucketCountsSql, repairMicrosSql } from './repair-durations.js'

/**
 * `operation_runs` (one row per run, SPEC §3), `operation_run_tenants` (one row per targeted tenant, SPEC
 * §9) and `operation_run_controls` (limits, pause, cancellation, retry link and tenant counts, SPEC §9).
 * The projector applies each event once per checkpoint, so running counts are incremented — but only when
 * the tenant's row actually moved from pending, so that a re-applied event changes nothing; a run never
 * leaves `completed`.
 *
 * TenantProcessed is nearly every event of a store (one per targeted tenant), so the results that follow
 * one another in a batch are applied together (`recordTenantResults`: one statement for all of them);
 * every other event is a handful per run and is applied on its own, in order between those groups, so that
 * the group sees each run as one-by-one application would have left it.
 *
 * JSON goes in as `${JSON.stringify(x)}::text::jsonb`: with a bare `::jsonb` the driver learns the
 * parameter is jsonb and stringifies the (already stringified) text a second time.
 */
export const operationRunsProjection: Projection = {
  name: 'operation-runs',

  async apply(tx, events) {
    let results: Array<EventOf<'TenantProcessed'>> = []
    // The pending rows of the runs requested in the batch are written when something reads them (a
    // completion cancels the pending ones) or at the end: a tenant whose result is in the same batch (in a
    // replay, nearly all) is then written once, with its result, instead of pending first and then again.
    let requested: Array<EventOf<'RunRequested'>['data']> = []
    const flushResults = async () => {
      if (results.length > 0) await recordTenantResults(tx, results)
      results = []
    }
    const flushRequested = async () => {
      if (requested.length > 0) await insertPendingTenants(tx, requested)
      requested = []
    }
    for (const { event, metadata } of events) {
      if (event.type === 'TenantProcessed') {
        results.push(event)
        continue
      }
      if (!changesRuns.has(event.type)) continue
      await flushResults()
      if (event.type === 'RunRequested') {
        if (await insertRun(tx, event)) requested.push(event.data)
        continue
      }
      if (event.type === 'RunCompleted') await flushRequested()
      await applyRunEvent(tx, event, metadata)
    }
    await flushResults()
    await flushRequested()
  },

  async reset(tx) {
    await tx`delete from operation_run_controls`
    await tx`delete from operation_run_tenants`
    await tx`delete from operation_runs`
  },
}

/** The events `insertRun` and `applyRunEvent` write for (any other leaves a group of results whole). */
const changesRuns = new Set<DomainEvent['type']>([
  'RunRequested',
  'RunPlanned',
  'RunStarted',
  'RunPaused',
  'RunResumed',
  'RunCancelled',
  'RunLimitsChanged',
  'RunApproved',
  'RunCompleted',
  'RunVerified',
])

function applyRunEvent(tx: TransactionSql, event: DomainEvent, metadata: EventMetadata): Promise<void> {
  switch (event.type) {
    case 'RunPlanned':
      return recordPlan(tx, event)
    case 'RunStarted':
      return markStarted(tx, event)
    case 'RunPaused':
      return markPaused(tx, event, metadata)
    case 'RunResumed':
      return markResumed(tx, event)
    case 'RunCancelled':
      return markCancelling(tx, event, metadata)
    case 'RunLimitsChanged':
      return changeLimits(tx, event)
    case 'RunApproved':
      return markApproved(tx, event, metadata)
    case 'RunCompleted':
      return completeRun(tx, event)
    case 'RunVerified':
      return recordVerification(tx, event)
    default:
      return Promise.resolve()
  }
}

/** The `context` JSON of SPEC §3, snake_case as the spec writes it. */
export function runContext(data: EventOf<'RunRequested'>['data']) {
  return {
    runbook: { key: data.runbookKey },
    // As validated at start, defaults filled in (SPEC §13): what the repair ran with.
    parameters: data.parameters,
    scope: data.scope,
    target_tenant_id: data.targetTenantId,
    source: data.source,
    // null while a run started over many tenants waits for its plan (RunPlanned fills it in)
    preflight: data.preflight === null ? null : preflightJson(data.preflight, data.pinnedPreflightId),
    reason: data.reason ? { reason_code: data.reason.reasonCode, reason_text: data.reason.reasonText } : null,
    platform_initiator: {
      platform_user_id: data.initiator.platformUserId,
      email: data.initiator.email,
      name: data.initiator.name,
      is_break_glass: data.initiator.isBreakGlass,
    },
    ...(data.retryOf ? { retry_of: data.retryOf } : {}),
    ...(data.revertOf ? { revert_of: data.revertOf } : {}),
  }
}

function preflightJson(preflight: PreflightResult, pinnedPreflightId: string | null) {
  return {
    affected_count: preflight.affectedCount,
    total_count: preflight.totalCount,
    estimated_tenants: preflight.estimatedTenants,
    ...(pinnedPreflightId ? { preflight_id: pinnedPreflightId } : {}),
  }
}

async function recordPlan(tx: TransactionSql, { data }: EventOf<'RunPlanned'>): Promise<void> {
  await tx`
    update operation_runs set context = jsonb_set(context, '{preflight}', ${JSON.stringify(preflightJson(data.preflight, null))}::text::jsonb)
    where id = ${data.runId}`
}

export function failureSummaryJson(entries: FailureEntry[]) {
  return entries.map((f) => ({ tenant_id: f.tenantId, reason_code: f.reasonCode, message: f.message }))
}

/** Who recorded a control event: the operator, or `system` for the service's own pauses. */
function actorOf(metadata: EventMetadata) {
  const initiator = metadata.initiator
  return initiator.kind === 'operator'
    ? { by: initiator.platformUserId, byEmail: initiator.email, byName: initiator.name }
    : { by: 'system', byEmail: null, byName: null }
}

/** The run's row and controls; whether they were new (then its tenants' rows are due, see `insertPendingTenants`). */
async function insertRun(tx: TransactionSql, { data }: EventOf<'RunRequested'>): Promise<boolean> {
  const allTenants = data.scope === 'all_tenants'
  const summaryCounts = {
    total: 0,
    processed: 0,
    updated: 0,
    skipped: 0,
    failed: 0,
    ...(allTenants ? { tenants: data.tenantIds.length } : {}),
  }
  const [inserted] = await tx<Array<{ id: string }>>`
    insert into operation_runs (id, workspace_id, tenant_id, user_id, initiator_name, type, status, outcome,
      run_identity_hash, summary_counts, failure_summary, context, started_at, completed_at, created_at)
    values (${data.runId}, ${data.workspaceId}, ${allTenants ? null : data.targetTenantId}, ${data.initiator.platformUserId},
      ${data.initiator.name}, ${data.runbookKey}, ${data.approvalRequired ? 'awaiting_approval' : 'queued'}, 'pending', ${data.runIdentityHash},
      ${JSON.stringify(summaryCounts)}::text::jsonb, '[]'::jsonb, ${JSON.stringify(runContext(data))}::text::jsonb,
      null, null, ${data.requestedAt}::timestamptz)
    on conflict (id) do nothing
    returning id`
  if (!inserted) return false
  await tx`
    insert into operation_run_controls (run_id, max_concurrency, max_failures, retry_of, targeted, approval, canary, canary_pending)
    values (${data.runId}, ${data.limits.maxConcurrency}, ${data.limits.maxFailures}, ${data.retryOf}, ${data.tenantIds.length},
      ${data.approvalRequired ? JSON.stringify({ required: true, approvedBy: null, approvedAt: null, comment: null }) : null}::text::jsonb,
      ${data.canary ? JSON.stringify(data.canary) : null}::text::jsonb, ${data.canary?.tenantIds.length ?? 0})
    on conflict (run_id) do nothing`
  return true
}

/**
 * One row per targeted tenant, pending until processed, for runs `insertRun` inserted. A result applied
 * meanwhile already wrote its tenant's row (as it would have moved it from pending): that row is kept.
 */
async function insertPendingTenants(tx: TransactionSql, runs: Array<EventOf<'RunRequested'>['data']>): Promise<void> {
  await tx`
    insert into operation_run_tenants (run_id, tenant_id, status)
    select t.run_id, t.tenant_id, 'pending'
    from unnest(${runs.flatMap((r) => r.tenantIds.map(() => r.runId))}::text[], ${runs.flatMap((r) => r.tenantIds)}::bigint[]) as t(run_id, tenant_id)
    on conflict (run_id, tenant_id) do nothing`
}

async function markStarted(tx: TransactionSql, { data }: EventOf<'RunStarted'>): Promise<void> {
  await tx`
    update operation_runs
    set status = case when status = 'queued' then 'running' else status end,
        started_at = coalesce(started_at, ${data.startedAt}::timestamptz)
    where id = ${data.runId}`
}

/**
 * Consecutive TenantProcessed events, with the rows one-by-one application would leave. A tenant's row moves
 * only from pending, so of several results for one tenant (redelivery, a retried job) only the first can
 * move it; the runs' counts grow by what the moved rows carry, and the failures are appended in event order.
 * Nothing else about a run changes between consecutive results (the caller ends a group at any other event
 * of a run), so one upsert and one update per table give the same rows. All three go in one statement: the
 * updates read the moved rows from the upsert's `returning`, without sending them to the client and back.
 */
async function recordTenantResults(tx: TransactionSql, events: Array<EventOf<'TenantProcessed'>>): Promise<void> {
  const firsts = new Map<string, EventOf<'TenantProcessed'>['data']>()
  for (const { data } of events) {
    const key = `${data.tenantId}:${data.runId}`
    if (!firsts.has(key)) firsts.set(key, data)
  }
  const results = [...firsts.values()]
  const column = <T>(pick: (d: EventOf<'TenantProcessed'>['data']) => T) => results.map(pick)
  // A failed tenant's entry of the run's failure summary, as RunCompleted's are written (`failureSummaryJson`).
  const failureEntry = (d: EventOf<'TenantProcessed'>['data']) =>
    d.result.status === 'failed'
      ? JSON.stringify(failureSummaryJson([{ tenantId: d.tenantId, reasonCode: d.result.reasonCode, message: d.result.message }])[0])
      : null
  await tx`
    with result as (
      select * from unnest(
        ${column((d) => d.runId)}::text[], ${column((d) => d.tenantId)}::bigint[], ${column((d) => d.result.status)}::text[],
        ${column((d) => (d.result.status === 'succeeded' ? d.result.total : null))}::integer[],
        ${column((d) => (d.result.status === 'succeeded' ? d.result.updated : null))}::integer[],
        ${column((d) => (d.result.status === 'failed' ? d.result.reasonCode : null))}::text[],
        ${column((d) => (d.result.status === 'failed' ? d.result.message : null))}::text[],
        ${column((d) => d.attempt)}::integer[], ${column((d) => d.processedAt)}::timestamptz[],
        ${column((d) => d.startedAt)}::timestamptz[], ${column((d) => d.completedAt)}::timestamptz[], ${column(failureEntry)}::text[])
      with ordinality as r(run_id, tenant_id, status, total, updated, reason_code, message, attempt, processed_at, started_at, completed_at,
        failure_entry, ordinal)
    ),
    moved as (
      insert into operation_run_tenants as t (run_id, tenant_id, status, total, updated, reason_code, message, attempt,
        processed_at, started_at, completed_at)
      select run_id, tenant_id, status, total, updated, reason_code, message, attempt, processed_at, started_at, completed_at from result
      on conflict (run_id, tenant_id) do update
      set status = excluded.status, total = excluded.total, updated = excluded.updated,
          reason_code = excluded.reason_code, message = excluded.message, attempt = excluded.attempt,
          processed_at = excluded.processed_at, started_at = excluded.started_at, completed_at = excluded.completed_at
      where t.status = 'pending'
      returning t.run_id, t.tenant_id, t.status, t.total, t.updated, t.started_at, t.completed_at
    ),
    per_run as (
      select run_id,
             count(*) as moved,
             coalesce(sum(total), 0) as total,
             coalesce(sum(updated), 0) as updated,
             count(*) filter (where failed) as failed,
             count(*) filter (where canary) as canary_settled,
             count(*) filter (where failed and canary) as canary_failed,
             count(*) filter (where timed) as repair_count,
             coalesce(sum(micros) filter (where timed), 0) as repair_micros,
             ${tx.unsafe(repairBucketCountsSql('micros', 'timed'))} as repair_buckets
      from (
        select m.run_id, m.total, m.updated, m.status = 'failed' as failed,
               -- Once every canary tenant has settled, none of the rest can be one: no search of the canary's list.
               coalesce(k.canary_pending > 0 and k.canary -> 'tenantIds' @> jsonb_build_array(m.tenant_id), false) as canary,
               -- SPEC §12's repair durations (repair-durations.ts): a failed tenant's repair rolled back.
               m.status = 'succeeded' and m.started_at is not null and m.completed_at is not null as timed,
               ${tx.unsafe(repairMicrosSql('m.started_at', 'm.completed_at'))} as micros
        from moved m
        left join operation_run_controls k on k.run_id = m.run_id) m
      group by run_id
    ),
    -- In event order: the input's order, which only the input holds (joined back for the failures alone, few).
    failures as (
      select m.run_id, jsonb_agg(r.failure_entry::jsonb order by r.ordinal) as failures
      from moved m
      join result r on r.run_id = m.run_id and r.tenant_id = m.tenant_id
      where m.status = 'failed'
      group by m.run_id
    ),
    -- Running counts while the run is in progress; RunCompleted replaces them with the final figures. The
    -- failure summary is assigned only for runs with failures in the batch: a column assigned is written again
    -- even to its own value, and a large run's summary, kept out of line, would be copied at every batch.
    counted as (
      update operation_runs o
      set summary_counts = ${runningCounts(tx)}
      from per_run d
      where o.id = d.run_id and o.status <> 'completed' and not exists (select from failures f where f.run_id = d.run_id)
    ),
    counted_with_failures as (
      update operation_runs o
      set summary_counts = ${runningCounts(tx)}, failure_summary = o.failure_summary || f.failures
      from per_run d
      join failures f on f.run_id = d.run_id
      where o.id = d.run_id and o.status <> 'completed'
    )
    -- Every moved tenant counts once as succeeded or failed; a canary tenant also settles the canary; a
    -- repaired one adds its duration.
    update operation_run_controls c
    set succeeded = c.succeeded + (d.moved - d.failed)::integer, failed = c.failed + d.failed::integer,
        canary_pending = c.canary_pending - d.canary_settled::integer, canary_failed = c.canary_failed + d.canary_failed::integer,
        repair_count = c.repair_count + d.repair_count::integer, repair_micros = c.repair_micros + d.repair_micros::bigint,
        repair_buckets = (select array_agg(stored + added order by bucket)
                          from unnest(c.repair_buckets, d.repair_buckets) with ordinality as u(stored, added, bucket))
    from per_run d
    where c.run_id = d.run_id`
}

/** A run's running counts with a batch's `d` (of `per_run`) added, as an expression over `operation_runs o`. */
function runningCounts(tx: TransactionSql) {
  return tx`o.summary_counts || jsonb_build_object(
            'total', (o.summary_counts ->> 'total')::bigint + d.total,
            'processed', (o.summary_counts ->> 'processed')::bigint + d.total,
            'updated', (o.summary_counts ->> 'updated')::bigint + d.updated,
            'skipped', (o.summary_counts ->> 'skipped')::bigint + d.total - d.updated,
            'failed', (o.summary_counts ->> 'failed')::bigint + d.failed)`
}

async function markPaused(tx: TransactionSql, { data }: EventOf<'RunPaused'>, metadata: EventMetadata): Promise<void> {
  const pause = { reasonCode: data.reason.reasonCode, reasonText: data.reason.reasonText, ...actorOf(metadata), at: data.pausedAt }
  await tx`update operation_runs set status = 'paused' where id = ${data.runId} and status <> 'completed'`
  await tx`update operation_run_controls set pause = ${JSON.stringify(pause)}::text::jsonb where run_id = ${data.runId}`
}

async function markResumed(tx: TransactionSql, { data }: EventOf<'RunResumed'>): Promise<void> {
  // A run the halt paused while it awaited its approval awaits it again (the run decider's `awaitsApproval`).
  await tx`
    update operation_runs r
    set status = case when exists (
          select 1 from operation_run_controls c
          where c.run_id = r.id and (c.approval->>'required')::boolean and c.approval->>'approvedAt' is null
        ) then 'awaiting_approval' else 'running' end
    where r.id = ${data.runId} and r.status <> 'completed'`
  await tx`update operation_run_controls set pause = null where run_id = ${data.runId}`
}

async function markCancelling(tx: TransactionSql, { data }: EventOf<'RunCancelled'>, metadata: EventMetadata): Promise<void> {
  const cancellation = { reasonCode: data.reason.reasonCode, reasonText: data.reason.reasonText, ...actorOf(metadata), at: data.cancelledAt }
  await tx`update operation_run_controls set cancellation = ${JSON.stringify(cancellation)}::text::jsonb where run_id = ${data.runId}`
}

async function recordVerification(tx: TransactionSql, { data }: EventOf<'RunVerified'>): Promise<void> {
  const verification = { remaining: data.remaining, tenantsWithRemaining: data.tenantsWithRemaining, verifiedAt: data.verifiedAt }
  await tx`update operation_run_controls set verification = ${JSON.stringify(verification)}::text::jsonb where run_id = ${data.runId}`
}

async function markApproved(tx: TransactionSql, { data }: EventOf<'RunApproved'>, metadata: EventMetadata): Promise<void> {
  const approval = { required: true, approvedBy: actorOf(metadata).by, approvedAt: data.approvedAt, comment: data.comment }
  await tx`update operation_runs set status = 'queued' where id = ${data.runId} and status = 'awaiting_approval'`
  await tx`update operation_run_controls set approval = ${JSON.stringify(approval)}::text::jsonb where run_id = ${data.runId}`
}

async function changeLimits(tx: TransactionSql, { data }: EventOf<'RunLimitsChanged'>): Promise<void> {
  await tx`
    update operation_run_controls
    set max_concurrency = ${data.limits.maxConcurrency}, max_failures = ${data.limits.maxFailures}
    where run_id = ${data.runId}`
}

async function completeRun(tx: TransactionSql, { data }: EventOf<'RunCompleted'>): Promise<void> {
  await tx`
    update operation_runs
    set status = 'completed', outcome = ${data.outcome},
        summary_counts = ${JSON.stringify(data.summaryCounts)}::text::jsonb,
        failure_summary = ${JSON.stringify(failureSummaryJson(data.failureSummary))}::text::jsonb,
        completed_at = ${data.completedAt}::timestamptz
    where id = ${data.runId}`
  await tx`update operation_run_controls set pause = null where run_id = ${data.runId}`
  if (!outcomesCancellingUnstarted.has(data.outcome)) return
  const cancelled = await tx`
    update operation_run_tenants set status = 'cancelled'
    where run_id = ${data.runId} and status = 'pending'
    returning tenant_id`
  await tx`update operation_run_controls set cancelled = cancelled + ${cancelled.length}::integer where run_id = ${data.runId}`
}
