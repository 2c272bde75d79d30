import { OpenAPIHono } from '@hono/zod-openapi'
import { requireCapabilities, type Actor } from '../../commands/actor.js'
import { capabilities } from '../../auth/capabilities.js'
import { preflightRunbook } from '../../commands/preflight.js'
import { NotFoundError, ValidationError } from '../../commands/errors.js'
import { findPreflightPlan, listPlanTenants } from '../../db/preflight-plans.js'
import { requireRunbook } from '../../commands/runbook-parameters.js'
import { startRun, type RunCommandDeps } from '../../commands/start-run.js'
import type { RunSource } from '../../events/index.js'
import type { RunbookCatalog } from '../../runbooks/catalog.js'
import { pageUniverse } from '../../runbooks/tenant-universe.js'
import type { AppEnv } from '../authentication.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import { preflightBodySchema, preflightPlanQuerySchema, startRunBodySchema, tenantQuerySchema } from '../request-schemas.js'
import { haltedProblemSchema, startConflictProblemSchema } from '../schemas/problem-schemas.js'
import {
  catalogSchema,
  planTenantPageSchema,
  preflightIdParamsSchema,
  catalogView,
  preflightSchema,
  runbookKeyParamsSchema,
  startedRunSchema,
  tenantListSchema,
} from '../schemas/runbook-schemas.js'

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/

const RUNBOOK_CAPABILITY_NOTE = "The runbook's own capability (see `requiredCapability` in the catalog) is needed as well."

const catalogRoute = apiRoute({
  method: 'get',
  path: '/runbooks',
  summary: 'The runbook catalog',
  tags: ['runbooks'],
  access: { capabilities: [capabilities.runbooksView] },
  answer: { status: 200, description: 'Every runbook, in catalog order.', schema: catalogSchema },
})

const tenantsRoute = apiRoute({
  method: 'get',
  path: '/tenants',
  summary: 'The tenants a run may target, filtered by name',
  tags: ['runbooks'],
  access: { capabilities: [capabilities.runbooksView] },
  query: tenantQuerySchema,
  answer: { status: 200, description: 'The allowed universe, by name.', schema: tenantListSchema },
})

const preflightRoute = apiRoute({
  method: 'post',
  path: '/runbooks/{key}/preflight',
  summary: 'Count what a run would change, changing nothing',
  description: `Recorded as an event, so the audit log shows who looked at what. ${RUNBOOK_CAPABILITY_NOTE}`,
  tags: ['runbooks'],
  access: { capabilities: [capabilities.runbooksView] },
  params: runbookKeyParamsSchema,
  body: preflightBodySchema,
  answer: { status: 200, description: 'What a run would touch.', schema: preflightSchema },
  problems: { 404: 'No runbook with this key.' },
})

const preflightPlanRoute = apiRoute({
  method: 'get',
  path: '/preflights/{preflightId}/tenants',
  summary: "A preview's per-tenant plan",
  description: `Kept 24 hours after the preview: what each tenant would change and whether its repair would fail. ${RUNBOOK_CAPABILITY_NOTE}`,
  tags: ['runbooks'],
  access: { capabilities: [capabilities.runbooksView] },
  params: preflightIdParamsSchema,
  query: preflightPlanQuerySchema,
  answer: { status: 200, description: 'A page of the plan.', schema: planTenantPageSchema },
  problems: { 404: 'No preview with this id, or it expired.' },
})

const startRunRoute = apiRoute({
  method: 'post',
  path: '/runbooks/{key}/runs',
  summary: 'Start a run',
  description:
    `At most one identical run is active at a time. \`source\` says which client started the run (default \`api\`); ` +
    `\`system_ui\` is the console's and is refused here (422 naming \`source\`). ${RUNBOOK_CAPABILITY_NOTE}`,
  tags: ['runbooks'],
  access: { capabilities: [capabilities.runbooksRun] },
  params: runbookKeyParamsSchema,
  body: startRunBodySchema,
  answer: {
    status: 202,
    description: 'The run is requested; follow it at `Location`.',
    schema: startedRunSchema,
    headers: { Location: { description: 'The run: `/api/runs/{runId}`.', schema: { type: 'string' } } },
  },
  problems: {
    404: 'No runbook with this key.',
    409: {
      description: 'An identical run is active (`runId` names it), or the start is pinned to a preview the data drifted from (`code: PLAN_DRIFTED`, with `pinned`, `current` and the `tenants` that changed).',
      schema: startConflictProblemSchema,
    },
    423: { description: 'The deployment is halted: no run starts until the halt is lifted (SPEC §9).', schema: haltedProblemSchema },
  },
})

/**
 * The runbook's own capability (and 404 for an unknown runbook), checked before the body is read like
 * the route's: an operator lacking it gets 403 whatever they send. The commands check it again.
 */
function requireRunbookAccess(catalog: RunbookCatalog, actor: Actor, key: string): void {
  requireCapabilities(actor, [requireRunbook(catalog, key).requiredCapability])
}

export function runbookRoutes(deps: RunCommandDeps) {
  const app = new OpenAPIHono<AppEnv>()
  const catalog = catalogView(deps.catalog)
  serveRoute(app, catalogRoute, (c) => c.json(catalog))
  serveRoute(app, tenantsRoute, async (c, input) => {
    const { q, limit, cursor } = input.query()
    return c.json(await pageUniverse(deps.sql, { ...(q ? { q } : {}), ...(limit ? { limit } : {}), ...(cursor ? { cursor } : {}) }))
  })
  serveRoute(app, preflightRoute, async (c, input) => {
    requireRunbookAccess(deps.catalog, c.get('actor'), c.req.param('key')!)
    const body = await input.body()
    const result = await preflightRunbook(deps, c.get('actor'), {
      runbookKey: c.req.param('key')!,
      scope: body.scope,
      tenantId: body.tenantId ?? null,
      parameters: body.parameters,
    })
    return c.json(result)
  })
  serveRoute(app, preflightPlanRoute, async (c, input) => {
    const preflightId = c.req.param('preflightId')!
    // Preview ids are ULIDs: anything else names no preview (and never reaches the database).
    const plan = ULID.test(preflightId) ? await findPreflightPlan(deps.sql, preflightId) : null
    if (!plan) throw new NotFoundError('preflight', preflightId.slice(0, 64))
    requireRunbookAccess(deps.catalog, c.get('actor'), plan.runbookKey)
    const { cursor, limit } = input.query()
    return c.json(await listPlanTenants(deps.sql, preflightId, { cursor, limit }))
  })
  serveRoute(app, startRunRoute, async (c, input) => {
    requireRunbookAccess(deps.catalog, c.get('actor'), c.req.param('key')!)
    const body = await input.body()
    const started = await startRun(deps, c.get('actor'), {
      parameters: body.parameters,
      preflightId: body.preflightId,
      maxDriftPercent: body.maxDriftPercent,
      canary: body.canary,
      runbookKey: c.req.param('key')!,
      scope: body.scope,
      tenantId: body.tenantId ?? null,
      confirmation: body.confirmation,
      reason: body.reason ?? null,
      source: apiRunSource(body.source),
      limits: body.limits ?? null,
    })
    c.header('Location', `/api/runs/${started.runId}`)
    return c.json(started, 202)
  })
  return app
}

/**
 * `source` is what the server knows, not what a client claims: `system_ui` means "started from the
 * console", which only the console's own start route (a session, a CSRF-checked form) can know — it sets
 * it itself. An API client naming `system_ui` is refused, 422 naming `source`, rather than silently
 * recorded as `api`: the client learns its claim was not taken, and nothing is recorded under a source it
 * did not have. The other values (`cli`, `deploy_hook`, `api`) name API clients and stay theirs to state.
 */
export function apiRunSource(claimed: RunSource | undefined): Exclude<RunSource, 'system_ui'> {
  if (claimed === 'system_ui') {
    throw new ValidationError([{ field: 'source', message: 'system_ui is recorded only for runs started from the console' }])
  }
  return claimed ?? 'api'
}
