import type { TransactionSql } from '../db/database.js'
import type { DomainEvent, RunOutcome } from '../events/index.js'
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

    async apply(tx, events) {
      const raised = events.flatMap(({ event }) => alertsRaisedBy(event))
      if (raised.length > 0) await recordAlerts(tx, raised, consoleBaseUrl)
    },

    // No reset: deliveries are a record of alerts raised (a sender marks them sent), not a view to
    // recompute. A rebuild re-applies every RunCompleted and `on conflict do nothing` keeps what exists, so
    // an old alert is never raised, or sent, twice.
  }
}

const alertingPauses: ReadonlySet<string> = new Set(['ERROR_BUDGET_EXCEEDED', 'CANARY_FAILED'])

/** An alert an event raises; `kind` null is the run-failed alert (its delivery ids have no kind, as always). */
interface RaisedAlert {
  alertKey: string
  kind: string | null
  runId: string
  at: string
  extra: Record<string, unknown>
}

function runFailed(runId: string, at: string): RaisedAlert {
  return { alertKey: runFailedAlertKey, kind: null, runId, at, extra: {} }
}

function alertsRaisedBy(event: DomainEvent): RaisedAlert[] {
  switch (event.type) {
    case 'RunCompleted':
      return alertingOutcomes.has(event.data.outcome) ? [runFailed(event.data.runId, event.data.completedAt)] : []
    case 'RunRequested':
      if (!event.data.initiator.isBreakGlass) return []
      return [{
        alertKey: breakGlassAlertKey,
        kind: 'break-glass',
        runId: event.data.runId,
        at: event.data.requestedAt,
        extra: {
          operator_id: event.data.initiator.platformUserId,
          operator_email: event.data.initiator.email,
          reason_code: event.data.reason?.reasonCode ?? null,
        },
      }]
    // SPEC §11: a verification that finds work left raises it too.
    case 'RunVerified':
      return event.data.remaining > 0 ? [runFailed(event.data.runId, event.data.verifiedAt)] : []
    // SPEC §9: a run that pauses itself over its error budget raises the same alert, and so does one whose
    // canary failed (SPEC §11): both wait for an operator who has to be told.
    case 'RunPaused':
      return alertingPauses.has(event.data.reason.reasonCode) ? [runFailed(event.data.runId, event.data.pausedAt)] : []
    default:
      return []
  }
}

interface RunRow {
  id: string
  type: string
  scope: string
  workspace_id: string
}

/**
 * One delivery of each alert per enabled destination of the platform workspace, in one insert for the
 * batch. Ids are `${runId}:${destinationId}` for the run-failed alert (as always) and
 * `${runId}:${kind}:${destinationId}` for the others, so that re-applying is a no-op: a run that paused over
 * its error budget and later completes `partially_succeeded` has already alerted (the first delivery is
 * kept, also when both are in one batch).
 */
async function recordAlerts(tx: TransactionSql, raised: RaisedAlert[], consoleBaseUrl: string): Promise<void> {
  const firsts = new Map<string, RaisedAlert>()
  for (const alert of raised) {
    const key = `${alert.alertKey}\u0000${alert.runId}`
    if (!firsts.has(key)) firsts.set(key, alert)
  }
  const alerts = [...firsts.values()]
  const runIds = [...new Set(alerts.map((a) => a.runId))]
  const runRows = await tx<RunRow[]>`
    select id, type, context ->> 'scope' as scope, workspace_id::text from operation_runs where id = any(${runIds}::text[])`
  const runs = new Map(runRows.map((run) => [run.id, run]))
  const missing = runIds.find((id) => !runs.has(id))
  if (missing !== undefined) throw new Error(`an alert for run ${missing}, which operation_runs does not know`)
  const platformWorkspace = [...runs.values()].every((run) => run.scope === 'all_tenants') ? null : await platformWorkspaceId(tx)
  const rows = alerts.flatMap((alert) => {
    const run = runs.get(alert.runId)!
    const workspace = run.scope === 'all_tenants' ? run.workspace_id : platformWorkspace
    if (workspace === null) return []
    const payload = {
      run_id: run.id,
      run_type: run.type,
      scope: run.scope,
      console_url: `${consoleBaseUrl}/system/ops/runs/${encodeURIComponent(run.id)}`,
      ...alert.extra,
    }
    return [{ alert, workspace, payload: JSON.stringify(payload), idPrefix: alert.kind ? `${run.id}:${alert.kind}:` : `${run.id}:` }]
  })
  if (rows.length === 0) return
  await tx`
    insert into alert_deliveries (id, alert_key, run_id, workspace_id, destination_id, payload, status, created_at)
    select a.id_prefix || d.id, a.alert_key, a.run_id, d.workspace_id, d.id, a.payload::jsonb, 'recorded', a.at
    from unnest(${rows.map((r) => r.idPrefix)}::text[], ${rows.map((r) => r.alert.alertKey)}::text[], ${rows.map((r) => r.alert.runId)}::text[],
                ${rows.map((r) => r.workspace)}::bigint[], ${rows.map((r) => r.payload)}::text[], ${rows.map((r) => r.alert.at)}::timestamptz[])
           with ordinality as a(id_prefix, alert_key, run_id, workspace_id, payload, at, n)
    join alert_destinations d on d.workspace_id = a.workspace_id and d.enabled
    order by a.n, d.id
    on conflict do nothing`
}

/** The platform workspace is the workspace of the (single) platform tenant (SPEC §1). */
async function platformWorkspaceId(tx: TransactionSql): Promise<string | null> {
  const rows = await tx<Array<{ workspace_id: string }>>`
    select workspace_id::text from tenants where is_platform order by id limit 1`
  return rows[0]?.workspace_id ?? null
}

/**
 * The destination every platform workspace has out of the box: the console's own inbox, a signed webhook
 * to the service (src/commands/alert-destinations.ts). Called at start, once the demo's platform tenant
 * exists, so that a failed demo run's alert is delivered to, and shown by, the console.
 */
export { ensureConsoleAlertDestination } from '../commands/alert-destinations.js'
