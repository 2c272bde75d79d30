import { createHmac } from 'node:crypto'

/**
 * The bytes of one alert POST (SPEC §12): the same for every attempt of a delivery, so a receiver sees one
 * body whatever the retries, and the signature covers exactly them.
 */
export interface AlertBodyInput {
  deliveryId: string
  alertKey: string
  raisedAt: string
  /** The payload the projection recorded (run id, run type, scope, console URL, …). */
  payload: Record<string, unknown>
}

export function alertBody(input: AlertBodyInput): Buffer {
  return Buffer.from(
    JSON.stringify({ alert_key: input.alertKey, delivery_id: input.deliveryId, raised_at: input.raisedAt, ...input.payload }),
    'utf8',
  )
}

/** `sha256=<hex HMAC-SHA256 of the body bytes with the secret>`, the X-Signature header's value. */
export function alertSignature(body: Uint8Array, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

export const SIGNATURE_HEADER = 'X-Signature'
/** The delivery's id, the same on every attempt: a receiver that got it already can drop a repeat. */
export const DELIVERY_ID_HEADER = 'X-Delivery-Id'
export const ALERT_KEY_HEADER = 'X-Alert-Key'
