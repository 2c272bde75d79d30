import { OpenAPIHono } from '@hono/zod-openapi'
import { capabilities } from '../../auth/capabilities.js'
import type { Sql } from '../../db/database.js'
import { verifyAuditChain } from '../../projections/audit-chain.js'
import { listAudit } from '../../projections/queries.js'
import type { AppEnv } from '../authentication.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import { auditPageSchema, auditQuerySchema, auditVerificationSchema } from '../schemas/audit-schemas.js'

const listAuditRoute = apiRoute({
  method: 'get',
  path: '/',
  summary: 'Audit entries, newest first',
  tags: ['audit'],
  access: { capabilities: [capabilities.opsView] },
  query: auditQuerySchema,
  answer: { status: 200, description: 'A page of audit entries.', schema: auditPageSchema },
})

const verifyAuditRoute = apiRoute({
  method: 'get',
  path: '/verify',
  summary: "Verify the audit log's hash chain",
  description:
    'Recomputes every entry\'s hash from its row and the previous entry\'s hash, in sequence order, and checks the head. ' +
    'A row altered, deleted or inserted by hand makes `ok` false and names the first broken entry.',
  tags: ['audit'],
  access: { capabilities: [capabilities.opsView] },
  answer: { status: 200, description: 'The chain, verified (also when broken: see `ok`).', schema: auditVerificationSchema },
})

export function auditRoutes(deps: { sql: Sql }) {
  const app = new OpenAPIHono<AppEnv>()
  serveRoute(app, listAuditRoute, async (c, input) => c.json(await listAudit(deps.sql, input.query())))
  serveRoute(app, verifyAuditRoute, async (c) => c.json(await verifyAuditChain(deps.sql)))
  return app
}
