import { timingSafeEqual } from 'node:crypto'
import type { Sql } from '../db/database.js'
import { alertSignature } from './webhook-request.js'

/**
 * The console's own receiver (SPEC §5: alerts reach the console): a signed POST from a sender is checked
 * against the secret of a console destination and kept, once per delivery id, for the Alerts page.
 */
export type InboxOutcome = 'stored' | 'duplicate' | 'unsigned'

export interface ReceivedAlert {
  deliveryId: string
  alertKey: string
  runId: string | null
  payload: Record<string, unknown>
}

/** Which console destination signed these bytes, or null: the signature is checked before anything is read. */
export async function signingConsoleDestination(sql: Sql, body: Uint8Array, signature: string | undefined): Promise<string | null> {
  if (!signature || !/^sha256=[0-9a-f]{64}$/.test(signature)) return null
  const destinations = await sql<Array<{ id: string; secret: string }>>`
    select id, secret from alert_destinations where kind = 'console' and enabled and removed_at is null and secret is not null`
  const given = Buffer.from(signature, 'utf8')
  for (const destination of destinations) {
    const expected = Buffer.from(alertSignature(body, destination.secret), 'utf8')
    if (expected.length === given.length && timingSafeEqual(expected, given)) return destination.id
  }
  return null
}

export async function storeReceivedAlert(sql: Sql, destinationId: string, alert: ReceivedAlert, at: Date): Promise<InboxOutcome> {
  const rows = await sql`
    insert into alert_inbox (delivery_id, destination_id, alert_key, run_id, payload, received_at)
    values (${alert.deliveryId}, ${destinationId}, ${alert.alertKey}, ${alert.runId}, ${JSON.stringify(alert.payload)}::text::jsonb, ${at.toISOString()})
    on conflict (delivery_id) do nothing
    returning delivery_id`
  return rows.length > 0 ? 'stored' : 'duplicate'
}
