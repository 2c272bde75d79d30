import type { Env, Hono } from 'hono'
import { metricsAccess } from '../metrics/metrics-access.js'
import type { ServiceMetrics } from '../metrics/service-metrics.js'
import { clientAddress } from './client-address.js'
import { problemJson } from './problem.js'

/**
 * GET /metrics (SPEC §12): Prometheus text, served by every role (the business figures are read from the
 * shared read models, event store and queue, so any process tells the same). Not under /api: no OpenAPI entry.
 */
export function serveMetrics<E extends Env>(app: Hono<E>, deps: { metrics: ServiceMetrics; metricsToken: string | undefined }): void {
  app.get('/metrics', async (c) => {
    const access = metricsAccess({ authorization: c.req.header('authorization'), clientIp: clientAddress(c).ip }, deps.metricsToken)
    if (!access.allowed) {
      if (access.status === 401) c.header('WWW-Authenticate', 'Bearer realm="metrics"')
      return problemJson(c, access.status, access.detail)
    }
    const text = await deps.metrics.render()
    return c.body(text, 200, { 'content-type': deps.metrics.contentType, 'cache-control': 'no-store' })
  })
}
