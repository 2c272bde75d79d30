import type { TransactionSql } from '../db/database.js'
import type { EventMetadata, EventOf, FailureEntry } from '../events/index.js'
import type { Projection } from './projector.js'

/**
 * `operation_runs` (one row per run, SPEC §3), `operation_run_tenants` (one row per targeted tenant, SPEC
 * §9) and `operation_run_controls` (limits, pause, cancellation, retry link and tenant counts, SPEC §9).
 * The projector applies each event once per checkpoint, so running counts are incremented — but only when
 * the tenant's row actually moved from pending, so that a re-applied event changes nothing; a run never
 * leaves `completed`.
 *
 * JSON goes in as `${JSON.stringify(x)}::text::jsonb`: with a bare `::jsonb` the driver learns the
 * parameter is jsonb and stringifies the (already stringified) text a second time.
 */
export const operationRunsProjection: Projection = {
  name: 'operation-runs',

  async apply(tx, { event, metadata }) {
    switch (event.type) {
      case 'RunRequested':
        return insertRun(tx, event)
      case 'RunStarted':
        return markStarted(tx, event)
      case 'TenantProcessed':
        return recordTenantResult(tx, event)
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
        return
    }
  },

  async reset(tx) {
    await tx`delete from operation_run_controls`
    await tx`delete from operation_run_tenants`
    await tx`delete from operation_runs`
  },
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
    preflight: {
      affected_count: data.preflight.affectedCount,
      total_count: data.preflight.totalCount,
      estimated_tenants: data.preflight.estimatedTenants,
      ...(data.pinnedPreflightId ? { preflight_id: data.pinnedPreflightId } : {}),
    },
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

async function insertRun(tx: TransactionSql, { data }: EventOf<'RunRequested'>): Promise<void> {
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
  if (!inserted) return
  await tx`
    insert into operation_run_controls (run_id, max_concurrency, max_failures, retry_of, targeted, approval, canary, canary_pending)
    values (${data.runId}, ${data.limits.maxConcurrency}, ${data.limits.maxFailures}, ${data.retryOf}, ${data.tenantIds.length},
      ${data.approvalRequired ? JSON.stringify({ required: true, approvedBy: null, approvedAt: null, comment: null }) : null}::text::jsonb,
      ${data.canary ? JSON.stringify(data.canary) : null}::text::jsonb, ${data.canary?.tenantIds.length ?? 0})
    on conflict (run_id) do nothing`
  await tx`
    insert into operation_run_tenants (run_id, tenant_id, status)
    select ${data.runId}, t.id, 'pending' from unnest(${data.tenantIds}::bigint[]) as t(id)
    on conflict (run_id, tenant_id) do nothing`
}

async function markStarted(tx: TransactionSql, { data }: EventOf<'RunStarted'>): Promise<void> {
  await tx`
    update operation_runs
    set status = case when status = 'queued' then 'running' else status end,
        started_at = coalesce(started_at, ${data.startedAt}::timestamptz)
    where id = ${data.runId}`
}

async function recordTenantResult(tx: TransactionSql, { data }: EventOf<'TenantProcessed'>): Promise<void> {
  const r = data.result
  const succeeded = r.status === 'succeeded'
  const moved = await tx`
    insert into operation_run_tenants as t (run_id, tenant_id, status, total, updated, reason_code, message, attempt,
      processed_at, started_at, completed_at)
    values (${data.runId}, ${data.tenantId}, ${r.status},
      ${succeeded ? r.total : null}::integer, ${succeeded ? r.updated : null}::integer,
      ${succeeded ? null : r.reasonCode}::text, ${succeeded ? null : r.message}::text,
      ${data.attempt}, ${data.processedAt}::timestamptz, ${data.startedAt}::timestamptz, ${data.completedAt}::timestamptz)
    on conflict (run_id, tenant_id) do update
    set status = excluded.status, total = excluded.total, updated = excluded.updated,
        reason_code = excluded.reason_code, message = excluded.message, attempt = excluded.attempt,
        processed_at = excluded.processed_at, started_at = excluded.started_at, completed_at = excluded.completed_at
    where t.status = 'pending'
    returning t.tenant_id`
  if (moved.length === 0) return

  // Running counts while the run is in progress; RunCompleted replaces them with the final figures.
  const total = succeeded ? r.total : 0
  const updated = succeeded ? r.updated : 0
  const failed = succeeded ? 0 : 1
  await tx`
    update operation_runs r
    set summary_counts = r.summary_counts || jsonb_build_object(
          'total', (r.summary_counts ->> 'total')::bigint + ${total}::bigint,
          'processed', (r.summary_counts ->> 'processed')::bigint + ${total}::bigint,
          'updated', (r.summary_counts ->> 'updated')::bigint + ${updated}::bigint,
          'skipped', (r.summary_counts ->> 'skipped')::bigint + ${total - updated}::bigint,
          'failed', (r.summary_counts ->> 'failed')::bigint + ${failed}::bigint)
    where r.id = ${data.runId} and r.status <> 'completed'`
  await tx`
    update operation_run_controls
    set succeeded = succeeded + ${1 - failed}::integer, failed = failed + ${failed}::integer
    where run_id = ${data.runId}`
  await tx`
    update operation_run_controls
    set canary_pending = canary_pending - 1, canary_failed = canary_failed + ${failed}::integer
    where run_id = ${data.runId} and canary -> 'tenantIds' @> jsonb_build_array(${data.tenantId}::bigint)`
  if (!succeeded) {
    await tx`
      update operation_runs r
      set failure_summary = r.failure_summary || ${JSON.stringify(failureSummaryJson([{ tenantId: data.tenantId, reasonCode: r.reasonCode, message: r.message }]))}::text::jsonb
      where r.id = ${data.runId} and r.status <> 'completed'`
  }
}

async function markPaused(tx: TransactionSql, { data }: EventOf<'RunPaused'>, metadata: EventMetadata): Promise<void> {
  const pause = { reasonCode: data.reason.reasonCode, reasonText: data.reason.reasonText, ...actorOf(metadata), at: data.pausedAt }
  await tx`update operation_runs set status = 'paused' where id = ${data.runId} and status <> 'completed'`
  await tx`update operation_run_controls set pause = ${JSON.stringify(pause)}::text::jsonb where run_id = ${data.runId}`
}

async function markResumed(tx: TransactionSql, { data }: EventOf<'RunResumed'>): Promise<void> {
  await tx`update operation_runs set status = 'running' where id = ${data.runId} and status <> 'completed'`
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
  if (data.outcome !== 'cancelled') return
  const cancelled = await tx`
    update operation_run_tenants set status = 'cancelled'
    where run_id = ${data.runId} and status = 'pending'
    returning tenant_id`
  await tx`update operation_run_controls set cancelled = cancelled + ${cancelled.length}::integer where run_id = ${data.runId}`
}
