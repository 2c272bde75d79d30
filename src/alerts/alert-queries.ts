import { redactedWebhookUrl } from '../commands/alert-destinations-decider.js'
import type { DeliveryStatus } from '../commands/alert-destinations-delivery.js'
import type { Sql } from '../db/database.js'
import { keysetCursor } from '../projections/queries.js'

/** One alert delivery as GET /api/alert-deliveries and the Alerts page show it (SPEC §12). */
export interface AlertDeliveryView {
  id: string
  alertKey: string
  runId: string
  destination: { id: string; kind: string; url: string | null }
  status: DeliveryStatus
  attempts: number
  lastAttemptAt: string | null
  nextAttemptAt: string | null
  deliveredAt: string | null
  lastError: string | null
  createdAt: string
}

export interface AlertDeliveryPage {
  items: AlertDeliveryView[]
  nextCursor: string | null
}

export interface AlertDeliveryFilter {
  status?: DeliveryStatus | undefined
  runId?: string | undefined
  cursor?: string | undefined
  limit: number
}

interface DeliveryRow {
  id: string
  alert_key: string
  run_id: string
  destination_id: string
  kind: string | null
  target: string | null
  status: DeliveryStatus
  attempts: number
  last_attempt_at: Date | null
  next_attempt_at: Date | null
  delivered_at: Date | null
  last_error: string | null
  created_at: Date
  sort_key: string
}

const SELECT_DELIVERIES = `
  select d.id, d.alert_key, d.run_id, d.destination_id, t.kind, t.target, d.status, d.attempts, d.last_attempt_at,
         d.next_attempt_at, d.delivered_at, d.last_error, d.created_at,
         to_char(d.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as sort_key
  from alert_deliveries d left join alert_destinations t on t.id = d.destination_id`

/** Newest first, keyset-paginated by (created_at, id); filtered by status and run. */
export async function listAlertDeliveryPage(sql: Sql, filter: AlertDeliveryFilter): Promise<AlertDeliveryPage> {
  const after = filter.cursor ? decodeCursor(filter.cursor) : null
  const rows = await sql<DeliveryRow[]>`
    ${sql.unsafe(SELECT_DELIVERIES)}
    where true
      ${filter.status ? sql`and d.status = ${filter.status}` : sql``}
      ${filter.runId ? sql`and d.run_id = ${filter.runId}` : sql``}
      ${after ? sql`and (d.created_at, d.id) < (${after.at}::timestamptz, ${after.id})` : sql``}
    order by d.created_at desc, d.id desc
    limit ${filter.limit + 1}`
  const items = rows.slice(0, filter.limit)
  const last = items.at(-1)
  return {
    items: items.map(deliveryView),
    nextCursor: rows.length > filter.limit && last ? encodeCursor({ at: last.sort_key, id: last.id }) : null,
  }
}

/** An alert raised (alert key and run), with its deliveries: what the Alerts page lists, newest first. */
export interface RaisedAlertView {
  alertKey: string
  runId: string
  raisedAt: string
  deliveries: AlertDeliveryView[]
}

export async function listRaisedAlerts(sql: Sql, limit: number): Promise<RaisedAlertView[]> {
  const rows = await sql<DeliveryRow[]>`
    with raised as (
      select alert_key, run_id, min(created_at) as raised_at from alert_deliveries
      group by alert_key, run_id order by raised_at desc, run_id desc limit ${limit})
    ${sql.unsafe(SELECT_DELIVERIES)}
    join raised r on r.alert_key = d.alert_key and r.run_id = d.run_id
    order by r.raised_at desc, d.run_id desc, d.alert_key, d.destination_id`
  const alerts = new Map<string, RaisedAlertView>()
  for (const row of rows) {
    const key = `${row.alert_key}\u0000${row.run_id}`
    const alert = alerts.get(key) ?? { alertKey: row.alert_key, runId: row.run_id, raisedAt: row.created_at.toISOString(), deliveries: [] }
    alert.deliveries.push(deliveryView(row))
    if (row.created_at.toISOString() < alert.raisedAt) alert.raisedAt = row.created_at.toISOString()
    alerts.set(key, alert)
  }
  return [...alerts.values()]
}

/** What the console's inbox received (a signed POST it verified), newest first. */
export interface ReceivedAlertView {
  deliveryId: string
  alertKey: string
  runId: string | null
  payload: Record<string, unknown>
  receivedAt: string
}

export async function listReceivedAlerts(sql: Sql, limit: number): Promise<ReceivedAlertView[]> {
  const rows = await sql<Array<{ delivery_id: string; alert_key: string; run_id: string | null; payload: Record<string, unknown>; received_at: Date }>>`
    select delivery_id, alert_key, run_id, payload, received_at from alert_inbox order by received_at desc, delivery_id desc limit ${limit}`
  return rows.map((row) => ({ deliveryId: row.delivery_id, alertKey: row.alert_key, runId: row.run_id, payload: row.payload, receivedAt: row.received_at.toISOString() }))
}

function shownTarget(row: DeliveryRow): string | null {
  if (row.target === null) return null
  return row.kind === 'console' ? row.target : redactedWebhookUrl(row.target)
}

function deliveryView(row: DeliveryRow): AlertDeliveryView {
  return {
    id: row.id,
    alertKey: row.alert_key,
    runId: row.run_id,
    // Shown to every platform.ops.view holder: the console inbox's own path, or a webhook's scheme and host only.
    destination: { id: row.destination_id, kind: row.kind ?? 'unknown', url: shownTarget(row) },
    status: row.status,
    attempts: row.attempts,
    lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
    nextAttemptAt: row.next_attempt_at?.toISOString() ?? null,
    deliveredAt: row.delivered_at?.toISOString() ?? null,
    lastError: row.last_error,
    createdAt: row.created_at.toISOString(),
  }
}

// The id is a delivery id, `${runId}:${destinationId}` or `${runId}:${kind}:${destinationId}` (ULIDs, kinds
// and destination ids): the run list's codec with ids that may hold `:`.
const { encode: encodeCursor, decode: decodeCursor } = keysetCursor(/^[A-Za-z0-9_.:-]{1,200}$/)
