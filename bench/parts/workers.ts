/**
 * Scale-out: the all-tenants backfill of 2,000 tenants × 20 findings with the roles as processes (SPEC §8,
 * ROLE): one ROLE=api, one ROLE=projector and 1, 2, then 3 ROLE=worker processes, all on PostgreSQL + NATS
 * (one stream per deployment), each deployment on a fresh copy of the same seeded data. Every process has
 * WORKER_CONCURRENCY=4 and the deployment's WORKER_CAPACITY is 4 × the workers (a run's default
 * maxConcurrency, SPEC §9), so a worker added is capacity added. One run of each count of workers makes a
 * round; a speed-up is a ratio of two runs of the same round, and the figures are the medians over the rounds
 * (a single run's time moved by ±10 % on this shared machine, enough to turn a speed-up of ×1.05 into ×0.9).
 * Then the same rounds with one slot a worker process (see CONFIGURATIONS).
 */
import { performance } from 'node:perf_hooks'
import type { Part } from '../lib/part.js'
import { concurrency, repetitions, scaled } from '../lib/env.js'
import { median } from '../lib/stats.js'
import { createDatabase, databaseUrl, dropDatabase, seedTemplate } from '../lib/pg.js'
import { ChildService, compiledService, freePort, getToken, natsStream, serviceEnv, startAllTenantsRun, waitForCompletion } from '../lib/service.js'
import { natsUrl } from '../lib/env.js'
import { benchPostmaster, cpuBetween, formatCpu, sampleCpu, type CpuSpent } from '../lib/cpu.js'
import { cpus } from 'node:os'

const WORKER_COUNTS = [1, 2, 3]

async function deployment(database: string, workers: number, slots: number): Promise<{ seconds: number; outcome: string; updated: number; rss: number[]; cpu: CpuSpent }> {
  const stream = natsStream(`workers_${workers}`)
  const processes: ChildService[] = []
  const env = (role: string) =>
    serviceEnv({
      ROLE: role,
      DATABASE_URL: databaseUrl(database),
      NATS_URL: natsUrl,
      NATS_STREAM: stream.name,
      WORKER_CONCURRENCY: String(slots),
      WORKER_CAPACITY: String(slots * workers),
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

/**
 * The order of the deployments in each round: rotated from round to round, so that a machine growing busier or
 * quieter during the part does not favour one count of workers.
 */
function roundOrder(round: number): number[] {
  const shift = round % WORKER_COUNTS.length
  return [...WORKER_COUNTS.slice(shift), ...WORKER_COUNTS.slice(0, shift)]
}

/**
 * The two ways the part runs the deployments: at the service's concurrency (the bench's, 4 slots a worker
 * process), where one worker already keeps most of the machine busy, and with one slot a worker process,
 * where it does not: the machine's room, not the design, is what the first can measure; the second shows a
 * worker added as capacity added where there is room for it.
 */
const CONFIGURATIONS = [
  { slots: concurrency, suffix: '' },
  { slots: 1, suffix: '_one_slot' },
] as const

export const workersPart: Part = {
  name: 'workers',
  summary: 'scale-out: the 2000×20 backfill with ROLE=api, ROLE=projector and 1, 2, 3 ROLE=worker processes',
  async run() {
    const shape = { tenants: scaled(2000), findings: 20 }
    const rounds = repetitions(3)
    const template = await seedTemplate(shape, 'tpl_workers')
    const keys: Record<string, number> = {}
    try {
      for (const { slots, suffix } of CONFIGURATIONS) {
        if (suffix !== '' && slots === concurrency) continue
        console.log(
          `all-tenants backfill of ${shape.tenants} tenants × ${shape.findings} findings; processes: api, projector, N workers ` +
            `(WORKER_CONCURRENCY ${slots} each, WORKER_CAPACITY ${slots} × N); ${rounds} round${rounds > 1 ? 's' : ''} of one run per N ` +
            `(in rotated order), each on a fresh copy; a speed-up is paired within its round, and the median over the rounds is reported`,
        )
        Object.assign(keys, await scaleOut(template, shape, slots, rounds, suffix))
      }
    } finally {
      await dropDatabase(template)
    }
    return keys
  },
}

/** 1, 2 and 3 worker processes of `slots` slots each, `rounds` times; the speed-ups' keys end in `suffix`. */
async function scaleOut(
  template: string,
  shape: { tenants: number; findings: number },
  slots: number,
  rounds: number,
  suffix: string,
): Promise<Record<string, number>> {
  // Per round, the seconds of each count of workers; per round, the one-worker run's busy cores.
  const times: Array<Map<number, number>> = []
  const oneWorkerCoresBusy: number[] = []
  for (let round = 0; round < rounds; round++) {
    const roundTimes = new Map<number, number>()
    times.push(roundTimes)
    for (const workers of roundOrder(round)) {
      const copy = await createDatabase(`workers_${slots}_${workers}_${round}`, template)
      try {
        const result = await deployment(copy, workers, slots)
        // A run that did not succeed is no time of the work: reported, never in a median.
        const whole = result.outcome === 'succeeded'
        if (whole) roundTimes.set(workers, result.seconds)
        if (whole && workers === 1) oneWorkerCoresBusy.push(result.cpu.total / result.cpu.wallSeconds)
        console.log(
          `  round ${round + 1}, ${workers} worker${workers > 1 ? 's' : ''}: ${result.seconds.toFixed(2)} s (${result.outcome}, updated ${result.updated}), ` +
            `${(shape.tenants / result.seconds).toFixed(0)} tenants/s; peak RSS api/projector/workers ${result.rss.map((mib) => mib.toFixed(0)).join('/')} MiB`,
        )
        const switches = result.cpu.contextSwitches
        console.log(
          `      CPU: ${formatCpu(result.cpu, cpus().length)}` +
            (switches === null ? '' : `; ${((result.cpu.total * 1000) / shape.tenants).toFixed(2)} CPU-ms and ${(switches / shape.tenants).toFixed(1)} context switches (machine-wide) a tenant`),
        )
      } catch (error) {
        console.log(`  round ${round + 1}, ${workers} workers: FAILED: ${(error as Error).message}`)
      } finally {
        await dropDatabase(copy)
      }
    }
  }
  const keys: Record<string, number> = {}
  const speedups = new Map<number, number[]>()
  for (const roundTimes of times) {
    const one = roundTimes.get(1)
    for (const workers of WORKER_COUNTS.filter((count) => count > 1)) {
      const these = roundTimes.get(workers)
      if (one !== undefined && these !== undefined) speedups.set(workers, [...(speedups.get(workers) ?? []), one / these])
    }
  }
  const secondsOf = (workers: number) => times.map((roundTimes) => roundTimes.get(workers)).filter((value): value is number => value !== undefined)
  for (const workers of WORKER_COUNTS) {
    const seconds = secondsOf(workers)
    if (seconds.length === 0) continue
    const paired = speedups.get(workers)
    console.log(
      `  ${workers} worker${workers > 1 ? 's' : ''}${suffix ? ', one slot each' : ''}: median ${median(seconds).toFixed(2)} s (${seconds.map((value) => value.toFixed(2)).join(', ')})` +
        (paired ? `; over 1 worker in the same round ×${paired.map((value) => value.toFixed(2)).join(', ×')}: median ×${median(paired).toFixed(2)}` : ''),
    )
    if (paired) keys[`workers_${workers}_speedup${suffix}`] = Number(median(paired).toFixed(3))
  }
  // How much of the machine one worker already keeps busy (all processes, PostgreSQL and NATS included): the
  // most any number of workers could speed the run up is the cores over this.
  if (oneWorkerCoresBusy.length > 0) keys[`workers_1${suffix}_cores_busy`] = Number(median(oneWorkerCoresBusy).toFixed(2))
  return keys
}
