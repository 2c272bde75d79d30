import type { MiddlewareHandler } from 'hono'
import type { ServiceMetrics } from './service-metrics.js'

/** The route label of a request no route answered (404, or 405 for a method the path is not served with): one value, whatever path was asked. */
export const UNMATCHED_ROUTE = '(unmatched)'

/**
 * Counts every request by method, the route pattern that answered it (`/api/runs/:id`, never the path
 * itself, so a label's values are bounded by the routes the app declares) and status. A request that only
 * middleware answered (not found, a method not served, or refused before its route) carries that
 * middleware's pattern, or `UNMATCHED_ROUTE` when it is the catch-all's.
 */
export function requestMetrics(metrics: Pick<ServiceMetrics, 'requestAnswered'>): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now()
    try {
      await next()
    } finally {
      const status = c.res.status
      const pattern = c.req.routePath
      const route = (status === 404 || status === 405) && pattern.endsWith('*') ? UNMATCHED_ROUTE : pattern
      metrics.requestAnswered({ method: c.req.method, route, status, seconds: (performance.now() - started) / 1000 })
    }
  }
}
