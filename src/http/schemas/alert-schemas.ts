import { z } from 'zod'
import { decimal } from './decimal-query.js'
import type { AlertDeliveryView } from '../../alerts/alert-queries.js'
import type { AlertDestinationView } from '../../commands/alert-destinations.js'
import type { SameKeys } from './read-side-shape.js'

/** SPEC §12 "Alert delivery": destinations (never their secret), deliveries, and the console's inbox. */

export const alertDestinationSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['webhook', 'console']).meta({ description: "`console`: the console's own inbox, an endpoint of this service." }),
    url: z.string().meta({ description: 'Where alerts go, without any user info; the inbox path for `console`.' }),
    secretSet: z.boolean().meta({ description: 'Whether the destination signs with a secret. The secret itself is never shown again.' }),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'AlertDestination' })

true satisfies SameKeys<z.output<typeof alertDestinationSchema>, AlertDestinationView>

export const alertDestinationListSchema = z.object({ items: z.array(alertDestinationSchema) }).meta({ id: 'AlertDestinationList' })

export const createAlertDestinationBodySchema = z
  .strictObject({
    kind: z.literal('webhook').optional().meta({ description: 'The only kind an operator adds (SPEC §12: `{url, secret}`); the default.' }),
    // The values' rules (lengths, scheme, allowed hosts) are the command's (src/commands/alert-destinations-decider.ts),
    // shared with the console's form: only the types are checked here.
    url: z.string().meta({
      description: 'An absolute `http` or `https` URL of at most 2048 characters; its host must be allowed by OPS_WEBHOOK_ALLOWED_HOSTS when that is set.',
    }),
    secret: z.string().meta({
      description: 'Signs each body: `X-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`. 1–1024 characters. Never shown again.',
    }),
  })
  .meta({ id: 'CreateAlertDestinationBody' })

export const alertDestinationIdParamsSchema = z.object({ id: z.string().max(64).meta({ description: 'An alert destination id.' }) })

const deliveryStatus = z.enum(['recorded', 'delivered', 'failed'])

export const alertDeliveriesQuerySchema = z.object({
  status: deliveryStatus.optional().meta({ description: '`recorded` (not delivered yet, retried), `delivered` or `failed`.' }),
  runId: z.string().max(100).optional().meta({ description: 'Only the deliveries of alerts about this run.' }),
  cursor: z.string().max(1000).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
  limit: decimal(z.number().int().min(1).max(200)).default(50),
})

export const alertDeliverySchema = z
  .object({
    id: z.string().meta({ description: 'The delivery id, sent as `X-Delivery-Id` on every attempt (receivers dedupe on it).' }),
    alertKey: z.string().meta({ description: 'E.g. `operations.run.failed`.' }),
    runId: z.string(),
    destination: z.object({
      id: z.string(),
      kind: z.string(),
      url: z.string().nullable().meta({
        description: "A webhook's `scheme://host[:port]` only (`/…` when it has a path: that is often its credential); the inbox path for `console`. The full URL is in GET /api/alert-destinations.",
      }),
    }),
    status: deliveryStatus,
    attempts: z.number().int().min(0),
    lastAttemptAt: z.iso.datetime().nullable(),
    nextAttemptAt: z.iso.datetime().nullable().meta({ description: 'When a `recorded` delivery is tried again (null: at once).' }),
    deliveredAt: z.iso.datetime().nullable(),
    lastError: z.string().nullable().meta({ description: 'The last failed attempt: `HTTP <status>` or an error class such as `TIMEOUT` or `ECONNREFUSED`.' }),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'AlertDelivery' })

true satisfies SameKeys<z.output<typeof alertDeliverySchema>, AlertDeliveryView>

export const alertDeliveryPageSchema = z
  .object({ items: z.array(alertDeliverySchema), nextCursor: z.string().nullable() })
  .meta({ id: 'AlertDeliveryPage', description: 'Deliveries, newest first; `nextCursor` is null on the last page.' })

export const removedAlertDestinationSchema = z
  .object({ removed: z.literal(true), destination: alertDestinationSchema })
  .meta({ id: 'RemovedAlertDestination' })

/** The body a sender POSTs (also to webhooks): the alert as recorded, stable across attempts. */
export const alertInboxBodySchema = z
  .looseObject({
    alert_key: z.string().min(1).max(200),
    delivery_id: z.string().min(1).max(300),
    raised_at: z.string().max(64),
    run_id: z.string().min(1).max(100).optional(),
    console_url: z.string().max(4096).optional(),
  })
  .meta({ id: 'AlertBody', description: 'An alert: its key, delivery id, when it was raised, and the run it is about (run id, type, scope, console URL, …).' })

export const alertInboxAnswerSchema = z
  .object({ received: z.literal(true), duplicate: z.boolean().meta({ description: 'This delivery id was received before (nothing stored again).' }) })
  .meta({ id: 'AlertInboxAnswer' })
