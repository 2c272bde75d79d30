import type { MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import { TOKEN_PREFIX } from '../auth/operator-store.js'

/**
 * One structured line per request: method, path, status, duration. Never headers, bodies or query
 * strings — they can carry credentials and tokens. A line the logger's level drops is not made.
 */
export function requestLog(logger: Logger): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now()
    await next()
    const status = c.res.status
    if (status >= 500) logger.error(lineOf(c.req.method, c.req.path, status, started), 'request')
    else if (logger.isLevelEnabled('info')) logger.info(lineOf(c.req.method, c.req.path, status, started), 'request')
  }
}

/** Something shaped like one of our tokens, put in a path by mistake (`DELETE /api/auth/tokens/rcp_…`). */
const TOKEN_IN_PATH = new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9_-]{16,}`, 'g')

function lineOf(method: string, path: string, status: number, started: number) {
  return { method, path: path.replace(TOKEN_IN_PATH, `${TOKEN_PREFIX}(redacted)`), status, ms: Math.round(performance.now() - started) }
}
