import { Hono } from 'hono'
import { z } from 'zod'
import { capabilities } from '../../auth/capabilities.js'
import type { Sql } from '../../db/database.js'
import { listAudit } from '../../projections/queries.js'
import { requireCapability, type AppEnv } from '../authentication.js'
import { readQuery } from '../request-body.js'

const auditQuerySchema = z.object({
  action: z.string().max(200).optional(),
  cursor: z.string().max(500).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})

export function auditRoutes(deps: { sql: Sql }) {
  return new Hono<AppEnv>().get('/', requireCapability(capabilities.opsView), async (c) =>
    c.json(await listAudit(deps.sql, readQuery(c, auditQuerySchema))),
  )
}
