import { OpenAPIHono } from '@hono/zod-openapi'
import { capabilities } from '../../auth/capabilities.js'
import { NotFoundError } from '../../commands/errors.js'
import type { Sql } from '../../db/database.js'
import { streams } from '../../events/index.js'
import { getRun, listRuns, waitForRun } from '../../projections/queries.js'
import type { EventLog } from '../../store/event-log.js'
import { requireCapability, type AppEnv } from '../authentication.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import {
  listRunsQuerySchema,
  runEventsSchema,
  runIdParamsSchema,
  runIdSchema,
  runPageSchema,
  runSchema,
} from '../schemas/run-schemas.js'

/** How long GET /api/runs/{id} waits for a run its client just started to be projected (read-your-writes). */
const READ_YOUR_WRITES_TIMEOUT_MS = 3_000

const viewRuns = { capabilities: [capabilities.opsView] }

const listRunsRoute = apiRoute({
  method: 'get',
  path: '/',
  summary: 'Runs, newest first',
  tags: ['runs'],
  access: viewRuns,
  query: listRunsQuerySchema,
  answer: { status: 200, description: 'A page of runs (keyset-paginated).', schema: runPageSchema },
})

const getRunRoute = apiRoute({
  method: 'get',
  path: '/{id}',
  summary: 'One run',
  description: 'A run its client has just started is answered once projected (the service waits briefly for it).',
  tags: ['runs'],
  access: viewRuns,
  params: runIdParamsSchema,
  answer: { status: 200, description: 'The run.', schema: runSchema },
  problems: { 404: 'No run with this id.' },
})

const runEventsRoute = apiRoute({
  method: 'get',
  path: '/{id}/events',
  summary: "The run's events, in order",
  tags: ['runs'],
  access: viewRuns,
  params: runIdParamsSchema,
  answer: { status: 200, description: "The run's stream.", schema: runEventsSchema },
  problems: { 404: 'No run with this id.' },
})

// Validated with the id schema the document shows; an id that is not a ULID names no run (404).
function requireRunId(id: string): string {
  if (!runIdSchema.safeParse(id).success) throw new NotFoundError('run', id.slice(0, 64))
  return id
}

export function runRoutes(deps: { sql: Sql; log: EventLog }) {
  const app = new OpenAPIHono<AppEnv>()
  // Any path under /runs, unknown ones included, needs ops.view first (403 before 404), as it always has;
  // each route names the capability as well so that the document shows it.
  app.use(requireCapability(...viewRuns.capabilities))
  serveRoute(app, listRunsRoute, async (c, input) => c.json(await listRuns(deps.sql, input.query())))
  serveRoute(app, getRunRoute, async (c) => {
    const id = requireRunId(c.req.param('id')!)
    let run = await getRun(deps.sql, id)
    if (!run) {
      // The run may be in the event store but not yet projected: wait only if it exists there.
      const { revision } = await deps.log.read(streams.run(id))
      if (revision !== null) run = await waitForRun(deps.sql, id, { timeoutMs: READ_YOUR_WRITES_TIMEOUT_MS })
    }
    if (!run) throw new NotFoundError('run', id)
    return c.json(run)
  })
  serveRoute(app, runEventsRoute, async (c) => {
    const id = requireRunId(c.req.param('id')!)
    const { events } = await deps.log.read(streams.run(id))
    if (events.length === 0) throw new NotFoundError('run', id)
    return c.json({
      items: events.map((e) => ({
        type: e.event.type,
        version: e.version,
        data: e.event.data,
        metadata: e.metadata,
        revision: e.revision,
        position: e.position,
        recordedAt: e.recordedAt.toISOString(),
      })),
    })
  })
  return app
}
