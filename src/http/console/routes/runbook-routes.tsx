import { Hono, type Context } from 'hono'
import type { Logger } from 'pino'
import { capabilities, missingCapabilities } from '../../../auth/capabilities.js'
import { ActiveRunExistsError, ForbiddenError, HaltedError, NotFoundError, PlanDriftedError, ValidationError, type FieldProblem } from '../../../commands/errors.js'
import { requireCapabilities } from '../../../commands/actor.js'
import { DEFAULT_MAX_DRIFT_PERCENT } from '../../../commands/plan/plan-drift.js'
import { preflightRunbook } from '../../../commands/preflight.js'
import { requireRunbook } from '../../../commands/runbook-parameters.js'
import { startRun } from '../../../commands/start-run.js'
import type { Sql } from '../../../db/database.js'
import { findPreflightPlan, listPlanTenants } from '../../../db/preflight-plans.js'
import type { RunbookCatalog } from '../../../runbooks/catalog.js'
import { listUniverse } from '../../../runbooks/tenant-universe.js'
import type { EventLog } from '../../../store/event-log.js'
import { runStatusSchema } from '../../../events/index.js'
import { runIdSchema } from '../../schemas/run-schemas.js'
import { problemResponse } from '../../problem.js'
import { readJsonBody, readQuery } from '../../request-body.js'
import { preflightBodySchema, preflightPlanQuerySchema, tenantQuerySchema } from '../../request-schemas.js'
import { consolePaths, type ConsoleEnv } from '../console-env.js'
import { parameterFormOf } from '../parameter-form.js'
import { RunbooksPage, type CatalogEntry, type StartAttempt } from '../pages/runbooks-page.js'
import { htmlPage, nonceOf, viewerOf } from '../render.js'
import { csrfRefusal, refuse, requireConsoleCapability, requireConsoleSession } from '../session-guard.js'
import { emptyStartForm, readStartForm, toStartRunInput } from '../start-form.js'
import { tenantNamesOf } from '../tenant-reference.js'
import { readFormBody } from '../csrf.js'

export interface RunbookRouteDeps {
  sql: Sql
  log: EventLog
  catalog: RunbookCatalog
  logger: Logger
  /** A run's `maxConcurrency` when its start names none: the deployment's worker capacity. */
  defaultMaxConcurrency?: number
}

/** Tenants the picker lists before the operator types anything. */
const INITIAL_PICKER_TENANTS = 100
const PICKER_SEARCH_LIMIT = 50
/** Tenants whose names a drift report can show (as the run page's); any other is shown by its id. */
const NAMED_TENANTS = 1000
/** Preview ids are ULIDs: anything else names no preview (and never reaches the database), as in the API. */
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/

const mayViewCatalog = (operatorCapabilities: readonly string[]) => operatorCapabilities.includes(capabilities.runbooksView)

function catalogFor(catalog: RunbookCatalog, operatorCapabilities: readonly string[]): CatalogEntry[] {
  const has = (capability: string) => operatorCapabilities.includes(capability)
  return catalog.runbooks.map((runbook) => ({
    key: runbook.key,
    label: runbook.label,
    description: runbook.description,
    estimatedDuration: runbook.estimatedDuration,
    unit: runbook.unit,
    parameters: parameterFormOf(runbook),
    canPreflight: has(capabilities.runbooksView) && has(runbook.requiredCapability),
    canStart: has(capabilities.runbooksRun) && has(runbook.requiredCapability),
  }))
}

/**
 * The catalog page, the picker's tenant search, the preflight (JSON, for the page's script) and the start
 * form. They call the same commands as the API; the commands check the capabilities again.
 */
export function consoleRunbookRoutes(deps: RunbookRouteDeps) {
  const logError = (c: Context) => (error: unknown) =>
    deps.logger.error({ err: error, path: c.req.path, method: c.req.method }, 'unhandled console error')

  /**
   * The catalog, or a refused start's form again. An operator who may start a runbook but not view the
   * catalog (no `platform.runbooks.view`) gets back only the form they sent: neither the other runbooks nor
   * the tenant universe, which the catalog page and the picker's search refuse them.
   */
  const catalogPage = async (
    c: Context<ConsoleEnv>,
    attempt: StartAttempt | null,
    status: 200 | 409 | 422 | 423 = 200,
    started: { runId: string; status: string } | null = null,
  ) => {
    const actor = c.get('actor')
    const mayView = mayViewCatalog(actor.capabilities)
    const runbooks = catalogFor(deps.catalog, actor.capabilities).filter((runbook) => mayView || runbook.key === attempt?.runbookKey)
    return htmlPage(
      c,
      <RunbooksPage
        nonce={nonceOf(c)}
        viewer={viewerOf(c)!}
        isBreakGlass={actor.isBreakGlass}
        runbooks={runbooks}
        tenants={mayView ? await listUniverse(deps.sql, undefined, INITIAL_PICKER_TENANTS) : []}
        attempt={attempt}
        started={started}
      />,
      status,
    )
  }

  return new Hono<ConsoleEnv>()
    .get('/runbooks', requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.runbooksView), (c) => {
      // Where a start by an operator who may not view runs lands (see the start): its run id and status.
      const runId = c.req.query('started') ?? ''
      const status = c.req.query('status') ?? ''
      const started = runIdSchema.safeParse(runId).success && runStatusSchema.safeParse(status).success ? { runId, status } : null
      return catalogPage(c, null, 200, started)
    })
    .get('/tenants', requireConsoleSession(deps, 'data'), requireConsoleCapability('data', capabilities.runbooksView), async (c) => {
      try {
        const { q } = readQuery(c, tenantQuerySchema)
        c.header('Cache-Control', 'no-store')
        return c.json({ items: await listUniverse(deps.sql, q, PICKER_SEARCH_LIMIT) })
      } catch (error) {
        return problemResponse(c, error, logError(c))
      }
    })
    .post(
      '/runbooks/:key/preflight',
      requireConsoleSession(deps, 'data'),
      requireConsoleCapability('data', capabilities.runbooksView),
      async (c) => {
        try {
          // The runbook's own capability (404 for an unknown runbook) before the body is read, as the API's route.
          requireCapabilities(c.get('actor'), [requireRunbook(deps.catalog, c.req.param('key')).requiredCapability])
          const forged = await csrfRefusal(c, 'data')
          if (forged) return forged
          const body = await readJsonBody(c, preflightBodySchema)
          const result = await preflightRunbook(deps, c.get('actor'), {
            runbookKey: c.req.param('key'),
            scope: body.scope,
            tenantId: body.tenantId ?? null,
            parameters: body.parameters,
          })
          return c.json(result)
        } catch (error) {
          return problemResponse(c, error, logError(c))
        }
      },
    )
    // SPEC §11 per-tenant plan, as GET /api/preflights/{preflightId}/tenants: runbooks.view, then 404 for an
    // unknown or expired preview, then the capability of the preview's runbook, then the page.
    .get(
      '/preflights/:preflightId/tenants',
      requireConsoleSession(deps, 'data'),
      requireConsoleCapability('data', capabilities.runbooksView),
      async (c) => {
        c.header('Cache-Control', 'no-store')
        try {
          const preflightId = c.req.param('preflightId')
          const plan = ULID.test(preflightId) ? await findPreflightPlan(deps.sql, preflightId) : null
          if (!plan) throw new NotFoundError('preflight', preflightId.slice(0, 64))
          requireCapabilities(c.get('actor'), [requireRunbook(deps.catalog, plan.runbookKey).requiredCapability])
          const { cursor, limit } = readQuery(c, preflightPlanQuerySchema)
          return c.json(await listPlanTenants(deps.sql, preflightId, { cursor, limit }))
        } catch (error) {
          return problemResponse(c, error, logError(c))
        }
      },
    )
    .post(
      '/runbooks/:key/runs',
      requireConsoleSession(deps, 'page'),
      requireConsoleCapability('page', capabilities.runbooksRun),
      async (c) => {
        const key = c.req.param('key')
        const runbook = deps.catalog.find(key)
        if (!runbook) return refuse(c, 'page', 404, 'Unknown runbook', `There is no runbook ${key}.`)
        // The runbook's own capability before the form is read, as the API's route; the command checks it again.
        const missing = missingCapabilities(c.get('actor').capabilities, [runbook.requiredCapability])
        if (missing.length > 0) return refuse(c, 'page', 403, 'Not allowed', `You lack the capability needed here: ${missing.join(', ')}.`)
        const forged = await csrfRefusal(c, 'page')
        if (forged) return forged
        const values = readStartForm(await readFormBody(c))
        const parsed = toStartRunInput(key, values, parameterFormOf(runbook))
        const refused = (problems: FieldProblem[]) => catalogPage(c, { runbookKey: key, values, problems }, 422)
        if ('problems' in parsed) return refused(parsed.problems)
        try {
          // A start from the console is always `system_ui`, whatever the form sent (the API refuses that source).
          const started = await startRun(deps, c.get('actor'), { ...parsed.input, source: 'system_ui' })
          c.header('Cache-Control', 'no-store')
          // The run page needs platform.ops.view (SPEC §6): whoever may start but not view is told on the
          // catalog (redirected, so that a reload does not post the start again), or here without the catalog.
          if (missingCapabilities(c.get('actor').capabilities, [capabilities.opsView]).length > 0) {
            if (mayViewCatalog(c.get('actor').capabilities)) {
              return c.redirect(`${consolePaths.runbooks}?started=${started.runId}&status=${started.status}`, 303)
            }
            return catalogPage(c, { runbookKey: key, values: emptyStartForm, problems: [] }, 200, started)
          }
          return c.redirect(consolePaths.run(started.runId), 303)
        } catch (error) {
          if (error instanceof ValidationError) return refused(error.fields)
          if (error instanceof PlanDriftedError) {
            // SPEC §11: nothing was appended; the report says what moved, the form keeps what was typed.
            const drift = {
              preflightId: parsed.input.preflightId ?? '',
              maxDriftPercent: parsed.input.maxDriftPercent ?? DEFAULT_MAX_DRIFT_PERCENT,
              comparison: error.comparison,
              // Names only for who may see the universe; anyone else reads the tenants' ids.
              tenantNames: tenantNamesOf(mayViewCatalog(c.get('actor').capabilities) ? await listUniverse(deps.sql, undefined, NAMED_TENANTS) : []),
            }
            return catalogPage(c, { runbookKey: key, values, problems: [], drift }, 409)
          }
          if (error instanceof ActiveRunExistsError) {
            return catalogPage(c, { runbookKey: key, values, problems: [], activeRunId: error.runId }, 409)
          }
          if (error instanceof HaltedError) {
            const message = `The deployment is halted: you cannot ${error.attempted} until the halt is lifted. Nothing was started.`
            return catalogPage(c, { runbookKey: key, values, problems: [], message }, 423)
          }
          if (error instanceof ForbiddenError) {
            return refuse(c, 'page', 403, 'Not allowed', `You lack the capability needed here: ${error.missingCapabilities.join(', ')}.`)
          }
          if (error instanceof NotFoundError) return refuse(c, 'page', 404, 'Not found', error.message)
          throw error
        }
      },
    )
}
