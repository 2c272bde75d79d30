import { OpenAPIHono } from '@hono/zod-openapi'
import { capabilities } from '../../auth/capabilities.js'
import type { Sql } from '../../db/database.js'
import { listAudit } from '../../projections/queries.js'
import type { AppEnv } from '../authentication.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import { auditPageSchema, auditQuerySchema } from '../schemas/audit-schemas.js'

const listAuditRoute = apiRoute({
  method: 'get',
  path: '/',
  summary: 'Audit entries, newest first',
  tags: ['audit'],
  access: { capabilities: [capabilities.opsView] },
  query: auditQuerySchema,
  answer: { status: 200, description: 'A page of audit entries.', schema: auditPageSchema },
})

export function auditRoutes(deps: { sql: Sql }) {
  const app = new OpenAPIHono<AppEnv>()
  serveRoute(app, listAuditRoute, async (c, input) => c.json(await listAudit(deps.sql, input.query())))
  return app
}
