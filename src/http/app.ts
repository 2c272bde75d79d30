import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { secureHeaders } from 'hono/secure-headers'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { Sql } from '../db/database.js'
import type { EventLog } from '../store/event-log.js'
import { bearerAuthentication, type AppEnv } from './authentication.js'
import { consoleRoutes } from './console/console-routes.js'
import { HttpProblem, problemJson, problemResponse } from './problem.js'
import { trustedProxyAddresses } from './client-address.js'
import { requestLog } from './request-log.js'
import { auditRoutes } from './routes/audit-routes.js'
import { authRoutes } from './routes/auth-routes.js'
import { runRoutes } from './routes/run-routes.js'
import { runbookRoutes } from './routes/runbook-routes.js'

export const MAX_BODY_BYTES = 64 * 1024

export interface AppDeps {
  sql: Sql
  log: EventLog
  logger: Logger
  config: Pick<Config, 'TOKEN_TTL_SECONDS' | 'NODE_ENV' | 'TRUST_PROXY_HOPS'>
  healthy: () => Promise<boolean>
  /** False for worker/projector processes: they answer /health only. */
  serveApi: boolean
}

export function createApp(deps: AppDeps) {
  const app = new Hono<AppEnv>()
  app.use(trustedProxyAddresses(deps.config.TRUST_PROXY_HOPS))
  app.use(requestLog(deps.logger))
  // same-origin rather than the default no-referrer: with no-referrer, browsers send `Origin: null` on
  // the console's own form posts, which then look like cross-site requests.
  app.use(secureHeaders({ referrerPolicy: 'same-origin', xFrameOptions: 'DENY' }))
  app.onError((error, c) =>
    problemResponse(c, error, (e) => deps.logger.error({ err: e, path: c.req.path, method: c.req.method }, 'unhandled error')),
  )
  app.notFound((c) => problemJson(c, 404, `no route for ${c.req.method} ${c.req.path}`))

  app.get('/health', async (c) => {
    const ok = await deps.healthy()
    return c.json({ status: ok ? 'ok' : 'unavailable' }, ok ? 200 : 503)
  })
  if (!deps.serveApi) return app

  const api = new Hono<AppEnv>()
  api.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new HttpProblem(413, `the body exceeds ${MAX_BODY_BYTES} bytes`)
      },
    }),
  )
  api.route('/auth', authRoutes({ sql: deps.sql, log: deps.log, tokenTtlSeconds: deps.config.TOKEN_TTL_SECONDS }))
  const authenticated = new Hono<AppEnv>()
  authenticated.use(bearerAuthentication(deps.sql))
  authenticated.route('/', runbookRoutes(deps))
  authenticated.route('/runs', runRoutes(deps))
  authenticated.route('/audit', auditRoutes(deps))
  api.route('/', authenticated)
  app.route('/api', api)
  app.route('/system', consoleRoutes({ sql: deps.sql, log: deps.log, logger: deps.logger, nodeEnv: deps.config.NODE_ENV }))
  return app
}
