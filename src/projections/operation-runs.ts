import type { TransactionSql } from '../db/database.js'
import type { EventOf, FailureEntry } from '../events/index.js'
import type { ProjectedEvent, Projection } from './projector.js'

/**
 * `operation_runs` (one row per run, SPEC §3) and `operation_run_tenants` (one row per tenant result).
 * Every statement is idempotent: inserts do nothing when the row exists, updates only move forward
 * (a run never leaves `completed`, a tenant result is only replaced by a strictly later attempt), and running
 * counts are recomputed from the tenant rows rather than incremented.
 *
 * JSON goes in as `${JSON.stringify(x)}::text::jsonb`: with a bare `::jsonb` the driver learns the
 * parameter is jsonb and stringifies the (already stringified) text a second time.
 */
export const operationRunsProjection: Projection = {
  name: 'operation-runs',

  async apply(tx, { event }) {
    switch (event.type) {
      case 'RunRequested':
        return insertRun(tx, event)
      case 'RunStarted':
        return markStarted(tx, event)
      case 'TenantProcessed':
        return recordTenantResult(tx, event)
      case 'RunCompleted':
        return completeRun(tx, event)
      default:
        return
    }
  },

  async reset(tx) {
    await tx`delete from operation_run_tenants`
    await tx`delete from operation_runs`
  },
}

/** The `context` JSON of SPEC §3, snake_case as the spec writes it. */
export function runContext(data: EventOf<'RunRequested'>['data']) {
  return {
    runbook: { key: data.runbookKey },
    scope: data.scope,
    target_tenant_id: data.targetTenantId,
    source: data.source,
    preflight: {
      affected_count: data.preflight.affectedCount,
      total_count: data.preflight.totalCount,
      estimated_tenants: data.preflight.estimatedTenants,
    },
    reason: data.reason ? { reason_code: data.reason.reasonCode, reason_text: data.reason.reasonText } : null,
    platform_initiator: {
      platform_user_id: data.initiator.platformUserId,
      email: data.initiator.email,
      name: data.initiator.name,
      is_break_glass: data.initiator.isBreakGlass,
    },
  }
}

export function failureSummaryJson(entries: FailureEntry[]) {
  return entries.map((f) => ({ tenant_id: f.tenantId, reason_code: f.reasonCode, message: f.message }))
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
  await tx`
    insert into operation_runs (id, workspace_id, tenant_id, user_id, initiator_name, type, status, outcome,
      run_identity_hash, summary_counts, failure_summary, context, started_at, completed_at, created_at)
    values (${data.runId}, ${data.workspaceId}, ${allTenants ? null : data.targetTenantId}, ${data.initiator.platformUserId},
      ${data.initiator.name}, ${data.runbookKey}, 'queued', 'pending', ${data.runIdentityHash},
      ${JSON.stringify(summaryCounts)}::text::jsonb, '[]'::jsonb, ${JSON.stringify(runContext(data))}::text::jsonb,
      null, null, ${data.requestedAt}::timestamptz)
    on conflict (id) do nothing`
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
  await tx`
    insert into operation_run_tenants as t (run_id, tenant_id, status, total, updated, reason_code, message, attempt, processed_at)
    values (${data.runId}, ${data.tenantId}, ${r.status},
      ${succeeded ? r.total : null}::integer, ${succeeded ? r.updated : null}::integer,
      ${succeeded ? null : r.reasonCode}::text, ${succeeded ? null : r.message}::text,
      ${data.attempt}, ${data.processedAt}::timestamptz)
    on conflict (run_id, tenant_id) do update
    set status = excluded.status, total = excluded.total, updated = excluded.updated,
        reason_code = excluded.reason_code, message = excluded.message,
        attempt = excluded.attempt, processed_at = excluded.processed_at
    where t.attempt < excluded.attempt`

  // Running counts while the run is in progress; RunCompleted replaces them with the final figures.
  await tx`
    update operation_runs r
    set summary_counts = jsonb_build_object(
          'total', agg.total, 'processed', agg.total, 'updated', agg.updated,
          'skipped', agg.total - agg.updated, 'failed', agg.failed)
        || case when r.summary_counts ? 'tenants'
                then jsonb_build_object('tenants', r.summary_counts -> 'tenants') else '{}'::jsonb end,
        failure_summary = agg.failures
    from (
      select coalesce(sum(total) filter (where status = 'succeeded'), 0)::bigint as total,
             coalesce(sum(updated) filter (where status = 'succeeded'), 0)::bigint as updated,
             count(*) filter (where status = 'failed') as failed,
             coalesce(jsonb_agg(jsonb_build_object('tenant_id', tenant_id, 'reason_code', reason_code, 'message', message)
                                order by tenant_id) filter (where status = 'failed'), '[]'::jsonb) as failures
      from operation_run_tenants where run_id = ${data.runId}
    ) agg
    where r.id = ${data.runId} and r.status <> 'completed'`
}

async function completeRun(tx: TransactionSql, { data }: EventOf<'RunCompleted'>): Promise<void> {
  await tx`
    update operation_runs
    set status = 'completed', outcome = ${data.outcome},
        summary_counts = ${JSON.stringify(data.summaryCounts)}::text::jsonb,
        failure_summary = ${JSON.stringify(failureSummaryJson(data.failureSummary))}::text::jsonb,
        completed_at = ${data.completedAt}::timestamptz
    where id = ${data.runId}`
}
