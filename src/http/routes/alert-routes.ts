import { OpenAPIHono } from '@hono/zod-openapi'
import { signingConsoleDestination, storeReceivedAlert } from '../../alerts/alert-inbox.js'
import { listAlertDeliveryPage } from '../../alerts/alert-queries.js'
import { capabilities } from '../../auth/capabilities.js'
import {
  addWebhookDestination,
  listAlertDestinations,
  removeAlertDestination,
  type AlertDestinationDeps,
} from '../../commands/alert-destinations.js'
import { ValidationError } from '../../commands/errors.js'
import type { Sql } from '../../db/database.js'
import type { AppEnv } from '../authentication.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import { fieldsOf, HttpProblem } from '../problem.js'
import { readBodyBytes } from '../request-body.js'
import {
  alertDeliveriesQuerySchema,
  alertDeliveryPageSchema,
  alertDestinationIdParamsSchema,
  alertDestinationListSchema,
  alertDestinationSchema,
  alertInboxAnswerSchema,
  alertInboxBodySchema,
  createAlertDestinationBodySchema,
  removedAlertDestinationSchema,
} from '../schemas/alert-schemas.js'

/** SPEC §12 "Alert delivery". */

const manage = { capabilities: [capabilities.operatorsManage] }

const listDestinationsRoute = apiRoute({
  method: 'get',
  path: '/alert-destinations',
  summary: 'Alert destinations',
  description: "The platform workspace's destinations, oldest first. Secrets are never shown: `secretSet` says one is set.",
  tags: ['alerts'],
  access: manage,
  answer: { status: 200, description: 'Every destination in use.', schema: alertDestinationListSchema },
})

const addDestinationRoute = apiRoute({
  method: 'post',
  path: '/alert-destinations',
  summary: 'Add a webhook destination',
  description:
    'Each alert is POSTed to the URL as JSON, signed with `X-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`, ' +
    'with `X-Delivery-Id` (the same on every attempt), and retried with backoff for 24 hours until the receiver answers 2xx.',
  tags: ['alerts'],
  access: manage,
  body: createAlertDestinationBodySchema,
  answer: { status: 201, description: 'The destination (without its secret).', schema: alertDestinationSchema },
  problems: {
    409: 'The platform has no platform tenant: there is no platform workspace to send alerts for.',
    422: 'A value breaks a rule: e.g. the URL is not http(s), or its host is not in OPS_WEBHOOK_ALLOWED_HOSTS; `errors` names the field.',
  },
})

const removeDestinationRoute = apiRoute({
  method: 'delete',
  path: '/alert-destinations/{id}',
  summary: 'Remove an alert destination',
  description: 'It receives nothing more: its deliveries not sent yet are failed (`DESTINATION_REMOVED`), and its secret is erased.',
  tags: ['alerts'],
  access: manage,
  params: alertDestinationIdParamsSchema,
  answer: { status: 200, description: 'Removed.', schema: removedAlertDestinationSchema },
  problems: { 404: 'No destination in use with this id.' },
})

const listDeliveriesRoute = apiRoute({
  method: 'get',
  path: '/alert-deliveries',
  summary: 'Alert deliveries, newest first',
  description: "Each alert's delivery to each destination: status (`recorded`, `delivered`, `failed`), attempts and the last error.",
  tags: ['alerts'],
  access: { capabilities: [capabilities.opsView] },
  query: alertDeliveriesQuerySchema,
  answer: { status: 200, description: 'A page of deliveries.', schema: alertDeliveryPageSchema },
})

const inboxRoute = apiRoute({
  method: 'post',
  path: '/alert-inbox',
  summary: "The console's alert inbox",
  description:
    "The console's own alert destination: a webhook receiver of this service. No bearer token: the body must carry " +
    "`X-Signature: sha256=<hex HMAC-SHA256 of the body>` made with a console destination's secret. Received alerts show on the " +
    'console\'s Alerts page, once per `X-Delivery-Id`.',
  tags: ['alerts'],
  access: 'public',
  body: alertInboxBodySchema,
  answer: { status: 200, description: 'Received (or received before).', schema: alertInboxAnswerSchema },
  problems: { 401: 'No X-Signature, or one no console destination made.' },
})

export function alertRoutes(deps: AlertDestinationDeps) {
  const app = new OpenAPIHono<AppEnv>()
  serveRoute(app, listDestinationsRoute, async (c) => c.json({ items: await listAlertDestinations(deps, c.get('actor')) }))
  serveRoute(app, addDestinationRoute, async (c, input) => {
    const { url, secret } = await input.body()
    return c.json(await addWebhookDestination(deps, c.get('actor'), { url, secret }), 201)
  })
  serveRoute(app, removeDestinationRoute, async (c) => {
    const destination = await removeAlertDestination(deps, c.get('actor'), c.req.param('id')!)
    return c.json({ removed: true as const, destination })
  })
  serveRoute(app, listDeliveriesRoute, async (c, input) => c.json(await listAlertDeliveryPage(deps.sql, input.query())))
  return app
}

/** Public (signed, not authenticated): mounted before the bearer authentication. */
export function alertInboxRoutes(deps: { sql: Sql }) {
  const app = new OpenAPIHono<AppEnv>()
  serveRoute(app, inboxRoute, async (c) => {
    const bytes = await readBodyBytes(c)
    // The signature first: nothing of an unsigned body is read.
    const destinationId = await signingConsoleDestination(deps.sql, bytes, c.req.header('x-signature'))
    if (destinationId === null) throw new HttpProblem(401, 'the body is not signed by a console alert destination (X-Signature)')
    let raw: unknown
    try {
      raw = JSON.parse(Buffer.from(bytes).toString('utf8'))
    } catch {
      throw new HttpProblem(400, 'the body is not valid JSON', { errors: [{ field: '(body)', message: 'not valid JSON' }] })
    }
    const parsed = alertInboxBodySchema.safeParse(raw)
    if (!parsed.success) throw new ValidationError(fieldsOf(parsed.error))
    const alert = parsed.data
    const outcome = await storeReceivedAlert(
      deps.sql,
      destinationId,
      { deliveryId: alert.delivery_id, alertKey: alert.alert_key, runId: alert.run_id ?? null, payload: alert },
      new Date(),
    )
    return c.json({ received: true as const, duplicate: outcome === 'duplicate' })
  })
  return app
}
