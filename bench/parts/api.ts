/**
 * GET /api/runs/{id} of a completed all-tenants run of ~2,000 tenants, served by the service as a child
 * process on PostgreSQL, under autocannon (32 connections, loopback, a short warm-up then ~10 s), against
 * a Hono hello world served the same way (@hono/node-server in its own child process: bench/hello-world.ts).
 * Also printed, steadier than req/s on a shared machine: each server's CPU per request (/proc, user +
 * system) and the run's database's transactions per request (pg_stat_database; a read is one).
 */
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'
import type { Part } from '../lib/part.js'
import { connect, databaseUrl } from '../lib/pg.js'
import { sleep } from '../lib/stats.js'
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

/** CPU time (user + system) a live process has used, ms; null once it is gone. */
function cpuMs(pid: number): number | null {
  try {
    // Fields 14 and 15 of /proc/<pid>/stat, after the parenthesised command name; in clock ticks (100/s).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return null
  }
}

/** Transactions (committed or not) of one database so far, as pg_stat_database shows them. */
async function transactions(database: string): Promise<number> {
  const sql = connect('postgres', 1)
  try {
    const [row] = await sql<Array<{ count: string }>>`
      select xact_commit + xact_rollback as count from pg_stat_database where datname = ${database}`
    return Number(row?.count ?? 0)
  } finally {
    await sql.end({ timeout: 5 })
  }
}

async function measure(
  label: string,
  url: string,
  headers: Record<string, string> = {},
  watch: { pid: number; database?: string },
): Promise<Load> {
  await load(url, headers, WARM_UP_SECONDS)
  const cpuBefore = cpuMs(watch.pid)
  const xactsBefore = watch.database ? await transactions(watch.database) : null
  const figures = await load(url, headers, SECONDS)
  const cpuAfter = cpuMs(watch.pid)
  // A backend reports its counts about once a second while busy: the last ones are in once it has idled.
  if (watch.database) await sleep(1_500)
  const xactsAfter = watch.database ? await transactions(watch.database) : null
  const perRequest = (before: number | null, after: number | null, scale: number) =>
    before !== null && after !== null && figures.requests > 0 ? ((after - before) * scale) / figures.requests : null
  const cpu = perRequest(cpuBefore, cpuAfter, 1000)
  const xacts = perRequest(xactsBefore, xactsAfter, 1)
  console.log(
    `  ${label}: ${Math.round(figures.requestsPerSecond)} req/s, p50 ${figures.p50} ms, p99 ${figures.p99} ms ` +
      `(${figures.requests} requests, ${figures.non2xx} non-2xx, ${figures.errors} errors)` +
      (cpu !== null ? `; server CPU ${cpu.toFixed(0)} µs/request` : '') +
      (xacts !== null ? `, ${xacts.toFixed(2)} database transactions/request` : ''),
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
        run = await measure(
          `GET /api/runs/{id} (service, peak RSS so far ${service.peakRssMib().toFixed(0)} MiB)`,
          `${service.url}/api/runs/${database.runId}`,
          { authorization: `Bearer ${token}` },
          { pid: service.pid, database: database.name },
        )
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
      helloLoad = await measure('Hono hello world (@hono/node-server)', `${hello.url}/`, {}, { pid: hello.pid })
    } finally {
      await hello.stop()
    }
    const ratio = run.requestsPerSecond / helloLoad.requestsPerSecond
    console.log(`  run / hello world: ${ratio.toFixed(3)}× req/s; run p99 ${run.p99} ms`)
    return { api_run_vs_hello: Number(ratio.toFixed(4)), api_run_p99_ms: run.p99 }
  },
}
