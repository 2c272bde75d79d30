/**
 * Before-images (SPEC §11, issue 10), on an all-tenants backfill of 200 tenants × 1,000 findings:
 *
 * - End to end, with against without: the whole service run (start → RunCompleted projected) as it runs,
 *   and the same run of the same runbook declaring no repaired table (`repairs: []`: the worker neither
 *   snapshots nor keeps) — what before-images add to the run's time. The service runs in this process
 *   (composeService) so that the runbook can be changed for the run without it.
 * - At the floor: the repair transactions alone, tenant by tenant, without and with
 *   `snapshotTenantRows` → `executeTenant` → `keepBeforeImages`: the stricter share, with where the time goes.
 *
 * Every variant runs on its own copy (CREATE DATABASE … TEMPLATE) of one seeded database per repetition.
 * BENCH_EXPLAIN=1 always prints where one tenant's before-image statements spend their time (auto_explain);
 * printed anyway when the before-images cost more than 15 % of the end-to-end time.
 */
import postgres from 'postgres'
import { performance } from 'node:perf_hooks'
import { loadConfig } from '../../src/config.js'
import { composeService } from '../../src/composition.js'
import { connectPostgres, type Database } from '../../src/db/database.js'
import { keepBeforeImages, snapshotTenantRows } from '../../src/db/before-images.js'
import { createLogger } from '../../src/logger.js'
import { startRun } from '../../src/commands/start-run.js'
import { builtInRunbooks } from '../../src/runbooks/built-in-runbooks.js'
import { createRunbookCatalog, repairedTables } from '../../src/runbooks/catalog.js'
import { universeTenantIds } from '../../src/runbooks/tenant-universe.js'
import { getRun } from '../../src/projections/queries.js'
import type { Part } from '../lib/part.js'
import { concurrency, natsUrl, repetitions, RUNBOOK, runTimeoutMs, scaled } from '../lib/env.js'
import { createDatabase, databaseUrl, dropDatabase, seedTemplate } from '../lib/pg.js'
import { natsStream } from '../lib/service.js'
import { BEFORE_IMAGE_RUN, catalog, repairTransactions, type RepairTimes } from '../lib/floor.js'
import { median } from '../lib/stats.js'

async function openCopy(template: string, suffix: string): Promise<Database> {
  const name = await createDatabase(suffix, template)
  return connectPostgres(databaseUrl(name), { max: concurrency + 4 })
}

async function closeCopy(db: Database): Promise<void> {
  await db.close()
  await dropDatabase(new URL(db.url).pathname.slice(1))
}

/** What the before-images of a run take on disk. */
async function beforeImageBytes(db: Database): Promise<{ images: number; totalBytes: number; tableBytes: number; indexBytes: number; payloadBytes: number }> {
  const [row] = await db.sql<Array<{ images: number; total: string; heap: string; indexes: string; payload: string | null }>>`
    select (select coalesce(sum(row_count), 0) from ops_before_images)::integer as images,
      pg_total_relation_size('ops_before_images')::text as total,
      pg_table_size('ops_before_images')::text as heap,
      pg_indexes_size('ops_before_images')::text as indexes,
      (select sum(coalesce(pg_column_size(images), 0) + coalesce(pg_column_size(befores), 0) + coalesce(pg_column_size(row_ids), 0) + coalesce(pg_column_size(written), 0))::float8 / nullif(sum(row_count), 0) from ops_before_images)::text as payload`
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
async function explainOneTenant(template: string): Promise<void> {
  const db = await openCopy(template, 'explain')
  const notices: string[] = []
  const sql = postgres(db.url, { max: 1, onnotice: (notice) => notices.push(String(notice.message)) })
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
        const snapshots = await snapshotTenantRows(tx, tenantId!, tables)
        const repair = await runbook.executeTenant(tx, tenantId!, {})
        const kept = await keepBeforeImages(tx, BEFORE_IMAGE_RUN, tenantId!, snapshots)
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
    await closeCopy(db)
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

async function endToEnd(db: Database, beforeImages: boolean): Promise<{ seconds: number; updated: number; outcome: string }> {
  const runCatalog = benchCatalog(beforeImages)
  const stream = natsStream(`bi_${beforeImages ? 'with' : 'without'}_${Date.now().toString(36)}`)
  const config = loadConfig({
    DATABASE_URL: db.url,
    NATS_URL: natsUrl,
    PORT: '0',
    LOG_LEVEL: 'warn',
    WORKER_CONCURRENCY: String(concurrency),
    OPS_DEMO_SEED: 'false',
  })
  const logger = createLogger('warn')
  const { NatsJobQueue } = await import('../../src/queue/nats-job-queue.js')
  const queue = await NatsJobQueue.connect({
    url: natsUrl,
    stream: stream.name,
    subject: `bench.${stream.name}`,
    durable: `${stream.name}-workers`,
    ackWaitMs: 60_000,
    maxDeliver: 100,
  })
  try {
    const service = await composeService(config, logger, { db, queue, listen: false, runbooks: runCatalog.runbooks })
    try {
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
      let run = await getRun(db.sql, runId)
      while (run?.status !== 'completed') {
        if (performance.now() - started > runTimeoutMs) throw new Error(`run ${runId} not completed after ${runTimeoutMs / 1000} s`)
        await new Promise((r) => setTimeout(r, 20))
        run = await getRun(db.sql, runId)
      }
      const seconds = (performance.now() - started) / 1000
      return { seconds, updated: run.summaryCounts.updated ?? 0, outcome: run.outcome }
    } finally {
      await service.close()
    }
  } finally {
    await queue.close()
    await stream.remove()
  }
}

export const beforeImagesPart: Part = {
  name: 'before-images',
  summary: 'what before-images (SPEC §11) add: end to end with against without, and at the floor (200 × 1,000)',
  async run() {
    const tenants = scaled(200)
    const findingsPerTenant = 1000
    const total = tenants * findingsPerTenant
    const count = repetitions(5)
    console.log(
      `before-images: all-tenants backfill, ${tenants} tenants × ${findingsPerTenant} findings = ${total} findings, ` +
        `concurrency ${concurrency}, median of ${count} (a fresh copy of one seeded database for each variant; the service in this process)`,
    )
    const imagesSeconds: number[] = []
    const floorSeconds: number[] = []
    const e2eSeconds: number[] = []
    const overheadOfE2e: number[] = []
    const overheadOfFloor: number[] = []
    const e2eWithoutSeconds: number[] = []
    const e2eAdded: number[] = []
    let lastImages: { run: RepairTimes; bytes: Awaited<ReturnType<typeof beforeImageBytes>> } | null = null
    const template = await seedTemplate({ tenants, findings: findingsPerTenant }, 'tpl_bi')
    try {
      for (let repetition = 1; repetition <= count; repetition++) {
        // The floor and the before-image variant take turns going first, so neither always finds the cache warmer.
        let floor: RepairTimes | null = null
        let imagesRun: { run: RepairTimes; bytes: Awaited<ReturnType<typeof beforeImageBytes>> } | null = null
        for (const variant of repetition % 2 === 1 ? (['floor', 'images'] as const) : (['images', 'floor'] as const)) {
          const db = await openCopy(template, `bi_${variant}`)
          try {
            if (variant === 'floor') floor = await repairTransactions(db.sql, concurrency)
            else {
              const run = await repairTransactions(db.sql, concurrency, true)
              imagesRun = { run, bytes: await beforeImageBytes(db) }
            }
          } finally {
            await closeCopy(db)
          }
        }
        // The end-to-end run with before-images (as the service runs) and without them take turns going first too.
        let e2e: Awaited<ReturnType<typeof endToEnd>> | null = null
        let e2eWithout: Awaited<ReturnType<typeof endToEnd>> | null = null
        for (const withImages of repetition % 2 === 1 ? [true, false] : [false, true]) {
          const db = await openCopy(template, `bi_e2e_${withImages ? 'with' : 'without'}`)
          try {
            if (withImages) e2e = await endToEnd(db, true)
            else e2eWithout = await endToEnd(db, false)
          } finally {
            await closeCopy(db)
          }
        }

        const images = imagesRun!.run
        e2eWithoutSeconds.push(e2eWithout!.seconds)
        e2eAdded.push((e2e!.seconds - e2eWithout!.seconds) / e2e!.seconds)
        if (floor!.updated !== e2e!.updated) console.log(`WARNING: updated counts differ (${floor!.updated} vs ${e2e!.updated})`)
        if (images.updated !== floor!.updated || images.images !== floor!.updated) {
          console.log(`WARNING: before-image variant updated ${images.updated}, kept ${images.images} images (floor updated ${floor!.updated})`)
        }
        floorSeconds.push(floor!.seconds)
        imagesSeconds.push(images.seconds)
        e2eSeconds.push(e2e!.seconds)
        overheadOfE2e.push((images.seconds - floor!.seconds) / e2e!.seconds)
        overheadOfFloor.push((images.seconds - floor!.seconds) / floor!.seconds)
        console.log(
          `  #${repetition}: floor ${floor!.seconds.toFixed(2)} s, end to end ${e2e!.seconds.toFixed(2)} s (${e2e!.outcome}, ` +
            `updated ${e2e!.updated}), ratio ${(e2e!.seconds / floor!.seconds).toFixed(2)}×; ` +
            `floor + before-images ${images.seconds.toFixed(2)} s (${images.images} images); end to end without before-images ${e2eWithout!.seconds.toFixed(2)} s`,
        )
        lastImages = imagesRun
      }
      console.log(`plain SQL (floor):  ${median(floorSeconds).toFixed(2)} s  ${Math.round(total / median(floorSeconds))} findings/s`)
      console.log(`end to end (service in this process): ${median(e2eSeconds).toFixed(2)} s  ${Math.round(total / median(e2eSeconds))} findings/s`)

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
          `indexes ${perImage(bytes.indexBytes).toFixed(0)} B), the values before, row ids and hashes of what the run wrote ${bytes.payloadBytes.toFixed(0)} B (pg_column_size of a tenant's images, compressed, per image)`,
      )
      if (overhead > 0.15 || process.env.BENCH_EXPLAIN === '1') {
        if (overhead > 0.15) console.log(`BEFORE-IMAGE OVERHEAD ABOVE 15 % OF THE END-TO-END RUN (${(100 * overhead).toFixed(1)} %): one tenant under auto_explain`)
        else console.log('one tenant under auto_explain (BENCH_EXPLAIN=1):')
        await explainOneTenant(template)
      }
    } finally {
      await dropDatabase(template)
    }
    return {}
  },
}
