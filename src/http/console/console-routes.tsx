import { Hono } from 'hono'
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { isDependencyUnavailable, unavailableCodeOf, UNAVAILABLE_RETRY_AFTER_SECONDS } from '../dependency-unavailable.js'
import type { ScryptParams } from '../../auth/password-hash.js'
import { NONCE, secureHeaders } from 'hono/secure-headers'
import type { Logger } from 'pino'
import { defaultConsoleSessionLifetime, type ConsoleSessionLifetime } from '../../auth/console-sessions.js'
import { LoginRefusalMemory } from '../../auth/login-refusal-memory.js'
import { haltView } from '../../commands/halt.js'
import type { WebhookHostPolicy } from '../../commands/alert-destinations-hosts.js'
import type { Sql } from '../../db/database.js'
import type { RunbookCatalog } from '../../runbooks/catalog.js'
import type { EventLog } from '../../store/event-log.js'
import { HttpProblem, problemResponse, problemTitle } from '../problem.js'
import { setAllow } from '../allowed-methods.js'
import { consolePaths, type ConsoleEnv } from './console-env.js'
import { ErrorPage } from './pages/error-page.js'
import { htmlPage, nonceOf, viewerOf } from './render.js'
import { consoleAccountRoutes } from './routes/account-routes.js'
import { consoleAuditRoutes } from './routes/audit-routes.js'
import { consoleAlertRoutes } from './routes/alert-routes.js'
import { consoleHaltRoutes } from './routes/halt-routes.js'
import { loginRoutes } from './routes/login-routes.js'
import { consoleOperatorRoutes } from './routes/operator-routes.js'
import { consoleRunRoutes } from './routes/run-routes.js'
import { consoleRunbookRoutes } from './routes/runbook-routes.js'
import { refuse, requireConsoleSession, type Audience } from './session-guard.js'

export interface ConsoleDeps {
  sql: Sql
  log: EventLog
  catalog: RunbookCatalog
  logger: Logger
  /** NODE_ENV: `production` makes the cookies Secure even behind plain http (see cookies.ts). */
  nodeEnv: string | undefined
  sessionLifetime?: ConsoleSessionLifetime
  streamPollMs?: number
  /** A retried run's `maxConcurrency` when the original names none: the deployment's worker capacity. */
  defaultMaxConcurrency?: number
  /** OPS_BEFORE_IMAGE_DAYS: how long a run can be reverted (SPEC §11). */
  beforeImageDays?: number
  /** Tests: scrypt cost of passwords set or upgraded through the console. */
  hashParams?: ScryptParams
  /** OPS_WEBHOOK_ALLOWED_HOSTS (SPEC §12); null or absent: any host. */
  webhookHostPolicy?: WebhookHostPolicy | null
  /** The login refusals in force, shared with POST /api/auth/tokens (`createApp` gives one to both); else its own. */
  loginRefusals?: LoginRefusalMemory
  /** The methods the whole app serves on a path (`createApp`'s `AllowedMethods`): a page asked with another gets 405. */
  allowedMethods?: (path: string) => string[]
}

/**
 * The operator console, mounted at /system: server-rendered pages over the same commands and queries as
 * the API. Inline script and style run only under this response's CSP nonce.
 */
export function consoleRoutes(deps: ConsoleDeps) {
  const sessionLifetime = deps.sessionLifetime ?? defaultConsoleSessionLifetime
  const guardDeps = { sql: deps.sql, lifetime: sessionLifetime }
  const app = new Hono<ConsoleEnv>()
  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: [NONCE],
        styleSrc: [NONCE],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
      xFrameOptions: 'DENY',
      // not no-referrer: under it, browsers send `Origin: null` on our own form posts (see csrf.ts)
      referrerPolicy: 'same-origin',
    }),
  )
  // SPEC §9: every page shows the halt banner while halted. Read once per request that may render a page
  // (whatever its Accept header says, `*/*` included); not for the script endpoints, which ask for JSON or
  // the live stream and render no page.
  app.use(async (c, next) => {
    if (!/application\/json|text\/event-stream/.test(c.req.header('accept') ?? '')) c.set('halt', await haltView(deps.log))
    await next()
  })
  app.onError((error, c) => {
    const logError = (e: unknown) => deps.logger.error({ err: e, path: c.req.path, method: c.req.method }, 'unhandled console error')
    const wantsPage = (c.req.header('accept') ?? '').includes('text/html')
    const unavailable = unavailableCodeOf(error)
    if (unavailable) {
      deps.logger.warn({ code: unavailable, path: c.req.path, method: c.req.method }, 'a dependency is unavailable; answered 503')
    }
    if (!wantsPage) return problemResponse(c, error, logError)
    // A request error met before a route could answer in its own way (a form too large, or cut short): a page.
    if (error instanceof HttpProblem) {
      for (const [name, value] of Object.entries(error.headers)) c.header(name, value)
      const message = `${error.detail.charAt(0).toUpperCase()}${error.detail.slice(1)}.`
      return htmlPage(c, <ErrorPage nonce={nonceOf(c)} viewer={viewerOf(c)} title={problemTitle(error.status)} message={message} />, error.status as ContentfulStatusCode)
    }
    if (isDependencyUnavailable(error)) {
      c.header('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS))
      return htmlPage(
        c,
        <ErrorPage nonce={nonceOf(c)} viewer={viewerOf(c)} title="Temporarily unavailable" message="The service cannot reach its database or queue right now, so your request may not have been carried out. Check before you repeat it, in a few seconds." />,
        503,
      )
    }
    logError(error)
    return htmlPage(
      c,
      <ErrorPage nonce={nonceOf(c)} viewer={viewerOf(c)} title="Something went wrong" message="The request could not be completed. Nothing was changed that could not be finished; try again." />,
      500,
    )
  })

  const hashing = deps.hashParams ? { hashParams: deps.hashParams } : {}
  app.get('/', (c) => c.redirect(consolePaths.runbooks, 303))
  const loginRefusals = deps.loginRefusals ?? new LoginRefusalMemory()
  app.route('/', loginRoutes({ sql: deps.sql, log: deps.log, nodeEnv: deps.nodeEnv, sessionLifetime, loginRefusals, ...hashing }))
  const runDefaults = deps.defaultMaxConcurrency ? { defaultMaxConcurrency: deps.defaultMaxConcurrency } : {}
  app.route('/ops', consoleRunbookRoutes({ ...guardDeps, log: deps.log, catalog: deps.catalog, logger: deps.logger, ...runDefaults }))
  app.route(
    '/ops',
    consoleRunRoutes({
      ...guardDeps,
      log: deps.log,
      catalog: deps.catalog,
      logger: deps.logger,
      ...(deps.streamPollMs ? { streamPollMs: deps.streamPollMs } : {}),
      ...(deps.beforeImageDays ? { beforeImageDays: deps.beforeImageDays } : {}),
      ...runDefaults,
    }),
  )
  app.route('/ops', consoleHaltRoutes({ ...guardDeps, log: deps.log }))
  app.route('/ops', consoleAuditRoutes(guardDeps))
  app.route('/ops', consoleAlertRoutes({ ...guardDeps, log: deps.log, hostPolicy: deps.webhookHostPolicy ?? null }))
  app.route('/ops', consoleOperatorRoutes({ ...guardDeps, log: deps.log, knownCapabilities: deps.catalog.knownCapabilities, ...hashing }))
  app.route('/ops', consoleAccountRoutes({ ...guardDeps, log: deps.log, knownCapabilities: deps.catalog.knownCapabilities, nodeEnv: deps.nodeEnv, ...hashing }))
  // No such path (or not with this method): a page for a browser; a problem document for a client asking for JSON
  // (as the script endpoints answer).
  const audienceOf = (c: Context<ConsoleEnv>): Audience => {
    const accept = c.req.header('accept') ?? ''
    return /application\/(problem\+)?json/.test(accept) && !accept.includes('text/html') ? 'data' : 'page'
  }
  app.all(
    '*',
    (c, next) => requireConsoleSession(guardDeps, audienceOf(c))(c, next),
    (c) => {
      const allowed = deps.allowedMethods?.(c.req.path) ?? []
      if (allowed.length === 0) return refuse(c, audienceOf(c), 404, 'Page not found', `There is no console page at ${c.req.path.slice(0, 200)}.`)
      setAllow(c, allowed)
      const path = c.req.path.slice(0, 200)
      const audience = audienceOf(c)
      // A visit (a link followed, an address typed) to where a form is sent: say so in the operator's words.
      const message = audience === 'page' && c.req.method === 'GET' && !allowed.includes('GET')
        ? `There is no page to show at ${path}: it takes a form's submission (${allowed.join(', ')}), not a visit. Use the button on the page that offers it.`
        : `${path} is not served with ${c.req.method}; it is served with ${allowed.join(', ')}.`
      return refuse(c, audience, 405, 'Method not allowed', message)
    },
  )
  return app
}
