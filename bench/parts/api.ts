/**
 * GET /api/runs/{id} of a completed all-tenants run of ~2,000 tenants, served by the service as a child
 * process on PostgreSQL, under autocannon (32 connections, loopback, a short warm-up then ~10 s), against
 * a Hono hello world served the same way (@hono/node-server in its own child process: bench/hello-world.ts).
 */
import autocannon from 'autocannon'
import type { Part } from '../lib/part.js'
import { databaseUrl } from '../lib/pg.js'
import { ChildService, freePort, getRun, getToken, natsStream, serviceEnv, startPostgresService } from '../lib/service.js'

const CONNECTIONS = 32
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 10)
const WARM_UP_SECONDS = 2

interface Load {
  requestsPerSecond: number
  p50: number
  p99: number
  requests: number
  non2xx: number
  errors: number
}

async function load(url: string, headers: Record<string, string>, seconds: number): Promise<Load> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds, headers })
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
  }
}

async function measure(label: string, url: string, headers: Record<string, string> = {}): Promise<Load> {
  await load(url, headers, WARM_UP_SECONDS)
  const figures = await load(url, headers, SECONDS)
  console.log(
    `  ${label}: ${Math.round(figures.requestsPerSecond)} req/s, p50 ${figures.p50} ms, p99 ${figures.p99} ms ` +
      `(${figures.requests} requests, ${figures.non2xx} non-2xx, ${figures.errors} errors)`,
  )
  if (figures.non2xx > 0 || figures.errors > 0) console.log(`  WARNING: ${label} answered ${figures.non2xx} non-2xx and ${figures.errors} errors`)
  return figures
}

export const apiPart: Part = {
  name: 'api',
  summary: `GET /api/runs/{id} req/s and p99 at ${CONNECTIONS} connections vs a Hono hello world (autocannon, loopback)`,
  async run(context) {
    const database = await context.completedRun()
    console.log(
      `autocannon, ${CONNECTIONS} connections, ${WARM_UP_SECONDS} s warm-up then ${SECONDS} s; the run: ${database.tenants} tenants (completed), service with LOG_LEVEL=warn`,
    )
    const stream = natsStream('api')
    let run: Load
    try {
      const service = await startPostgresService({ label: 'service api', databaseUrl: databaseUrl(database.name), stream: stream.name })
      try {
        const token = await getToken(service.url)
        const view = await getRun(service.url, token, database.runId)
        console.log(`  run ${database.runId}: ${view.status}, ${view.summaryCounts.tenants} tenants, answer ${JSON.stringify(view).length} bytes`)
        run = await measure(`GET /api/runs/{id} (service, peak RSS so far ${service.peakRssMib().toFixed(0)} MiB)`, `${service.url}/api/runs/${database.runId}`, {
          authorization: `Bearer ${token}`,
        })
      } finally {
        await service.stop()
      }
    } finally {
      await stream.remove()
    }
    const hello = new ChildService({ label: 'hello world', entry: 'bench/hello-world.ts', port: await freePort(), env: serviceEnv({}) })
    let helloLoad: Load
    try {
      await hello.waitHealthy(60_000)
      helloLoad = await measure('Hono hello world (@hono/node-server)', `${hello.url}/`)
    } finally {
      await hello.stop()
    }
    const ratio = run.requestsPerSecond / helloLoad.requestsPerSecond
    console.log(`  run / hello world: ${ratio.toFixed(3)}× req/s; run p99 ${run.p99} ms`)
    return { api_run_vs_hello: Number(ratio.toFixed(4)), api_run_p99_ms: run.p99 }
  },
}
