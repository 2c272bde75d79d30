import type { Sql, TransactionSql } from '../db/database.js'
import type { RunOutcome } from '../events/index.js'
import type { Projection } from './projector.js'

export const runFailedAlertKey = 'operations.run.failed'
/** SPEC §10: every start by a break-glass operator. */
export const breakGlassAlertKey = 'operations.break_glass.used'

const alertingOutcomes: ReadonlySet<RunOutcome> = new Set(['failed', 'partially_succeeded'])

export interface AlertsProjectionOptions {
  /** Where the console is served, without a trailing slash, e.g. `https://ops.example.com`. */
  consoleBaseUrl: string
}

/**
 * Records the `operations.run.failed` alert (SPEC §5) as one `alert_deliveries` row per enabled
 * destination of the platform workspace, status `recorded` (a sender picks them up). Row ids are
 * `${runId}:${destinationId}`, so re-applying is a no-op. Must run after `operationRunsProjection`.
 *
 * Unlike the other read models this one reads two tables the events do not describe: the destinations
 * (configuration) and, for single-tenant runs, the platform tenant; and a rebuild keeps the deliveries
 * already recorded (see `reset` below), adding only missing ones.
 */
export function alertsProjection(options: AlertsProjectionOptions): Projection {
  const consoleBaseUrl = options.consoleBaseUrl.replace(/\/+$/, '')
  return {
    name: 'alerts',

    async apply(tx, { event }) {
      if (event.type === 'RunCompleted' && alertingOutcomes.has(event.data.outcome)) {
        await recordRunFailedAlert(tx, event.data.runId, event.data.completedAt, consoleBaseUrl)
      }
      if (event.type === 'RunRequested' && event.data.initiator.isBreakGlass) {
        await recordAlert(tx, breakGlassAlertKey, 'break-glass', event.data.runId, event.data.requestedAt, consoleBaseUrl, {
          operator_id: event.data.initiator.platformUserId,
          operator_email: event.data.initiator.email,
          reason_code: event.data.reason?.reasonCode ?? null,
        })
      }
      // SPEC §11: a verification that finds work left raises it too.
      if (event.type === 'RunVerified' && event.data.remaining > 0) {
        await recordRunFailedAlert(tx, event.data.runId, event.data.verifiedAt, consoleBaseUrl)
      }
      // SPEC §9: a run that pauses itself over its error budget raises the same alert, and so does one whose
      // canary failed (SPEC §11): both wait for an operator who has to be told.
      if (event.type === 'RunPaused' && alertingPauses.has(event.data.reason.reasonCode)) {
        await recordRunFailedAlert(tx, event.data.runId, event.data.pausedAt, consoleBaseUrl)
      }
    },

    // No reset: deliveries are a record of alerts raised (a sender marks them sent), not a view to
    // recompute. A rebuild re-applies every RunCompleted and `on conflict do nothing` keeps what exists, so
    // an old alert is never raised, or sent, twice.
  }
}

const alertingPauses: ReadonlySet<string> = new Set(['ERROR_BUDGET_EXCEEDED', 'CANARY_FAILED'])

interface RunRow {
  id: string
  type: string
  scope: string
  workspace_id: string
}

/**
 * One `operations.run.failed` delivery per run and destination: a run that paused over its error budget
 * and later completes `partially_succeeded` has already alerted (the unique key keeps the first).
 */
async function recordRunFailedAlert(tx: TransactionSql, runId: string, at: string, consoleBaseUrl: string): Promise<void> {
  await recordAlert(tx, runFailedAlertKey, null, runId, at, consoleBaseUrl, {})
}

/**
 * One delivery of the alert per enabled destination of the platform workspace; ids are
 * `${runId}:${destinationId}` for the run-failed alert (as always) and `${runId}:${kind}:${destinationId}`
 * for the others, so that re-applying is a no-op.
 */
async function recordAlert(
  tx: TransactionSql,
  alertKey: string,
  kind: string | null,
  runId: string,
  at: string,
  consoleBaseUrl: string,
  extra: Record<string, unknown>,
): Promise<void> {
  const [run] = await tx<RunRow[]>`
    select id, type, context ->> 'scope' as scope, workspace_id::text from operation_runs where id = ${runId}`
  if (!run) throw new Error(`an alert for run ${runId}, which operation_runs does not know`)
  const platformWorkspace = run.scope === 'all_tenants' ? run.workspace_id : await platformWorkspaceId(tx)
  if (platformWorkspace === null) return
  const payload = {
    run_id: run.id,
    run_type: run.type,
    scope: run.scope,
    console_url: `${consoleBaseUrl}/system/ops/runs/${encodeURIComponent(run.id)}`,
    ...extra,
  }
  const idPrefix = kind ? `${run.id}:${kind}:` : `${run.id}:`
  await tx`
    insert into alert_deliveries (id, alert_key, run_id, workspace_id, destination_id, payload, status, created_at)
    select ${idPrefix} || d.id, ${alertKey}, ${run.id}, d.workspace_id, d.id,
           ${JSON.stringify(payload)}::text::jsonb, 'recorded', ${at}::timestamptz
    from alert_destinations d
    where d.workspace_id = ${platformWorkspace}::bigint and d.enabled
    on conflict do nothing`
}

/** The platform workspace is the workspace of the (single) platform tenant (SPEC §1). */
async function platformWorkspaceId(tx: TransactionSql): Promise<string | null> {
  const rows = await tx<Array<{ workspace_id: string }>>`
    select workspace_id::text from tenants where is_platform order by id limit 1`
  return rows[0]?.workspace_id ?? null
}

/**
 * The destination every platform workspace has out of the box: the console's own alert list. Idempotent;
 * called at start for the demo so that a failed demo run shows a recorded delivery.
 */
export async function ensureConsoleAlertDestination(sql: Sql): Promise<void> {
  await sql`
    insert into alert_destinations (id, workspace_id, kind, target, enabled)
    select 'platform-console', t.workspace_id, 'console', '/system/ops/runs', true
    from tenants t where t.is_platform order by t.id limit 1
    on conflict (id) do nothing`
}
