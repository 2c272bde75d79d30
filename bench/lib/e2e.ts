/**
 * One all-tenants backfill through the service as a child process on PostgreSQL + NATS JetStream: start
 * the service on `database`, wait for /health, get a token, POST the run (the answer's latency is the
 * start answer), poll GET /api/runs/{id} every ~100 ms until completed. The service is started before
 * the clock starts; its stream is deleted and the process stopped after.
 */
import { performance } from 'node:perf_hooks'
import { benchPostmaster, cpuBetween, sampleCpu, type CpuSpent } from './cpu.js'
import { databaseUrl } from './pg.js'
import { getToken, natsStream, startAllTenantsRun, startPostgresService, waitForCompletion, type RunView } from './service.js'

export interface EndToEnd {
  runId: string
  /** From sending the start request until the run is seen completed. */
  seconds: number
  startAnswerMs: number
  updated: number
  outcome: string
  tenants: number
  /** Peak RSS from the start request to completion (`restartPeak`). */
  peakRssMib: number
  /** Peak RSS before the run: start-up and the login's scrypt. */
  setupPeakRssMib: number
  /** GET /api/runs/{id} latencies of the polls, ms. */
  pollLatencies: number[]
  /** CPU spent from the start request to completion: the service, PostgreSQL, NATS, the bench. */
  cpu: CpuSpent
  run: RunView
}

export async function serviceBackfill(database: string, label: string, env: Record<string, string> = {}): Promise<EndToEnd> {
  const stream = natsStream(label)
  try {
    const service = await startPostgresService({ label: `service ${label}`, databaseUrl: databaseUrl(database), stream: stream.name, env })
    try {
      const token = await getToken(service.url)
      const setupPeakRssMib = service.restartPeak()
      const postmaster = await benchPostmaster()
      const cpuBefore = sampleCpu(postmaster, { service: service.pid })
      const started = performance.now()
      const { runId, answerMs } = await startAllTenantsRun(service.url, token)
      const pollLatencies: number[] = []
      const run = await waitForCompletion(service.url, token, runId, { latencies: pollLatencies, alive: () => service.assertAlive() }).catch(
        (error: Error) => {
          // What the service last wrote (warnings and errors: LOG_LEVEL=warn) says why.
          throw new Error(`${error.message}\n  the service's last lines:\n${service.output()}`)
        },
      )
      const seconds = (performance.now() - started) / 1000
      const cpu = cpuBetween(cpuBefore, sampleCpu(postmaster, { service: service.pid }))
      return {
        runId,
        seconds,
        startAnswerMs: answerMs,
        updated: run.summaryCounts.updated ?? 0,
        outcome: run.outcome,
        tenants: run.summaryCounts.tenants ?? 0,
        peakRssMib: service.peakRssMib(),
        setupPeakRssMib,
        pollLatencies,
        cpu,
        run,
      }
    } finally {
      await service.stop()
    }
  } finally {
    await stream.remove()
  }
}
