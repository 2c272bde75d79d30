/**
 * The embedded default (`npm start` with no DATABASE_URL and no NATS_URL: PGlite under DATA_DIR, the
 * in-process queue) running the same all-tenants backfill as PostgreSQL + NATS, same shape: the service's
 * peak RSS, the API's p50 of GET /api/runs/{id} while the run executes (the ~100 ms polls), and the
 * embedded end-to-end time over PostgreSQL's. The data folder is seeded first by bench/embedded-seed.ts in
 * its own process; the service (compiled, see compiledService) is then started on it. Before that, the first
 * start on an empty data folder, as `npm install && npm start` on a fresh machine: its RSS once settled.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { Part } from '../lib/part.js'
import { repoRoot, scaled } from '../lib/env.js'
import { register } from '../lib/cleanup.js'
import { createDatabase, dropDatabase, seedTemplate } from '../lib/pg.js'
import { serviceBackfill } from '../lib/e2e.js'
import { ChildService, compiledService, freePort, getToken, npmStartNodeFlags, serviceEnv, startAllTenantsRun, waitForCompletion } from '../lib/service.js'
import { percentile } from '../lib/stats.js'

const FINDINGS = 200
/** How long the first start is left to settle (its projector replays the demo seed's events) before its RSS is read. */
const FIRST_START_SETTLE_MS = 5_000

/**
 * `npm start` on a fresh machine: the embedded service on an empty DATA_DIR with its defaults (the demo
 * seed, the demo operator), healthy, then left alone; its RSS then, and its peak since it started.
 */
async function firstStart(): Promise<{ rss: number; peak: number; healthySeconds: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-embedded-first-'))
  const removeDir = register(`temp dir ${dataDir}`, () => rmSync(dataDir, { recursive: true, force: true }))
  try {
    const env = serviceEnv({ DATA_DIR: dataDir })
    delete env.OPS_DEMO_SEED
    delete env.OPS_BOOTSTRAP_ADMIN_EMAIL
    delete env.OPS_BOOTSTRAP_ADMIN_PASSWORD
    const started = performance.now()
    const service = new ChildService({ label: 'embedded first start', entry: await compiledService(), port: await freePort(), env, nodeArgs: npmStartNodeFlags() })
    try {
      await service.waitHealthy()
      const healthySeconds = (performance.now() - started) / 1000
      await new Promise((resolve) => setTimeout(resolve, FIRST_START_SETTLE_MS))
      return { rss: service.rssMib(), peak: service.peakRssMib(), healthySeconds }
    } finally {
      await service.stop()
    }
  } finally {
    await removeDir.run()
  }
}

function seedDataDir(dataDir: string, tenants: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/embedded-seed.ts'], {
      cwd: repoRoot,
      env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, BENCH_SEED_TENANTS: String(tenants), BENCH_SEED_FINDINGS: String(FINDINGS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    const registration = register(`seeding process ${child.pid}`, () => void child.kill('SIGKILL'))
    child.on('exit', (code) => {
      registration.release()
      if (code === 0) resolve()
      else reject(new Error(`seeding the embedded data folder failed (${code}):\n${output.slice(-2000)}`))
    })
  })
}

export const embeddedPart: Part = {
  name: 'embedded',
  summary: 'the embedded default (PGlite + in-process queue) running the same backfill: RSS, API p50 during the run, time vs PostgreSQL',
  async run() {
    const shape = { tenants: scaled(200), findings: FINDINGS }
    console.log(`all-tenants backfill of ${shape.tenants} tenants × ${shape.findings} findings, embedded default vs PostgreSQL + NATS (service child processes)`)
    const first = await firstStart()
    console.log(
      `  first start on an empty data folder (npm start's defaults: demo seed and operator): healthy in ${first.healthySeconds.toFixed(1)} s, ` +
        `RSS ${first.rss.toFixed(0)} MiB ${FIRST_START_SETTLE_MS / 1000} s later (peak since it started ${first.peak.toFixed(0)} MiB)`,
    )
    const dataDir = mkdtempSync(join(tmpdir(), 'bench-embedded-'))
    const removeDir = register(`temp dir ${dataDir}`, () => rmSync(dataDir, { recursive: true, force: true }))
    let embedded: { seconds: number; rss: number; p50: number; polls: number; outcome: string; updated: number }
    try {
      const seedStarted = performance.now()
      await seedDataDir(dataDir, shape.tenants)
      console.log(`  embedded data folder seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`)
      const service = new ChildService({
        label: 'embedded service',
        entry: await compiledService(),
        port: await freePort(),
        env: serviceEnv({ DATA_DIR: dataDir }),
        nodeArgs: npmStartNodeFlags(),
      })
      try {
        await service.waitHealthy()
        const token = await getToken(service.url)
        const setupRss = service.restartPeak()
        const started = performance.now()
        const { runId, answerMs } = await startAllTenantsRun(service.url, token)
        const latencies: number[] = []
        const run = await waitForCompletion(service.url, token, runId, { latencies, alive: () => service.assertAlive() })
        const seconds = (performance.now() - started) / 1000
        // The polls before completion: the API while the run executes.
        const during = latencies.slice(0, -1)
        embedded = {
          seconds,
          rss: service.peakRssMib(),
          p50: percentile(during.length > 0 ? during : latencies, 50),
          polls: during.length,
          outcome: run.outcome,
          updated: run.summaryCounts.updated ?? 0,
        }
        console.log(
          `  embedded: ${seconds.toFixed(2)} s (${run.outcome}, updated ${embedded.updated}), start answered in ${answerMs.toFixed(0)} ms, ` +
            `service peak RSS during the run ${embedded.rss.toFixed(0)} MiB (before it, with the login's scrypt: ${setupRss.toFixed(0)} MiB), GET /api/runs/{id} while the run executes: p50 ${embedded.p50.toFixed(1)} ms, ` +
            `p99 ${percentile(during.length > 0 ? during : latencies, 99).toFixed(1)} ms (${embedded.polls} polls)`,
        )
      } finally {
        await service.stop()
      }
    } finally {
      await removeDir.run()
    }

    const template = await seedTemplate(shape, 'tpl_embedded_pg')
    let postgresSeconds: number
    try {
      const copy = await createDatabase('embedded_pg', template)
      try {
        const run = await serviceBackfill(copy, 'embedded_pg')
        postgresSeconds = run.seconds
        console.log(
          `  PostgreSQL + NATS: ${run.seconds.toFixed(2)} s (${run.outcome}, updated ${run.updated}), service peak RSS during the run ${run.peakRssMib.toFixed(0)} MiB, ` +
            `GET /api/runs/{id} while the run executes: p50 ${percentile(run.pollLatencies.slice(0, -1), 50).toFixed(1)} ms`,
        )
        if (run.updated !== embedded.updated) console.log(`  WARNING: updated counts differ (embedded ${embedded.updated}, PostgreSQL ${run.updated})`)
      } finally {
        await dropDatabase(copy)
      }
    } finally {
      await dropDatabase(template)
    }
    const ratio = embedded.seconds / postgresSeconds
    console.log(`  embedded / PostgreSQL end to end: ${ratio.toFixed(2)}×`)
    return {
      embedded_rss_mib: Math.round(embedded.rss),
      embedded_first_start_rss_mib: Math.round(first.rss),
      embedded_vs_postgres: Number(ratio.toFixed(3)),
      embedded_api_p50_ms: Number(embedded.p50.toFixed(1)),
    }
  },
}
