import { unavailableCodeOf } from './dependency-unavailable.js'
import { Hono, type MiddlewareHandler } from 'hono'
import type { Result, Router } from 'hono/router'
import { RegExpRouter } from 'hono/router/reg-exp-router'
import { SmartRouter } from 'hono/router/smart-router'
import { TrieRouter } from 'hono/router/trie-router'
import type { ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { credentialCacheFor, type CredentialCache } from '../auth/credential-cache.js'
import { LoginRefusalMemory } from '../auth/login-refusal-memory.js'
import type { ScryptParams } from '../auth/password-hash.js'
import type { Config } from '../config.js'
import type { Sql } from '../db/database.js'
import type { RunbookCatalog } from '../runbooks/catalog.js'
import type { EventLog } from '../store/event-log.js'
import { API_BASE_PATH, apiRoutes } from './api-routes.js'
import type { AppEnv } from './authentication.js'
import { consoleRoutes } from './console/console-routes.js'
import { methodNotAllowed, problemJson, problemResponse } from './problem.js'
import { AllowedMethods } from './allowed-methods.js'
import { trustedProxyAddresses } from './client-address.js'
import { requestLog } from './request-log.js'
import { serveMetrics } from './metrics-route.js'
import { requestMetrics } from '../metrics/request-metrics.js'
import type { ServiceMetrics } from '../metrics/service-metrics.js'
import { clientErrorOnTruncatedBody } from './request-body.js'
import { credentialsUnchanged } from './credentials-unchanged.js'

export interface AppDeps {
  sql: Sql
  log: EventLog
  catalog: RunbookCatalog
  logger: Logger
  config: Pick<Config, 'TOKEN_TTL_SECONDS' | 'NODE_ENV' | 'TRUST_PROXY_HOPS' | 'WORKER_CONCURRENCY' | 'WORKER_CAPACITY'> &
    Partial<Pick<Config, 'OPS_BEFORE_IMAGE_DAYS' | 'METRICS_TOKEN' | 'publicUrl' | 'webhookHostPolicy'>>
  healthy: () => Promise<boolean>
  /** False for worker/projector processes: they answer /health only. */
  serveApi: boolean
  /** Tests: scrypt cost of passwords set through the API. */
  hashParams?: ScryptParams
  /** The token → operator cache; by default one for `sql` (listening on PostgreSQL, in-process on PGlite). */
  credentials?: CredentialCache
  /** SPEC §12 metrics: GET /metrics and the HTTP request counters (every role); none without. */
  metrics?: ServiceMetrics
}

/**
 * The security headers of every answer: those of hono's `secureHeaders({ referrerPolicy: 'same-origin',
 * xFrameOptions: 'DENY' })`. same-origin rather than the default no-referrer: with no-referrer, browsers send
 * `Origin: null` on the console's own form posts, which then look like cross-site requests.
 */
export const SECURITY_HEADERS: ReadonlyArray<readonly [name: string, value: string]> = Object.freeze([
  // Lower case, as fetch `Headers` wrote them before: Node keeps a name as given (no lower-cased copy per answer).
  ['cross-origin-resource-policy', 'same-origin'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['origin-agent-cluster', '?1'],
  ['referrer-policy', 'same-origin'],
  ['strict-transport-security', 'max-age=15552000; includeSubDomains'],
  ['x-content-type-options', 'nosniff'],
  ['x-dns-prefetch-control', 'off'],
  ['x-download-options', 'noopen'],
  ['x-frame-options', 'DENY'],
  ['x-permitted-cross-domain-policies', 'none'],
  ['x-xss-protection', '0'],
] as const)

/**
 * Sets `SECURITY_HEADERS` on every answer, each one unless the answer sets it itself (the console's pages
 * set the same values, and their own CSP). Served by @hono/node-server, they go on the Node response before
 * the request is handled, which writes them with the answer's own headers: an answer made with plain
 * headers (the API's JSON) is then written without ever building a fetch `Headers` (issue 11: setting them
 * on the answer's `Headers` cost about a tenth of a `GET /api/runs/{id}`). Elsewhere (`app.request` in
 * tests) they are set on the answer's headers after it is made. (hono's middleware also deleted an
 * `X-Powered-By` header: neither Hono, Node nor this service sets one.)
 */
export const securityHeaders: MiddlewareHandler = (c, next) => {
  const outgoing = (c.env as { outgoing?: Pick<ServerResponse, 'setHeader' | 'headersSent'> } | undefined)?.outgoing
  if (outgoing && typeof outgoing.setHeader === 'function' && !outgoing.headersSent) {
    for (const [name, value] of SECURITY_HEADERS) outgoing.setHeader(name, value)
    return next()
  }
  return next().then(() => {
    const headers = c.res.headers
    for (const [name, value] of SECURITY_HEADERS) if (!headers.has(name)) headers.set(name, value)
  })
}

/**
 * Hono's default router (`SmartRouter` of `RegExpRouter` then `TrieRouter`) with the last `maxPaths` matches
 * kept by method and path. This app's routes make `RegExpRouter` give up (a console path), and `TrieRouter`
 * builds and sorts its answer on every request (issue 11: an eighth of what a `GET /api/runs/{id}`
 * allocated); a path asked again — a run polled, a page reloaded — is matched once. Hono only reads a match.
 * Adding a route forgets every match.
 */
export class KeptMatchesRouter<T> implements Router<T> {
  readonly name: string
  private readonly matches = new Map<string, Result<T>>()

  constructor(
    private readonly inner: Router<T> = new SmartRouter<T>({ routers: [new RegExpRouter<T>(), new TrieRouter<T>()] }),
    private readonly maxPaths = 512,
    private readonly maxPathLength = 256,
  ) {
    this.name = `${inner.name} (matches kept)`
  }

  add(method: string, path: string, handler: T): void {
    this.matches.clear()
    this.inner.add(method, path, handler)
  }

  match(method: string, path: string): Result<T> {
    if (path.length > this.maxPathLength) return this.inner.match(method, path)
    const key = `${method} ${path}`
    let result = this.matches.get(key)
    if (result === undefined) {
      result = this.inner.match(method, path)
      if (this.matches.size >= this.maxPaths) this.matches.delete(this.matches.keys().next().value!)
      this.matches.set(key, result)
    }
    return result
  }

  /** Paths whose match is kept (tests). */
  get size(): number {
    return this.matches.size
  }
}

/** The methods whose requests may carry a body (not GET, HEAD). */
const WRITE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
/** The methods whose requests may change credentials (not GET, HEAD, OPTIONS). */
const CREDENTIAL_CHANGING_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE']

export function createApp(deps: AppDeps) {
  const app = new Hono<AppEnv>({ router: new KeptMatchesRouter() })
  // Middleware that has nothing to do for a read is registered for the other methods only: a read (most of
  // the API's traffic, issue 11) does not pass through it. No route of another method than these exists.
  // First: it replaces the request (so that a truncated body is a 400), and later middleware keys on it.
  app.on(WRITE_METHODS, '*', clientErrorOnTruncatedBody)
  // With no trusted proxy the socket's address is the client's: nothing to resolve.
  if (deps.config.TRUST_PROXY_HOPS > 0) app.use(trustedProxyAddresses(deps.config.TRUST_PROXY_HOPS))
  if (deps.metrics) app.use(requestMetrics(deps.metrics))
  app.use(requestLog(deps.logger))
  app.use(securityHeaders)
  app.onError((error, c) => {
    const unavailable = unavailableCodeOf(error)
    if (unavailable) {
      deps.logger.warn({ code: unavailable, path: c.req.path, method: c.req.method }, 'a dependency is unavailable; answered 503')
    }
    return problemResponse(c, error, (e) => deps.logger.error({ err: e, path: c.req.path, method: c.req.method }, 'unhandled error'))
  })
  const allowedMethods = new AllowedMethods(() => app.routes)
  app.notFound((c) => {
    const allowed = allowedMethods.of(c.req.path)
    return allowed.length > 0 ? methodNotAllowed(c, allowed) : problemJson(c, 404, `no route for ${c.req.method} ${c.req.path}`)
  })

  app.get('/health', async (c) => {
    const ok = await deps.healthy()
    return c.json({ status: ok ? 'ok' : 'unavailable' }, ok ? 200 : 503)
  })
  if (deps.metrics) serveMetrics(app, { metrics: deps.metrics, metricsToken: deps.config.METRICS_TOKEN })
  if (!deps.serveApi) return app

  const credentials =
    deps.credentials ?? credentialCacheFor(deps.sql, { onError: (error) => deps.logger.warn({ code: unavailableCodeOf(error) }, 'credential change listener unavailable; tokens are checked in the database meanwhile') })
  // A request that may have changed credentials (any but a read) empties this process's cache before it is
  // answered: whatever it committed is seen by this process's next request (in-process mode has no other
  // process). Listening, it is answered only once every API process's listener has acknowledged a sync sent
  // after its commits, so each has dropped what they changed (decisions: credential cache). Every write pays
  // that round (a few milliseconds), not only the operator routes: no list of routes to keep in step.
  // A request whose handler says it changed none (a refused login: markCredentialsUnchanged) skips both.
  app.on(CREDENTIAL_CHANGING_METHODS, '*', async (c, next) => {
    try {
      await next()
    } finally {
      if (!credentialsUnchanged(c)) {
        credentials.invalidateAll()
        await credentials.sync(deps.sql).catch(() => {})
      }
    }
  })
  const defaultMaxConcurrency = deps.config.WORKER_CAPACITY ?? deps.config.WORKER_CONCURRENCY
  // One memory of login refusals for both login routes: an address the budget refused on one is refused at
  // once on the other too (src/auth/login-refusal-memory.ts).
  const loginRefusals = new LoginRefusalMemory()
  const keptDays = deps.config.OPS_BEFORE_IMAGE_DAYS ? { beforeImageDays: deps.config.OPS_BEFORE_IMAGE_DAYS } : {}
  app.route(
    API_BASE_PATH,
    apiRoutes({
      sql: deps.sql,
      log: deps.log,
      catalog: deps.catalog,
      tokenTtlSeconds: deps.config.TOKEN_TTL_SECONDS,
      ...(deps.config.publicUrl ? { consoleBaseUrl: deps.config.publicUrl } : {}),
      credentials,
      loginRefusals,
      webhookHostPolicy: deps.config.webhookHostPolicy ?? null,
      defaultMaxConcurrency,
      ...keptDays,
      ...(deps.hashParams ? { hashParams: deps.hashParams } : {}),
    }),
  )
  app.route(
    '/system',
    consoleRoutes({
      sql: deps.sql,
      log: deps.log,
      catalog: deps.catalog,
      logger: deps.logger,
      nodeEnv: deps.config.NODE_ENV,
      webhookHostPolicy: deps.config.webhookHostPolicy ?? null,
      defaultMaxConcurrency,
      ...keptDays,
      ...(deps.hashParams ? { hashParams: deps.hashParams } : {}),
      loginRefusals,
      allowedMethods: (path) => allowedMethods.of(path),
    }),
  )
  return app
}
