/**
 * Scale-out: the all-tenants backfill of 2,000 tenants × 20 findings with the roles as processes (SPEC §8,
 * ROLE): one ROLE=api, one ROLE=projector and 1, 2, then 3 ROLE=worker processes, all on PostgreSQL + NATS
 * (one stream per deployment), each deployment on a fresh copy of the same seeded data. Every process has
 * WORKER_CONCURRENCY=4 and the deployment's WORKER_CAPACITY is 4 × the workers (a run's default
 * maxConcurrency, SPEC §9), so a worker added is capacity added.
 */
import { performance } from 'node:perf_hooks'
import type { Part } from '../lib/part.js'
import { concurrency, scaled } from '../lib/env.js'
import { createDatabase, databaseUrl, dropDatabase, seedTemplate } from '../lib/pg.js'
import { ChildService, compiledService, freePort, getToken, natsStream, serviceEnv, startAllTenantsRun, waitForCompletion } from '../lib/service.js'
import { natsUrl } from '../lib/env.js'
import { benchPostmaster, cpuBetween, formatCpu, sampleCpu, type CpuSpent } from '../lib/cpu.js'
import { cpus } from 'node:os'

const WORKER_COUNTS = [1, 2, 3]

async function deployment(database: string, workers: number): Promise<{ seconds: number; outcome: string; updated: number; rss: number[]; cpu: CpuSpent }> {
  const stream = natsStream(`workers_${workers}`)
  const processes: ChildService[] = []
  const env = (role: string) =>
    serviceEnv({
      ROLE: role,
      DATABASE_URL: databaseUrl(database),
      NATS_URL: natsUrl,
      NATS_STREAM: stream.name,
      WORKER_CONCURRENCY: String(concurrency),
      WORKER_CAPACITY: String(concurrency * workers),
    })
  try {
    const api = new ChildService({ label: 'api', entry: await compiledService(), port: await freePort(), env: env('api') })
    processes.push(api)
    await api.waitHealthy()
    const others = [new ChildService({ label: 'projector', entry: await compiledService(), port: await freePort(), env: env('projector') })]
    for (let index = 1; index <= workers; index++) {
      others.push(new ChildService({ label: `worker ${index}`, entry: await compiledService(), port: await freePort(), env: env('worker') }))
    }
    processes.push(...others)
    await Promise.all(others.map((child) => child.waitHealthy()))
    const token = await getToken(api.url)
    const pids = () => Object.fromEntries(processes.map((child, index) => [index === 0 ? 'api' : index === 1 ? 'projector' : `worker${index - 1}`, child.pid]))
    const postmaster = await benchPostmaster()
    const cpuBefore = sampleCpu(postmaster, pids())
    const started = performance.now()
    const { runId } = await startAllTenantsRun(api.url, token)
    const run = await waitForCompletion(api.url, token, runId, { alive: () => processes.forEach((child) => child.assertAlive()) })
    const seconds = (performance.now() - started) / 1000
    const cpu = cpuBetween(cpuBefore, sampleCpu(postmaster, pids()))
    return { seconds, outcome: run.outcome, updated: run.summaryCounts.updated ?? 0, rss: processes.map((child) => child.peakRssMib()), cpu }
  } finally {
    await Promise.all(processes.map((child) => child.stop()))
    await stream.remove()
  }
}

export const workersPart: Part = {
  name: 'workers',
  summary: 'scale-out: the 2000×20 backfill with ROLE=api, ROLE=projector and 1, 2, 3 ROLE=worker processes',
  async run() {
    const shape = { tenants: scaled(2000), findings: 20 }
    console.log(
      `all-tenants backfill of ${shape.tenants} tenants × ${shape.findings} findings; processes: api, projector, N workers ` +
        `(WORKER_CONCURRENCY ${concurrency} each, WORKER_CAPACITY ${concurrency} × N); one run per N on a fresh copy`,
    )
    const template = await seedTemplate(shape, 'tpl_workers')
    const times = new Map<number, number>()
    let oneWorkerCoresBusy: number | null = null
    try {
      for (const workers of WORKER_COUNTS) {
        const copy = await createDatabase(`workers_${workers}`, template)
        try {
          const result = await deployment(copy, workers)
          times.set(workers, result.seconds)
          if (workers === 1) oneWorkerCoresBusy = result.cpu.total / result.cpu.wallSeconds
          const previous = times.get(workers - 1)
          console.log(
            `  ${workers} worker${workers > 1 ? 's' : ''}: ${result.seconds.toFixed(2)} s (${result.outcome}, updated ${result.updated}), ` +
              `${(shape.tenants / result.seconds).toFixed(0)} tenants/s` +
              (previous ? `, ×${(previous / result.seconds).toFixed(2)} for the worker added, ×${(times.get(1)! / result.seconds).toFixed(2)} over 1 worker` : '') +
              `; peak RSS api/projector/workers ${result.rss.map((mib) => mib.toFixed(0)).join('/')} MiB`,
          )
          console.log(`      CPU: ${formatCpu(result.cpu, cpus().length)}`)
        } catch (error) {
          console.log(`  ${workers} workers: FAILED: ${(error as Error).message}`)
        } finally {
          await dropDatabase(copy)
        }
      }
    } finally {
      await dropDatabase(template)
    }
    const keys: Record<string, number> = {}
    for (const workers of [2, 3]) {
      if (times.has(1) && times.has(workers)) keys[`workers_${workers}_speedup`] = Number((times.get(1)! / times.get(workers)!).toFixed(3))
    }
    // How much of the machine one worker already keeps busy (all processes, PostgreSQL and NATS included): the
    // most any number of workers could speed the run up is the cores over this.
    if (oneWorkerCoresBusy !== null) keys.workers_1_cores_busy = Number(oneWorkerCoresBusy.toFixed(2))
    return keys
  },
}
