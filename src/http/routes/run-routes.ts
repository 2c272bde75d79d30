import { OpenAPIHono } from '@hono/zod-openapi'
import type { z } from 'zod'
import type { Actor } from '../../commands/actor.js'
import type { RunState } from '../../commands/run/run-state.js'
import { capabilities } from '../../auth/capabilities.js'
import { NotFoundError } from '../../commands/errors.js'
import type { Sql } from '../../db/database.js'
import { streams } from '../../events/index.js'
import { getRun, listRuns, listRunTenants, RunReader, showsRunState, waitForRun } from '../../projections/queries.js'
import { cancelRun, changeRunLimits, pauseRun, requireRunControl, resumeRun, type RunAccessDeps } from '../../commands/run-control.js'
import { retryRun, type StartedRun } from '../../commands/start-run.js'
import { revertRun, type RevertRunDeps } from '../../commands/revert-run.js'
import { apiRunSource } from './runbook-routes.js'
import { approveRun, rejectRun, requireApprovalAccess } from '../../commands/approvals.js'
import type { EventLog } from '../../store/event-log.js'
import { requireCapability, type AppEnv } from '../authentication.js'
import { apiRoute, type ApiRoute } from '../openapi/api-route.js'
import { eventItemOf } from './event-item.js'
import { runResourceAt } from '../../projections/replayed-run.js'
import { runNotYetProjected } from '../../projections/run-read.js'
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../dependency-unavailable.js'
import { HttpProblem } from '../problem.js'
import { serveRoute } from '../openapi/serve-route.js'
import {
  listRunsQuerySchema,
  runEventsSchema,
  runIdParamsSchema,
  runIdSchema,
  runPageSchema,
  runSchema,
  runStateQuerySchema,
} from '../schemas/run-schemas.js'
import { runTenantPageSchema, runTenantsQuerySchema } from '../schemas/run-control-schemas.js'
import { activeRunProblemSchema, haltedProblemSchema, stateConflictProblemSchema } from '../schemas/problem-schemas.js'
import { startedRunSchema } from '../schemas/runbook-schemas.js'
import { approveBodySchema, limitsBodySchema, requiredReasonBodySchema, resumeBodySchema, retryBodySchema, revertBodySchema } from '../request-schemas.js'

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

const runStateRoute = apiRoute({
  method: 'get',
  path: '/{id}/state',
  summary: 'The run as it stood after its N-th event',
  description:
    'SPEC §12: the run resource folded from the run\'s stream by the command side\'s own `evolve`, as it stood right after its ' +
    '`revision`-th event (`revision=1`: after `RunRequested`; the event listed by `/events` with `revision: r` is the (r+1)-th). ' +
    'Without `revision`, after every event: equal to `GET /api/runs/{id}` once the projection caught up.',
  tags: ['runs'],
  access: viewRuns,
  params: runIdParamsSchema,
  query: runStateQuerySchema,
  answer: { status: 200, description: 'The run at that revision.', schema: runSchema },
  problems: { 404: 'No run with this id, or `revision` is beyond its last event (`revisions` says how many it has).' },
})

const runTenantsRoute = apiRoute({
  method: 'get',
  path: '/{id}/tenants',
  summary: "The run's tenants, by tenant id",
  description: 'Every targeted tenant: `pending` until processed, `succeeded` or `failed`, `cancelled` when the run was cancelled before it.',
  tags: ['runs'],
  access: viewRuns,
  params: runIdParamsSchema,
  query: runTenantsQuerySchema,
  answer: { status: 200, description: 'A page of tenants.', schema: runTenantPageSchema },
  problems: { 404: 'No run with this id.' },
})

// Run control (SPEC §9): `platform.runbooks.run` here; the runbook's own capability is checked once the
// run is known, still before the body is read.
const controlRuns = { capabilities: [capabilities.runbooksRun] }
const stateConflict = { description: "The run's state does not allow it; `state` names the state.", schema: stateConflictProblemSchema }
const halted = { description: 'The deployment is halted.', schema: haltedProblemSchema }

const pauseRunRoute = apiRoute({
  method: 'post',
  path: '/{id}/pause',
  summary: 'Pause a run',
  description: 'From the answer on no tenant repair of the run starts; repairs in flight finish and are counted.',
  tags: ['run control'],
  access: controlRuns,
  params: runIdParamsSchema,
  body: requiredReasonBodySchema,
  answer: { status: 202, description: 'The run, paused.', schema: runSchema },
  problems: { 404: 'No run with this id.', 409: stateConflict },
})

const resumeRunRoute = apiRoute({
  method: 'post',
  path: '/{id}/resume',
  summary: 'Resume a paused run',
  description: 'The run continues with the tenants not yet processed.',
  tags: ['run control'],
  access: controlRuns,
  params: runIdParamsSchema,
  body: resumeBodySchema,
  answer: { status: 202, description: 'The run, running again.', schema: runSchema },
  problems: { 404: 'No run with this id.', 409: stateConflict, 423: halted },
})

const cancelRunRoute = apiRoute({
  method: 'post',
  path: '/{id}/cancel',
  summary: 'Cancel a run',
  description:
    'No tenant repair of the run starts after the answer; repairs in flight finish and are counted, then the run completes `cancelled`.',
  tags: ['run control'],
  access: controlRuns,
  params: runIdParamsSchema,
  body: requiredReasonBodySchema,
  answer: { status: 202, description: 'The run, cancelling or cancelled.', schema: runSchema },
  problems: { 404: 'No run with this id.', 409: stateConflict },
})

const changeLimitsRoute = apiRoute({
  method: 'patch',
  path: '/{id}/limits',
  summary: "Change an active run's limits",
  tags: ['run control'],
  access: controlRuns,
  params: runIdParamsSchema,
  body: limitsBodySchema,
  answer: { status: 200, description: 'The run with its limits.', schema: runSchema },
  problems: { 404: 'No run with this id.', 409: stateConflict },
})

const retryRunRoute = apiRoute({
  method: 'post',
  path: '/{id}/retry',
  summary: "Retry a completed run's failed tenants",
  description: "A new run of the same runbook and scope over the run's failed tenants still in the universe, with `retryOf` set.",
  tags: ['run control'],
  access: controlRuns,
  params: runIdParamsSchema,
  body: retryBodySchema,
  answer: {
    status: 202,
    description: 'The retry run, accepted.',
    schema: startedRunSchema,
    headers: { Location: { description: 'The retry run.', schema: { type: 'string' } } },
  },
  problems: {
    404: 'No run with this id.',
    409: { description: 'The run is not completed (`state`), or a retry of it is active (`runId`).', schema: activeRunProblemSchema.or(stateConflictProblemSchema) },
    423: halted,
  },
})

const revertRunRoute = apiRoute({
  method: 'post',
  path: '/{id}/revert',
  summary: "Revert a completed run's changes",
  description:
    'SPEC §11: a new run (`context.revert_of`) that, tenant by tenant in one transaction each, puts back the before-image of every finding the run changed and nobody changed since; a finding changed since is left alone and counted as `skipped`.',
  tags: ['run control'],
  access: controlRuns,
  params: runIdParamsSchema,
  body: revertBodySchema,
  answer: {
    status: 202,
    description: 'The revert run, accepted.',
    schema: startedRunSchema,
    headers: { Location: { description: 'The revert run.', schema: { type: 'string' } } },
  },
  problems: {
    404: 'No run with this id.',
    409: { description: 'The run is not completed or was reverted already (`state`), or a run of its identity is active (`runId`).', schema: activeRunProblemSchema.or(stateConflictProblemSchema) },
    422: 'Wrong confirmation, no reason, a run that changed nothing, or one whose before-images expired (`runId`).',
    423: halted,
  },
})

const approveRoles = { capabilities: [capabilities.runbooksApprove] }
const fourEyes = 'The operator who started the run (whatever token or session), or one lacking the runbook\'s capability.'

const approveRunRoute = apiRoute({
  method: 'post',
  path: '/{id}/approve',
  summary: 'Approve a run awaiting approval',
  description: 'By an operator other than the one who started it; the run becomes `queued` and proceeds.',
  tags: ['approvals'],
  access: approveRoles,
  params: runIdParamsSchema,
  body: approveBodySchema,
  answer: { status: 202, description: 'The run, approved.', schema: runSchema },
  problems: { 403: fourEyes, 404: 'No run with this id.', 409: stateConflict, 423: halted },
})

const rejectRunRoute = apiRoute({
  method: 'post',
  path: '/{id}/reject',
  summary: 'Reject a run awaiting approval',
  description: 'By an operator other than the one who started it; the run completes `rejected`, nothing repaired.',
  tags: ['approvals'],
  access: approveRoles,
  params: runIdParamsSchema,
  body: requiredReasonBodySchema,
  answer: { status: 202, description: 'The run, rejected.', schema: runSchema },
  problems: { 403: fourEyes, 404: 'No run with this id.', 409: stateConflict },
})

/** What `c.json` answers with: a run's JSON text made once is answered as it would. */
const JSON_CONTENT = Object.freeze({ 'Content-Type': 'application/json' })

// Validated with the id schema the document shows; an id that is not a ULID names no run (404).
function requireRunId(id: string): string {
  if (!runIdSchema.safeParse(id).success) throw new NotFoundError('run', id.slice(0, 64))
  return id
}

export function runRoutes(deps: RevertRunDeps) {
  const app = new OpenAPIHono<AppEnv>()
  // Any path under /runs that a viewer reads, unknown ones included, needs ops.view first (403 before
  // 404); run control needs other capabilities (SPEC §9), checked by its routes. Each route names its
  // capabilities as well, so that the document shows them.
  const viewersOnly = requireCapability(...viewRuns.capabilities)
  // GET /api/runs/{id}: concurrent reads of a run share one statement, each answered by one sent after it came.
  const runs = new RunReader(deps.sql)
  app.use((c, next) => (c.req.method === 'GET' ? viewersOnly(c, next) : next()))
  serveRoute(app, listRunsRoute, async (c, input) => c.json(await listRuns(deps.sql, input.query())))
  serveRoute(app, getRunRoute, async (c) => {
    const id = requireRunId(c.req.param('id')!)
    const json = await runs.readJson(id)
    if (json !== null) return c.body(json, 200, JSON_CONTENT)
    const run = (await runNotYetProjected(deps, id, READ_YOUR_WRITES_TIMEOUT_MS))?.run
    if (!run) throw new NotFoundError('run', id)
    return c.json(run)
  })
  serveRoute(app, runEventsRoute, async (c) => {
    const id = requireRunId(c.req.param('id')!)
    const { events } = await deps.log.read(streams.run(id))
    if (events.length === 0) throw new NotFoundError('run', id)
    return c.json({ items: events.map(eventItemOf) })
  })
  serveRoute(app, runStateRoute, async (c, input) => {
    const id = requireRunId(c.req.param('id')!)
    const { revision } = input.query()
    const { events } = await deps.log.read(streams.run(id), revision === undefined ? {} : { maxCount: revision })
    if (events.length === 0) throw new NotFoundError('run', id)
    if (revision !== undefined && events.length < revision) {
      throw new HttpProblem(404, `run ${id} has ${events.length} event${events.length === 1 ? '' : 's'}: there is no state after event ${revision}`, {
        revisions: events.length,
      })
    }
    return c.json(runResourceAt(events))
  })
  serveRoute(app, runTenantsRoute, async (c, input) => {
    const id = requireRunId(c.req.param('id')!)
    const query = input.query()
    const page = await listRunTenants(deps.sql, id, query)
    if (page.items.length > 0 || (await getRun(deps.sql, id))) return c.json(page)
    // In the event store but not projected yet: waited for as `GET /api/runs/{id}` waits; past the wait (the
    // projector stopped or far behind) not unknown, but its tenants' rows are not readable yet either.
    const awaited = await runNotYetProjected(deps, id, READ_YOUR_WRITES_TIMEOUT_MS)
    if (!awaited?.run) throw new NotFoundError('run', id)
    if (awaited.projected) return c.json(await listRunTenants(deps.sql, id, query))
    throw new HttpProblem(503, `run ${id} is not in the read model yet (it is catching up); retry shortly`, { retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS }, {
      'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS),
    })
  })

  /**
   * A control: the run's access first (404, then 403 for the runbook's capability), then the body, then the
   * command; the answer is the run once the read side shows what the command left (read-your-writes).
   */
  function serveControl<Body extends z.ZodObject>(
    route: ApiRoute<Body, undefined>,
    status: 200 | 202,
    command: (actor: Actor, id: string, body: z.output<Body>) => Promise<RunState>,
    requireAccess: (deps: RunAccessDeps, actor: Actor, id: string) => Promise<unknown> = requireRunControl,
  ): void {
    serveRoute(app, route, async (c, input) => {
      const id = requireRunId(c.req.param('id')!)
      await requireAccess(deps, c.get('actor'), id)
      const state = await command(c.get('actor'), id, await input.body())
      // The command is recorded: answer with the run as projected by now, even if the projection lags.
      const run = await waitForRun(deps.sql, id, { timeoutMs: READ_YOUR_WRITES_TIMEOUT_MS, until: (projected) => showsRunState(projected, state) })
      // Not in the read model at all (the projector stopped): the run from its stream, as GET answers it.
      return c.json(run ?? runResourceAt((await deps.log.read(streams.run(id))).events) ?? { id, status: state.status }, status)
    })
  }
  serveControl(pauseRunRoute, 202, (actor, id, body) => pauseRun(deps, actor, id, { reason: body.reason ?? null }))
  serveControl(resumeRunRoute, 202, (actor, id, body) => resumeRun(deps, actor, id, { reason: body.reason ?? null }))
  serveControl(cancelRunRoute, 202, (actor, id, body) => cancelRun(deps, actor, id, { reason: body.reason ?? null }))
  serveControl(changeLimitsRoute, 200, (actor, id, body) => changeRunLimits(deps, actor, id, body))
  serveControl(approveRunRoute, 202, (actor, id, body) => approveRun(deps, actor, id, body), requireApprovalAccess)
  serveControl(rejectRunRoute, 202, (actor, id, body) => rejectRun(deps, actor, id, { reason: body.reason ?? null }), requireApprovalAccess)
  /** A new run from this one (a retry, a revert): access first, then the body; 202 with the new run's place. */
  function serveRunFromRun<Body extends z.ZodObject>(
    route: ApiRoute<Body, undefined>,
    command: (actor: Actor, id: string, body: z.output<Body>) => Promise<StartedRun>,
  ): void {
    serveRoute(app, route, async (c, input) => {
      const id = requireRunId(c.req.param('id')!)
      await requireRunControl(deps, c.get('actor'), id)
      const started = await command(c.get('actor'), id, await input.body())
      c.header('Location', `/api/runs/${started.runId}`)
      return c.json(started, 202)
    })
  }
  serveRunFromRun(retryRunRoute, (actor, id, body) =>
    retryRun(deps, actor, id, { confirmation: body.confirmation, reason: body.reason ?? null, source: apiRunSource(body.source), limits: body.limits ?? null }),
  )
  serveRunFromRun(revertRunRoute, (actor, id, body) =>
    revertRun(deps, actor, id, { confirmation: body.confirmation, reason: body.reason ?? null, source: apiRunSource(body.source) }),
  )
  return app
}
