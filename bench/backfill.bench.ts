/**
 * End-to-end benchmark of an all-tenants backfill (start → RunCompleted projected) on PostgreSQL + NATS
 * JetStream, against its physical floor measured in the same run: the same repair SQL, tenant by tenant in
 * one transaction each, with the same concurrency and nothing else (no events, no queue, no projections).
 * Figures are reported as ratios; no test asserts a duration.
 *
 * Before-images (SPEC §11): the same repair transactions once more with what the tenant worker adds around
 * the repair (snapshotTenantRows → executeTenant → keepBeforeImages), on a copy of the same seeded data,
 * reported as a share of the end-to-end time and of the floor, with the bytes each changed finding costs.
 * Every variant runs on its own copy (CREATE DATABASE … TEMPLATE) of one seeded database per repetition.
 *
 *   BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_NATS_URL     (default nats://127.0.0.1:4222)
 *   BENCH_TENANTS (200), BENCH_FINDINGS (1000), WORKER_CONCURRENCY (4), BENCH_REPETITIONS (3)
 *   BENCH_EXPLAIN=1    always print where one tenant's before-image statements spend their time (auto_explain);
 *                      printed anyway when the before-images cost more than 15 % of the end-to-end time
 */
import postgres from 'postgres'
import { performance } from 'node:perf_hooks'
import { loadConfig } from '../src/config.js'
import { composeService } from '../src/composition.js'
import { connectPostgres, type Database } from '../src/db/database.js'
import { seedBenchTenants } from '../src/db/demo-seed.js'
import { beforeImageSchema, keepBeforeImages, snapshotTenantRows } from '../src/db/before-images.js'
import { applyMigrations } from '../src/db/migrations.js'
import { platformSchema } from '../src/db/schema.js'
import { createLogger } from '../src/logger.js'
import { startRun } from '../src/commands/start-run.js'
import { builtInRunbooks } from '../src/runbooks/built-in-runbooks.js'
import { createRunbookCatalog, repairedTables } from '../src/runbooks/catalog.js'

const catalog = createRunbookCatalog(builtInRunbooks)
import { universeTenantIds } from '../src/runbooks/tenant-universe.js'
import { getRun } from '../src/projections/queries.js'

const adminUrl = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const natsUrl = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222'
const tenants = Number(process.env.BENCH_TENANTS ?? 200)
const findingsPerTenant = Number(process.env.BENCH_FINDINGS ?? 1000)
const concurrency = Number(process.env.WORKER_CONCURRENCY ?? 4)
const RUNBOOK = 'findings.lifecycle.backfill'

function databaseUrl(name: string): string {
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** A new database, empty or a copy of `template` (which nobody may be connected to). */
async function createDatabase(name: string, template?: string): Promise<Database> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists ${name} with (force)`)
  await admin.unsafe(`create database ${name}${template ? ` template ${template}` : ''}`)
  await admin.end()
  return connectPostgres(databaseUrl(name), { max: concurrency + 4 })
}

async function dropDatabase(name: string): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists ${name} with (force)`)
  await admin.end()
}

const SEED_TEMPLATE = 'bench_seed'

/** The seeded data every variant of one repetition copies (the before-images table included, empty). */
async function seedTemplate(): Promise<void> {
  const db = await createDatabase(SEED_TEMPLATE)
  await applyMigrations(db.sql, [platformSchema, beforeImageSchema])
  await db.sql`insert into tenants (id, workspace_id, name, is_platform) values (1, 1, 'Platform', true)`
  await seedBenchTenants(db.sql, { tenants, findingsPerTenant })
  await db.sql`analyze`
  await db.close()
}

/** A fresh copy of the seeded data (statistics included). */
function seeded(name: string): Promise<Database> {
  return createDatabase(name, SEED_TEMPLATE)
}

interface RepairTimes {
  seconds: number
  updated: number
  /** Before-images kept (0 for the floor). */
  images: number
  /** Time spent in each statement, summed over the tenants (the workers overlap: compare as shares). */
  phases: { snapshot: number; repair: number; keep: number; transaction: number }
}

const BEFORE_IMAGE_RUN = 'bench-before-images'

/**
 * The repair transactions alone, one per tenant, `concurrency` at a time: the floor (the repair SQL only),
 * or, `withBeforeImages`, what the tenant worker runs in that transaction (SPEC §11): the tenant's rows
 * copied, the repair, the before-images of the changed rows kept.
 */
async function repairTransactions(db: Database, withBeforeImages: boolean): Promise<RepairTimes> {
  const runbook = catalog.find(RUNBOOK)!
  const tables = repairedTables(runbook)
  const ids = await universeTenantIds(db.sql)
  let next = 0
  let updated = 0
  let images = 0
  const phases = { snapshot: 0, repair: 0, keep: 0, transaction: 0 }
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ids.length) {
        const tenantId = ids[next++]!
        const began = performance.now()
        const result = await db.sql.begin(async (tx) => {
          if (!withBeforeImages) return { repair: await runbook.executeTenant(tx, tenantId, {}), kept: 0 }
          const t0 = performance.now()
          await snapshotTenantRows(tx, tenantId, tables)
          const t1 = performance.now()
          const repair = await runbook.executeTenant(tx, tenantId, {})
          const t2 = performance.now()
          const kept = await keepBeforeImages(tx, BEFORE_IMAGE_RUN, tenantId, tables)
          phases.snapshot += t1 - t0
          phases.repair += t2 - t1
          phases.keep += performance.now() - t2
          return { repair, kept }
        })
        phases.transaction += performance.now() - began
        updated += result.repair.updated
        images += result.kept
      }
    }),
  )
  return { seconds: (performance.now() - started) / 1000, updated, images, phases }
}

/** The floor: the repair SQL alone, one transaction per tenant, `concurrency` at a time. */
function plainSql(db: Database): Promise<RepairTimes> {
  return repairTransactions(db, false)
}

/** What the before-images of a run take on disk. */
async function beforeImageBytes(db: Database): Promise<{ images: number; totalBytes: number; tableBytes: number; indexBytes: number; payloadBytes: number }> {
  const [row] = await db.sql<Array<{ images: number; total: string; heap: string; indexes: string; payload: string | null }>>`
    select (select coalesce(sum(row_count), 0) from ops_before_images)::integer as images,
      pg_total_relation_size('ops_before_images')::text as total,
      pg_table_size('ops_before_images')::text as heap,
      pg_indexes_size('ops_before_images')::text as indexes,
      (select sum(pg_column_size(images))::float8 / nullif(sum(row_count), 0) from ops_before_images)::text as payload`
  return {
    images: row!.images,
    totalBytes: Number(row!.total),
    tableBytes: Number(row!.heap),
    indexBytes: Number(row!.indexes),
    payloadBytes: Number(row!.payload ?? 0),
  }
}

/**
 * Where one tenant's before-image statements spend their time: the tenant worker's statements run once
 * under auto_explain (ANALYZE, BUFFERS; plans sent back as notices), in a transaction rolled back.
 */
async function explainOneTenant(name: string): Promise<void> {
  const db = await createDatabase(name, SEED_TEMPLATE)
  const notices: string[] = []
  const sql = postgres(databaseUrl(name), { max: 1, onnotice: (notice) => notices.push(String(notice.message)) })
  try {
    const runbook = catalog.find(RUNBOOK)!
    const tables = repairedTables(runbook)
    const [tenantId] = await universeTenantIds(db.sql)
    const rollback = new Error('rollback')
    await sql
      .begin(async (tx) => {
        await tx.unsafe(`load 'auto_explain'`)
        for (const [setting, value] of [
          ['auto_explain.log_min_duration', '0'],
          ['auto_explain.log_analyze', 'on'],
          ['auto_explain.log_buffers', 'on'],
          ['auto_explain.log_level', 'notice'],
        ]) {
          await tx`select set_config(${setting!}, ${value!}, true)`
        }
        notices.length = 0
        await snapshotTenantRows(tx, tenantId!, tables)
        const repair = await runbook.executeTenant(tx, tenantId!, {})
        const kept = await keepBeforeImages(tx, BEFORE_IMAGE_RUN, tenantId!, tables)
        console.log(`  one tenant (${tenantId}): ${repair.total} findings, ${repair.updated} updated, ${kept} before-images`)
        throw rollback
      })
      .catch((error: unknown) => {
        if (error !== rollback) throw error
      })
    const statements = notices.filter((notice) => notice.includes('Query Text:') && !notice.includes('set_config'))
    for (const plan of statements) {
      const duration = /duration: ([\d.]+) ms/.exec(plan)?.[1]
      const text = /Query Text: ([\s\S]*?)\n(?=\S)/.exec(plan)?.[1]?.replace(/\s+/g, ' ').trim() ?? ''
      const isKeep = text.includes('ops_before_images')
      console.log(`  ${duration ?? '?'} ms  ${text.slice(0, 110)}${text.length > 110 ? '…' : ''}`)
      if (isKeep) console.log(plan.replace(/^[\s\S]*?\n(?=\S*(Aggregate|Insert|CTE|Result))/, '').replace(/^/gm, '      '))
    }
  } finally {
    await sql.end({ timeout: 5 })
    await db.close()
    await dropDatabase(name)
  }
}

/**
 * The catalog of an end-to-end run. Without before-images: the same runbook declaring no platform table it
 * repairs (`repairs: []`), so the worker neither snapshots nor keeps — the run SPEC §11's cost is measured against.
 */
function benchCatalog(beforeImages: boolean) {
  if (beforeImages) return catalog
  return createRunbookCatalog(builtInRunbooks.map((runbook) => (runbook.key === RUNBOOK ? { ...runbook, repairs: [] } : runbook)))
}

async function endToEnd(db: Database, beforeImages = true): Promise<{ seconds: number; updated: number; outcome: string }> {
  const runCatalog = benchCatalog(beforeImages)
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
  const service = await composeService(config, logger, { db, queue, listen: false, runbooks: runCatalog.runbooks })
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
  const { runId } = await startRun({ sql: db.sql, log: service.log, catalog: runCatalog }, actor, {
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
      `concurrency ${concurrency}, median of ${REPETITIONS} (fresh copy of the same seeded data for each variant)`,
  )
  const floorSeconds: number[] = []
  const imagesSeconds: number[] = []
  const e2eSeconds: number[] = []
  const ratios: number[] = []
  const overheadOfE2e: number[] = []
  const overheadOfFloor: number[] = []
  const e2eWithoutSeconds: number[] = []
  const e2eAdded: number[] = []
  let memory = { floorGrowth: 0, e2eGrowth: 0, peak: 0 }
  let lastImages: { run: RepairTimes; bytes: Awaited<ReturnType<typeof beforeImageBytes>> } | null = null
  for (let repetition = 1; repetition <= REPETITIONS; repetition++) {
    await seedTemplate()
    // The floor and the before-image variant take turns going first, so neither always finds the cache warmer.
    const variants = repetition % 2 === 1 ? (['floor', 'images'] as const) : (['images', 'floor'] as const)
    let floorRun: Awaited<ReturnType<typeof withPeakRss<RepairTimes>>> | null = null
    let imagesRun: { run: RepairTimes; bytes: Awaited<ReturnType<typeof beforeImageBytes>> } | null = null
    for (const variant of variants) {
      if (variant === 'floor') {
        const floorDb = await seeded('bench_floor')
        floorRun = await withPeakRss(() => plainSql(floorDb))
        await floorDb.close()
        await dropDatabase('bench_floor')
      } else {
        const imagesDb = await seeded('bench_images')
        const run = await repairTransactions(imagesDb, true)
        imagesRun = { run, bytes: await beforeImageBytes(imagesDb) }
        await imagesDb.close()
        await dropDatabase('bench_images')
      }
    }

    // The end-to-end run with before-images (as the service runs) and without them take turns going first too.
    let e2eRun: Awaited<ReturnType<typeof withPeakRss<Awaited<ReturnType<typeof endToEnd>>>>> | null = null
    let e2eWithout: Awaited<ReturnType<typeof endToEnd>> | null = null
    for (const withImages of repetition % 2 === 1 ? [true, false] : [false, true]) {
      const e2eDb = await seeded('bench_e2e')
      if (withImages) e2eRun = await withPeakRss(() => endToEnd(e2eDb))
      else e2eWithout = await endToEnd(e2eDb, false)
      await e2eDb.close()
      await dropDatabase('bench_e2e')
    }
    if (repetition < REPETITIONS) await dropDatabase(SEED_TEMPLATE)

    const floor = floorRun!.result
    const images = imagesRun!.run
    const e2e = e2eRun!.result
    e2eWithoutSeconds.push(e2eWithout!.seconds)
    e2eAdded.push((e2e.seconds - e2eWithout!.seconds) / e2e.seconds)
    if (floor.updated !== e2e.updated) console.log(`WARNING: updated counts differ (${floor.updated} vs ${e2e.updated})`)
    if (images.updated !== floor.updated || images.images !== floor.updated) {
      console.log(`WARNING: before-image variant updated ${images.updated}, kept ${images.images} images (floor updated ${floor.updated})`)
    }
    floorSeconds.push(floor.seconds)
    imagesSeconds.push(images.seconds)
    e2eSeconds.push(e2e.seconds)
    ratios.push(e2e.seconds / floor.seconds)
    overheadOfE2e.push((images.seconds - floor.seconds) / e2e.seconds)
    overheadOfFloor.push((images.seconds - floor.seconds) / floor.seconds)
    console.log(
      `  #${repetition}: floor ${floor.seconds.toFixed(2)} s, end to end ${e2e.seconds.toFixed(2)} s (${e2e.outcome}, ` +
        `updated ${e2e.updated}), ratio ${(e2e.seconds / floor.seconds).toFixed(2)}×; ` +
        `floor + before-images ${images.seconds.toFixed(2)} s (${images.images} images); end to end without before-images ${e2eWithout!.seconds.toFixed(2)} s`,
    )
    memory = {
      floorGrowth: Math.max(memory.floorGrowth, floorRun!.peakRssMb - floorRun!.baselineRssMb),
      e2eGrowth: Math.max(memory.e2eGrowth, e2eRun!.peakRssMb - e2eRun!.baselineRssMb),
      peak: Math.max(memory.peak, e2eRun!.peakRssMb),
    }
    lastImages = imagesRun
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

  // SPEC §11 before-images. The end-to-end run already keeps them (the tenant worker does); this is their share.
  const withImages = median(imagesSeconds)
  const overhead = median(overheadOfE2e)
  console.log(
    `end to end without before-images: ${median(e2eWithoutSeconds).toFixed(2)} s; before-images add ` +
      `${(100 * median(e2eAdded)).toFixed(1)} % of the end-to-end run's time (median of the runs' (with − without) / with; budget: ≤ 15 %)`,
  )
  console.log(`floor + before-images (snapshot → repair → keep per tenant): ${withImages.toFixed(2)} s  ${Math.round(total / withImages)} findings/s`)
  console.log(
    `before-image overhead (median of the runs' (with − without) / time): ${(100 * overhead).toFixed(1)} % of the end-to-end run, ` +
      `${(100 * median(overheadOfFloor)).toFixed(1)} % of the floor  (budget: ≤ 15 % of end to end)`,
  )
  const { run, bytes } = lastImages!
  const statements = run.phases.snapshot + run.phases.repair + run.phases.keep
  const share = (ms: number) => `${((100 * ms) / run.phases.transaction).toFixed(0)} %`
  console.log(
    `  where a before-image transaction's time goes (last run): snapshot ${share(run.phases.snapshot)}, repair ${share(run.phases.repair)}, ` +
      `keep ${share(run.phases.keep)}, begin/commit and the rest ${share(run.phases.transaction - statements)}`,
  )
  const perImage = (value: number) => (bytes.images === 0 ? 0 : value / bytes.images)
  console.log(
    `before-image bytes per changed finding: ${perImage(bytes.totalBytes).toFixed(0)} B on disk ` +
      `(pg_total_relation_size ${(bytes.totalBytes / 2 ** 20).toFixed(1)} MiB / ${bytes.images} images; table ${perImage(bytes.tableBytes).toFixed(0)} B, ` +
      `indexes ${perImage(bytes.indexBytes).toFixed(0)} B), before + after values ${bytes.payloadBytes.toFixed(0)} B (pg_column_size of a tenant's images, compressed, per image)`,
  )
  if (overhead > 0.15 || process.env.BENCH_EXPLAIN === '1') {
    if (overhead > 0.15) console.log(`BEFORE-IMAGE OVERHEAD ABOVE 15 % OF THE END-TO-END RUN (${(100 * overhead).toFixed(1)} %): one tenant under auto_explain`)
    else console.log('one tenant under auto_explain (BENCH_EXPLAIN=1):')
    await explainOneTenant('bench_explain')
  }
  await dropDatabase(SEED_TEMPLATE)
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
