import { OpenAPIHono } from '@hono/zod-openapi'
import { capabilities } from '../../auth/capabilities.js'
import type { Sql } from '../../db/database.js'
import type { ProjectorLogger } from '../../projections/projector.js'
import { rebuildReadModelsAs } from '../../commands/rebuild-read-models.js'
import { RebuildNotSwitchedError } from '../../projections/read-model-rebuild.js'
import type { EventLog } from '../../store/event-log.js'
import type { AppEnv } from '../authentication.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import { HttpProblem } from '../problem.js'
import { rebuildReportSchema, rebuildConflictProblemSchema } from '../schemas/admin-schemas.js'

/** SPEC §12 "Projection rebuild", for `rcp admin rebuild`. */

const rebuildProjectionsRoute = apiRoute({
  method: 'post',
  path: '/rebuild-projections',
  summary: 'Rebuild the read models from the event store',
  description:
    'Rebuilds every read model from position zero into new tables and switches to them in one transaction while the ' +
    'service keeps answering; answers once switched, with each table\'s row count and checksum before and after. ' +
    'Alert destinations and deliveries are kept as they are. No body is read.',
  tags: ['admin'],
  // An administrative action on the whole deployment, like managing operators (SPEC §10).
  access: { capabilities: [capabilities.operatorsManage] },
  answer: { status: 200, description: 'The read models, rebuilt and switched to.', schema: rebuildReportSchema },
  problems: {
    409: {
      description: 'A rebuild is already under way in this service (`REBUILD_UNDER_WAY`), or the rebuilt tables could not be switched in (nothing changed).',
      schema: rebuildConflictProblemSchema,
    },
  },
})

export interface AdminRouteDeps {
  sql: Sql
  log: EventLog
  /** Alert payloads of events the switch projects link to the console. */
  consoleBaseUrl: string
  logger?: ProjectorLogger
}

export function adminRoutes(deps: AdminRouteDeps) {
  const app = new OpenAPIHono<AppEnv>()
  let underWay = false
  serveRoute(app, rebuildProjectionsRoute, async (c) => {
    if (underWay) throw new HttpProblem(409, 'this service is already rebuilding the read models', { code: 'REBUILD_UNDER_WAY' })
    underWay = true
    try {
      const report = await rebuildReadModelsAs(deps, c.get('actor'))
      return c.json(report)
    } catch (error) {
      if (error instanceof RebuildNotSwitchedError) throw new HttpProblem(409, error.message, { code: 'REBUILD_NOT_SWITCHED' })
      throw error
    } finally {
      underWay = false
    }
  })
  return app
}
