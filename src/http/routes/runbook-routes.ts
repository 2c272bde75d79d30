import { Hono } from 'hono'
import { capabilities } from '../../auth/capabilities.js'
import { preflightRunbook } from '../../commands/preflight.js'
import { startRun } from '../../commands/start-run.js'
import type { Sql } from '../../db/database.js'
import { runbookCatalog } from '../../runbooks/catalog.js'
import { listUniverse } from '../../runbooks/tenant-universe.js'
import type { EventLog } from '../../store/event-log.js'
import { requireCapability, type AppEnv } from '../authentication.js'
import { readJsonBody, readQuery } from '../request-body.js'
import { preflightBodySchema, startRunBodySchema, tenantQuerySchema } from '../request-schemas.js'

export function runbookRoutes(deps: { sql: Sql; log: EventLog }) {
  return new Hono<AppEnv>()
    .get('/runbooks', requireCapability(capabilities.runbooksView), (c) =>
      c.json({
        items: runbookCatalog.map(({ key, label, description, requiredCapability, estimatedDuration }) => ({
          key,
          label,
          description,
          requiredCapability,
          estimatedDuration,
        })),
      }),
    )
    .get('/tenants', requireCapability(capabilities.runbooksView), async (c) => {
      const { q, limit } = readQuery(c, tenantQuerySchema)
      return c.json({ items: await listUniverse(deps.sql, q, limit) })
    })
    .post('/runbooks/:key/preflight', requireCapability(capabilities.runbooksView), async (c) => {
      const body = await readJsonBody(c, preflightBodySchema)
      const result = await preflightRunbook(deps, c.get('actor'), {
        runbookKey: c.req.param('key'),
        scope: body.scope,
        tenantId: body.tenantId ?? null,
      })
      return c.json(result)
    })
    .post('/runbooks/:key/runs', requireCapability(capabilities.runbooksRun), async (c) => {
      const body = await readJsonBody(c, startRunBodySchema)
      const started = await startRun(deps, c.get('actor'), {
        runbookKey: c.req.param('key'),
        scope: body.scope,
        tenantId: body.tenantId ?? null,
        confirmation: body.confirmation,
        reason: body.reason ?? null,
        source: body.source ?? 'api',
      })
      c.header('Location', `/api/runs/${started.runId}`)
      return c.json(started, 202)
    })
}
