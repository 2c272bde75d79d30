import { OpenAPIHono } from '@hono/zod-openapi'
import { capabilities } from '../../auth/capabilities.js'
import { haltDeployment, haltView, liftHalt } from '../../commands/halt.js'
import type { Sql } from '../../db/database.js'
import type { EventLog } from '../../store/event-log.js'
import type { AppEnv } from '../authentication.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import { requiredReasonBodySchema } from '../request-schemas.js'
import { haltEngagedSchema, haltSchema } from '../schemas/run-control-schemas.js'
import { stateConflictProblemSchema } from '../schemas/problem-schemas.js'

/** SPEC §9 "Halt (the kill switch)". */

const getHaltRoute = apiRoute({
  method: 'get',
  path: '/',
  summary: "The deployment's halt",
  tags: ['run control'],
  access: { capabilities: [capabilities.opsView] },
  answer: { status: 200, description: 'Whether the deployment is halted, why, by whom and since when.', schema: haltSchema },
})

const haltRoute = apiRoute({
  method: 'post',
  path: '/',
  summary: 'Halt the deployment (the kill switch)',
  description: 'Pauses every active run (`HALTED`) and refuses every start, resume and approval with 423 until lifted.',
  tags: ['run control'],
  access: { capabilities: [capabilities.opsHalt] },
  body: requiredReasonBodySchema,
  answer: { status: 202, description: 'The halt, with the runs it paused.', schema: haltEngagedSchema },
  problems: { 409: { description: 'The deployment is already halted.', schema: stateConflictProblemSchema } },
})

const liftHaltRoute = apiRoute({
  method: 'delete',
  path: '/',
  summary: 'Lift the halt',
  description: 'Starts are accepted again; paused runs stay paused until an operator resumes them.',
  tags: ['run control'],
  access: { capabilities: [capabilities.opsHalt] },
  body: requiredReasonBodySchema,
  answer: { status: 200, description: 'The halt, lifted.', schema: haltSchema },
  problems: { 409: { description: 'The deployment is not halted.', schema: stateConflictProblemSchema } },
})

export function haltRoutes(deps: { sql: Sql; log: EventLog }) {
  const app = new OpenAPIHono<AppEnv>()
  serveRoute(app, getHaltRoute, async (c) => c.json(await haltView(deps.log)))
  serveRoute(app, haltRoute, async (c, input) => {
    const { halt, pausedRuns } = await haltDeployment(deps, c.get('actor'), { reason: (await input.body()).reason ?? null })
    return c.json({ ...halt, pausedRuns }, 202)
  })
  serveRoute(app, liftHaltRoute, async (c, input) => c.json(await liftHalt(deps, c.get('actor'), { reason: (await input.body()).reason ?? null })))
  return app
}
