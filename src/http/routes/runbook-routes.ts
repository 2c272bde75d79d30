import { Hono } from 'hono'
import { z } from 'zod'
import { capabilities } from '../../auth/capabilities.js'
import { preflightRunbook } from '../../commands/preflight.js'
import { startRun } from '../../commands/start-run.js'
import type { Sql } from '../../db/database.js'
import { runScopeSchema, runSourceSchema } from '../../events/index.js'
import { runbookCatalog } from '../../runbooks/catalog.js'
import { listUniverse } from '../../runbooks/tenant-universe.js'
import type { EventLog } from '../../store/event-log.js'
import { requireCapability, type AppEnv } from '../authentication.js'
import { readJsonBody, readQuery } from '../request-body.js'

const tenantIdField = z.number().int('must be an integer').positive('must be a positive id').max(Number.MAX_SAFE_INTEGER)

const targetSchema = {
  scope: z.string().pipe(runScopeSchema),
  tenantId: tenantIdField.nullish(),
}

const preflightSchema = z.object(targetSchema)

const startSchema = z.object({
  ...targetSchema,
  confirmation: z.string().max(200),
  reason: z
    .object({ code: z.string().max(50), text: z.string().max(2000) })
    .nullish(),
  source: z.string().pipe(runSourceSchema).optional(),
})

const tenantQuerySchema = z.object({
  q: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
})

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
      const body = await readJsonBody(c, preflightSchema)
      const result = await preflightRunbook(deps, c.get('actor'), {
        runbookKey: c.req.param('key'),
        scope: body.scope,
        tenantId: body.tenantId ?? null,
      })
      return c.json(result)
    })
    .post('/runbooks/:key/runs', requireCapability(capabilities.runbooksRun), async (c) => {
      const body = await readJsonBody(c, startSchema)
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
