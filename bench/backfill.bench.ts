/**
 * End-to-end benchmark of an all-tenants backfill (start → RunCompleted projected) on PostgreSQL + NATS
 * JetStream, against its physical floor measured in the same run: the same repair SQL, tenant by tenant in
 * one transaction each, with the same concurrency and nothing else (no events, no queue, no projections).
 * Figures are reported as ratios; no test asserts a duration.
 *
 *   BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_NATS_URL     (default nats://127.0.0.1:4222)
 *   BENCH_TENANTS (200), BENCH_FINDINGS (1000), WORKER_CONCURRENCY (4)
 */
import postgres from 'postgres'
import { performance } from 'node:perf_hooks'
import { loadConfig } from '../src/config.js'
import { composeService } from '../src/composition.js'
import { connectPostgres, type Database } from '../src/db/database.js'
import { seedBenchTenants } from '../src/db/demo-seed.js'
import { applyMigrations } from '../src/db/migrations.js'
import { platformSchema } from '../src/db/schema.js'
import { createLogger } from '../src/logger.js'
import { startRun } from '../src/commands/start-run.js'
import { builtInRunbooks } from '../src/runbooks/built-in-runbooks.js'
import { createRunbookCatalog } from '../src/runbooks/catalog.js'

const catalog = createRunbookCatalog(builtInRunbooks)
import { universeTenantIds } from '../src/runbooks/tenant-universe.js'
import { getRun } from '../src/projections/queries.js'

const adminUrl = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const natsUrl = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222'
const tenants = Number(process.env.BENCH_TENANTS ?? 200)
const findingsPerTenant = Number(process.env.BENCH_FINDINGS ?? 1000)
const concurrency = Number(process.env.WORKER_CONCURRENCY ?? 4)
const RUNBOOK = 'findings.lifecycle.backfill'

async function createDatabase(name: string): Promise<Database> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists ${name} with (force)`)
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return connectPostgres(url.toString(), { max: concurrency + 4 })
}

async function dropDatabase(name: string): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists ${name} with (force)`)
  await admin.end()
}

async function seeded(name: string): Promise<Database> {
  const db = await createDatabase(name)
  await applyMigrations(db.sql, [platformSchema])
  await db.sql`insert into tenants (id, workspace_id, name, is_platform) values (1, 1, 'Platform', true)`
  await seedBenchTenants(db.sql, { tenants, findingsPerTenant })
  await db.sql`analyze`
  return db
}

/** The floor: the repair SQL alone, one transaction per tenant, `concurrency` at a time. */
async function plainSql(db: Database): Promise<{ seconds: number; updated: number }> {
  const runbook = catalog.find(RUNBOOK)!
  const ids = await universeTenantIds(db.sql)
  let next = 0
  let updated = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ids.length) {
        const tenantId = ids[next++]!
        const result = await db.sql.begin((tx) => runbook.executeTenant(tx, tenantId, {}))
        updated += (result as { updated: number }).updated
      }
    }),
  )
  return { seconds: (performance.now() - started) / 1000, updated }
}

async function endToEnd(db: Database): Promise<{ seconds: number; updated: number; outcome: string }> {
  const suffix = Date.now().toString(36)
  const config = loadConfig({
    DATABASE_URL: db.url,
    NATS_URL: natsUrl,
    PORT: '0',
    LOG_LEVEL: 'warn',
    WORKER_CONCURRENCY: String(concurrency),
    OPS_DEMO_SEED: 'false',
  })
  const logger = createLogger('warn')
  const { NatsJobQueue } = await import('../src/queue/nats-job-queue.js')
  const queue = await NatsJobQueue.connect({
    url: natsUrl,
    stream: `BENCH_${suffix}`,
    subject: `bench.${suffix}`,
    durable: `bench-${suffix}`,
    ackWaitMs: 60_000,
    maxDeliver: 100,
  })
  const service = await composeService(config, logger, { db, queue, listen: false })
  const actor = {
    operatorId: 'bench',
    email: 'bench@example.com',
    name: 'Bench',
    capabilities: ['platform.runbooks.run', 'platform.runbooks.view', 'platform.ops.view', catalog.find(RUNBOOK)!.requiredCapability],
    isBreakGlass: false,
    ip: null,
    userAgent: null,
  }
  const started = performance.now()
  const { runId } = await startRun({ sql: db.sql, log: service.log, catalog }, actor, {
    runbookKey: RUNBOOK,
    scope: 'all_tenants',
    tenantId: null,
    confirmation: RUNBOOK,
    reason: { code: 'DATA_REPAIR', text: 'benchmark of the all-tenants backfill' },
    source: 'cli',
  })
  const accepted = performance.now()
  let run = await getRun(db.sql, runId)
  while (run?.status !== 'completed') {
    await new Promise((r) => setTimeout(r, 20))
    run = await getRun(db.sql, runId)
  }
  const seconds = (performance.now() - started) / 1000
  const projectedAt = Date.now()
  const { events } = await service.log.read(`run-${runId}`)
  const at = (type: string) => events.find((e) => e.event.type === type)!.recordedAt.getTime()
  const firstResult = at('TenantProcessed')
  console.log(`  start request (validation, preflight of every tenant, two appends): ${((accepted - started) / 1000).toFixed(2)} s`)
  console.log(`  RunRequested → RunStarted (dispatcher): ${((at('RunStarted') - at('RunRequested')) / 1000).toFixed(2)} s`)
  console.log(`  RunStarted → first TenantProcessed: ${((firstResult - at('RunStarted')) / 1000).toFixed(2)} s`)
  console.log(`  first TenantProcessed → RunCompleted (tenant jobs): ${((at('RunCompleted') - firstResult) / 1000).toFixed(2)} s`)
  console.log(`  RunCompleted → projected and seen: ${((projectedAt - at('RunCompleted')) / 1000).toFixed(2)} s`)
  await service.close()
  const jsm = await (await import('nats')).connect({ servers: natsUrl })
  await (await jsm.jetstreamManager()).streams.delete(`BENCH_${suffix}`).catch(() => {})
  await jsm.close()
  await queue.close()
  return { seconds, updated: run.summaryCounts.updated ?? 0, outcome: run.outcome }
}

/** Peak resident memory of this process while `work` runs, sampled every 20 ms. */
async function withPeakRss<T>(work: () => Promise<T>): Promise<{ result: T; peakRssMb: number; baselineRssMb: number }> {
  const baseline = process.memoryUsage().rss
  let peak = baseline
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20)
  try {
    const result = await work()
    peak = Math.max(peak, process.memoryUsage().rss)
    return { result, peakRssMb: peak / 2 ** 20, baselineRssMb: baseline / 2 ** 20 }
  } finally {
    clearInterval(timer)
  }
}

const REPETITIONS = Number(process.env.BENCH_REPETITIONS ?? 3)

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function main() {
  const total = tenants * findingsPerTenant
  console.log(
    `benchmark: all-tenants backfill, ${tenants} tenants × ${findingsPerTenant} findings = ${total} findings, ` +
      `concurrency ${concurrency}, median of ${REPETITIONS} (fresh data each time)`,
  )
  const floorSeconds: number[] = []
  const e2eSeconds: number[] = []
  const ratios: number[] = []
  let memory = { floorGrowth: 0, e2eGrowth: 0, peak: 0 }
  for (let repetition = 1; repetition <= REPETITIONS; repetition++) {
    const floorDb = await seeded('bench_floor')
    const floorRun = await withPeakRss(() => plainSql(floorDb))
    await floorDb.close()
    await dropDatabase('bench_floor')

    const e2eDb = await seeded('bench_e2e')
    const e2eRun = await withPeakRss(() => endToEnd(e2eDb))
    await e2eDb.close()
    await dropDatabase('bench_e2e')

    const floor = floorRun.result
    const e2e = e2eRun.result
    if (floor.updated !== e2e.updated) console.log(`WARNING: updated counts differ (${floor.updated} vs ${e2e.updated})`)
    floorSeconds.push(floor.seconds)
    e2eSeconds.push(e2e.seconds)
    ratios.push(e2e.seconds / floor.seconds)
    console.log(
      `  #${repetition}: floor ${floor.seconds.toFixed(2)} s, end to end ${e2e.seconds.toFixed(2)} s (${e2e.outcome}, ` +
        `updated ${e2e.updated}), ratio ${(e2e.seconds / floor.seconds).toFixed(2)}×`,
    )
    memory = {
      floorGrowth: Math.max(memory.floorGrowth, floorRun.peakRssMb - floorRun.baselineRssMb),
      e2eGrowth: Math.max(memory.e2eGrowth, e2eRun.peakRssMb - e2eRun.baselineRssMb),
      peak: Math.max(memory.peak, e2eRun.peakRssMb),
    }
  }
  const floor = median(floorSeconds)
  const e2e = median(e2eSeconds)
  console.log(`plain SQL (floor):  ${floor.toFixed(2)} s  ${Math.round(total / floor)} findings/s`)
  console.log(`end to end:         ${e2e.toFixed(2)} s  ${Math.round(total / e2e)} findings/s`)
  console.log(`ratio (median of the runs' end-to-end / floor times): ${median(ratios).toFixed(2)}×  (aim: ≤ 2×)`)
  const floorGrowth = Math.max(1, memory.floorGrowth)
  console.log(
    `memory (peak RSS growth of this process): floor ${floorGrowth.toFixed(0)} MiB, end to end ${memory.e2eGrowth.toFixed(0)} MiB ` +
      `(${(memory.e2eGrowth / floorGrowth).toFixed(1)}×; peak RSS ${memory.peak.toFixed(0)} MiB)`,
  )
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
