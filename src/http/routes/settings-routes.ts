import { OpenAPIHono } from '@hono/zod-openapi'
import { z } from 'zod'
import { capabilities } from '../../auth/capabilities.js'
import { approvalSettings, setApprovalSettings } from '../../commands/approvals.js'
import type { EventLog } from '../../store/event-log.js'
import type { AppEnv } from '../authentication.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import { approvalSettingsBodySchema } from '../request-schemas.js'

/** SPEC §10: which starts need a second operator. */

const approvalSettingsSchema = z
  .object({
    required: z.enum(['none', 'all_tenants', 'all']),
    by: z.object({ id: z.string(), email: z.string(), name: z.string() }).nullable(),
    at: z.iso.datetime().nullable(),
  })
  .meta({ id: 'ApprovalSettings' })

const manage = { capabilities: [capabilities.operatorsManage] }

const getRoute = apiRoute({
  method: 'get',
  path: '/approvals',
  summary: 'Which starts need approval',
  tags: ['approvals'],
  access: manage,
  answer: { status: 200, description: '`none` (the default), `all_tenants` or `all`.', schema: approvalSettingsSchema },
})

const putRoute = apiRoute({
  method: 'put',
  path: '/approvals',
  summary: 'Set which starts need approval',
  tags: ['approvals'],
  access: manage,
  body: approvalSettingsBodySchema,
  answer: { status: 200, description: 'The settings.', schema: approvalSettingsSchema },
})

export function settingsRoutes(deps: { log: EventLog }) {
  const app = new OpenAPIHono<AppEnv>()
  serveRoute(app, getRoute, async (c) => c.json(await approvalSettings(deps.log)))
  serveRoute(app, putRoute, async (c, input) => c.json(await setApprovalSettings(deps, c.get('actor'), await input.body())))
  return app
}
