import type { MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'

/**
 * One structured line per request: method, path, status, duration. Never headers, bodies or query
 * strings — they can carry credentials and tokens.
 */
export function requestLog(logger: Logger): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now()
    await next()
    const status = c.res.status
    const line = { method: c.req.method, path: c.req.path, status, ms: Math.round(performance.now() - started) }
    if (status >= 500) logger.error(line, 'request')
    else logger.info(line, 'request')
  }
}
