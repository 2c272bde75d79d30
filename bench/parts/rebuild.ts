/**
 * Projection rebuild from zero against a raw ordered read of the same events. The event store is a real
 * one: the database of a completed all-tenants backfill of ~2,000 tenants through the service, topped up
 * with more all-tenants runs through the service (the SLA recalculation, the backfill again) until it
 * holds at least ~10,000 events. Then (a) the service's rebuild — what `npm run rebuild-projections`
 * (src/rebuild-projections.ts) does: `rebuildReadModels` over the configured event store — and (b)
 * `select … from event_store_events order by global_position`, read fully in keyset pages of the
 * projector's batch size, every column the projector reads (JSON parsed). Beside them, what writing the
 * rebuilt rows costs at the least: the same rows as plain inserts into empty tables (see `bareWrite`).
 */
import { performance } from 'node:perf_hooks'
import { connectEventStore } from '../../src/composition.js'
import { loadConfig } from '../../src/config.js'
import { connectPostgres } from '../../src/db/database.js'
import { Projector, type Projection } from '../../src/projections/projector.js'
import { readModelProjections, readModelProjectorName, rebuiltReadModelTables } from '../../src/projections/read-model-projections.js'
import { dropSecondaryIndexes, rebuildReadModels } from '../../src/projections/read-model-rebuild.js'
import type { EventStore } from '../../src/store/event-store.js'
import type { Part, RunDatabase } from '../lib/part.js'
import { scale } from '../lib/env.js'
import { databaseUrl } from '../lib/pg.js'
import { getToken, natsStream, startAllTenantsRun, startPostgresService, waitForCompletion } from '../lib/service.js'
import { median } from '../lib/stats.js'

const PAGE = 500
/** Rows a bare write's insert carries: the projector's batch size. */
const PAGE_OF_ROWS = 2_000
const TARGET_EVENTS = Math.round(10_000 * Math.min(1, scale))
const EXTRA_RUNBOOKS = ['findings.sla.recalculate', 'findings.lifecycle.backfill', 'findings.sla.recalculate', 'findings.lifecycle.backfill']

async function countEvents(url: string): Promise<number> {
  const db = await connectPostgres(url, { max: 1 })
  try {
    const [row] = await db.sql<Array<{ n: number }>>`select count(*)::int as n from event_store_events`
    return row!.n
  } finally {
    await db.close()
  }
}

/** More all-tenants runs through the service until the store holds TARGET_EVENTS (at most four). */
async function topUp(database: RunDatabase): Promise<number> {
  const url = databaseUrl(database.name)
  let events = await countEvents(url)
  if (events >= TARGET_EVENTS) return events
  const stream = natsStream('rebuild_topup')
  try {
    const service = await startPostgresService({ label: 'service rebuild top-up', databaseUrl: url, stream: stream.name })
    try {
      const token = await getToken(service.url)
      for (const runbook of EXTRA_RUNBOOKS) {
        if (events >= TARGET_EVENTS) break
        const started = performance.now()
        const { runId } = await startAllTenantsRun(service.url, token, { runbook, reason: 'benchmark: more events for the rebuild' })
        const run = await waitForCompletion(service.url, token, runId, { alive: () => service.assertAlive() })
        events = await countEvents(url)
        console.log(`  + ${runbook} over ${run.summaryCounts.tenants} tenants (${run.outcome}, ${((performance.now() - started) / 1000).toFixed(1)} s): ${events} events`)
      }
    } finally {
      await service.stop()
    }
  } finally {
    await stream.remove()
  }
  return events
}

/** The raw floor: every event in global order, keyset pages of PAGE, JSON parsed by the driver. */
async function rawRead(url: string): Promise<{ events: number; seconds: number }> {
  const db = await connectPostgres(url, { max: 1 })
  try {
    const started = performance.now()
    let after = 0n
    let events = 0
    for (;;) {
      const rows = await db.sql<Array<{ global_position: string }>>`
        select global_position, transaction_id::text, stream_id, revision, event_id, type, version, data, metadata, recorded_at
        from event_store_events where global_position > ${after.toString()} order by global_position limit ${PAGE}`
      if (rows.length === 0) break
      events += rows.length
      after = BigInt(rows[rows.length - 1]!.global_position)
    }
    return { events, seconds: (performance.now() - started) / 1000 }
  } finally {
    await db.close()
  }
}

/**
 * The writing floor of a rebuild: every row of the rebuilt tables, read first (not timed), then written
 * again into empty copies of the tables (their keys and constraints, no secondary index: the rebuild makes
 * those after its replay) as plain multi-row inserts of PAGE_OF_ROWS rows, each its own transaction, the
 * rows sent as JSON. No upsert, no decoding of events, no checksums: a plain-insert reference for what
 * writing the rows back costs (not a proven minimum: `COPY` might do better).
 */
async function bareWrite(url: string): Promise<{ rows: number; seconds: number }> {
  const db = await connectPostgres(url, { max: 1 })
  const schema = 'bench_write_floor'
  try {
    await db.sql.unsafe(`drop schema if exists ${schema} cascade`)
    await db.sql.unsafe(`create schema ${schema}`)
    const tables: Array<{ table: string; rows: unknown[] }> = []
    for (const table of rebuiltReadModelTables) {
      // Unqualified, the live table (the new schema is not on the search_path).
      await db.sql.unsafe(`create table ${schema}.${table} (like ${table} including all)`)
      tables.push({ table, rows: await db.sql.unsafe(`select * from ${table}`) })
    }
    await dropSecondaryIndexes(db.sql, schema)
    const started = performance.now()
    for (const { table, rows } of tables) {
      for (let index = 0; index < rows.length; index += PAGE_OF_ROWS) {
        const page = JSON.stringify(rows.slice(index, index + PAGE_OF_ROWS))
        await db.sql.begin((tx) => tx.unsafe(`insert into ${schema}.${table} select * from json_populate_recordset(null::${schema}.${table}, $1::text::json)`, [page]))
      }
    }
    return { rows: tables.reduce((sum, t) => sum + t.rows.length, 0), seconds: (performance.now() - started) / 1000 }
  } finally {
    await db.sql.unsafe(`drop schema if exists ${schema} cascade`).catch(() => {})
    await db.close()
  }
}

/**
 * What `npm run rebuild-projections` does (src/rebuild-projections.ts, SPEC §12): `rebuildReadModels`, the
 * replay into new tables, their secondary indexes, the switch. Timed whole, and split by its log lines.
 */
async function rebuild(
  url: string,
): Promise<{ events: number; seconds: number; phases: { making: number; replay: number; indexing: number; switching: number } }> {
  const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'warn' })
  const db = await connectPostgres(url)
  try {
    const store = await connectEventStore(config, db)
    try {
      let made = 0
      let replayed = 0
      let indexed = 0
      const logger = {
        info: (_obj: Record<string, unknown>, msg: string) => {
          if (msg.startsWith('rebuilding the read models')) made = performance.now()
          if (msg.startsWith('read models replayed')) replayed = performance.now()
          if (msg.startsWith('secondary indexes built')) indexed = performance.now()
        },
        error: (obj: Record<string, unknown>, msg: string) => console.error(msg, obj),
      }
      const started = performance.now()
      const report = await rebuildReadModels({ sql: db.sql, store, consoleBaseUrl: config.publicUrl, logger })
      const ended = performance.now()
      if (!report.same) console.log('  WARNING: the rebuilt read models differ from the live ones')
      return {
        events: report.events,
        seconds: (ended - started) / 1000,
        phases: {
          making: (made - started) / 1000,
          replay: (replayed - made) / 1000,
          indexing: (indexed - replayed) / 1000,
          switching: (ended - indexed) / 1000,
        },
      }
    } finally {
      await store.close()
    }
  } finally {
    await db.close()
  }
}

/**
 * Where a replay's time goes: an in-place replay (`Projector.rebuild()`, the same projections and batches as the
 * rebuild's replay into new tables), each projection's `apply` and the store's reads timed (the reads run ahead
 * of the applying, on another connection: their sum is not added to the applying's).
 */
async function rebuildSplit(url: string): Promise<{ seconds: number; reading: number; applying: Record<string, number> }> {
  const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'warn' })
  const db = await connectPostgres(url)
  try {
    const store = await connectEventStore(config, db)
    try {
      let reading = 0
      const applying: Record<string, number> = {}
      const timedStore = new Proxy(store, {
        get(target, property, receiver) {
          if (property !== 'readAll') return Reflect.get(target, property, receiver) as unknown
          return async (...args: Parameters<EventStore['readAll']>) => {
            const started = performance.now()
            try {
              return await target.readAll(...args)
            } finally {
              reading += performance.now() - started
            }
          }
        },
      })
      const projections = readModelProjections({ consoleBaseUrl: config.publicUrl }).map(
        (projection): Projection => ({
          ...projection,
          async apply(tx, events) {
            const started = performance.now()
            await projection.apply(tx, events)
            applying[projection.name] = (applying[projection.name] ?? 0) + (performance.now() - started) / 1000
          },
        }),
      )
      const projector = new Projector({ store: timedStore, sql: db.sql, name: readModelProjectorName, projections, logger: { info: () => {}, error: () => {} } })
      const started = performance.now()
      await projector.rebuild()
      return { seconds: (performance.now() - started) / 1000, reading: reading / 1000, applying }
    } finally {
      await store.close()
    }
  } finally {
    await db.close()
  }
}

export const rebuildPart: Part = {
  name: 'rebuild',
  summary: 'projection rebuild from zero vs a raw ordered read of the same events',
  async run(context) {
    const database = await context.completedRun()
    const url = databaseUrl(database.name)
    await topUp(database)
    const events = await countEvents(url)
    console.log(`event store: ${events} events (a completed backfill of ${database.tenants} tenants × ${database.findings} findings and the runs above)`)
    const raw: number[] = []
    for (let index = 0; index < 3; index++) {
      const read = await rawRead(url)
      if (read.events !== events) console.log(`  WARNING: the raw read saw ${read.events} events, the store holds ${events}`)
      raw.push(read.seconds)
    }
    const rebuilt = await rebuild(url)
    const rawRate = events / median(raw)
    const rebuildRate = rebuilt.events / rebuilt.seconds
    console.log(`  raw ordered read (pages of ${PAGE}): ${median(raw).toFixed(3)} s, ${Math.round(rawRate)} events/s (median of 3)`)
    console.log(
      `  projection rebuild from zero (as npm run rebuild-projections: into new tables, then switched): ${rebuilt.seconds.toFixed(2)} s for ${rebuilt.events} events, ` +
        `${Math.round(rebuildRate)} events/s (the new tables made ${rebuilt.phases.making.toFixed(2)} s, the replay ${rebuilt.phases.replay.toFixed(2)} s, ` +
        `secondary indexes ${rebuilt.phases.indexing.toFixed(2)} s, the switch ${rebuilt.phases.switching.toFixed(2)} s)`,
    )
    if (rebuilt.events !== events) console.log(`  WARNING: the rebuild replayed ${rebuilt.events} events, the store holds ${events}`)
    console.log(`  rebuild / raw read: ${(rebuildRate / rawRate).toFixed(4)}×`)
    const writes: Array<{ rows: number; seconds: number }> = []
    for (let index = 0; index < 3; index++) writes.push(await bareWrite(url))
    const write = median(writes.map((w) => w.seconds))
    console.log(
      `  the floor of writing: the ${writes[0]!.rows} rebuilt rows as plain inserts into empty tables ${write.toFixed(3)} s (median of 3); ` +
        `the raw read and it one after the other ${(median(raw) + write).toFixed(3)} s, ${(median(raw) / (median(raw) + write)).toFixed(3)}× the raw read's rate`,
    )
    // What SPEC §12's rebuild is at the least, done this service's way: every event read and every row written
    // (at best at once: the larger of the two), the new tables made, indexed and switched to with their
    // checksums (those three phases as this run's rebuild took them).
    const fixed = rebuilt.phases.making + rebuilt.phases.indexing + rebuilt.phases.switching
    const specFloor = median(raw) / (Math.max(median(raw), write) + fixed)
    console.log(
      `  the spec's work alone: the read and the write overlapped perfectly (${Math.max(median(raw), write).toFixed(3)} s) and the tables made, indexed ` +
        `and switched (${fixed.toFixed(3)} s): ${specFloor.toFixed(3)}× the raw read's rate; the rebuild ${(rebuildRate / rawRate / specFloor).toFixed(2)}× that`,
    )
    const split = await rebuildSplit(url)
    console.log(
      `  where a rebuild's time goes (an in-place replay, timed inside: ${split.seconds.toFixed(2)} s): the store's reads ${split.reading.toFixed(2)} s (ahead of the applying, beside it), ` +
        `applying ${Object.entries(split.applying).map(([name, seconds]) => `${name} ${seconds.toFixed(2)} s`).join(', ')}`,
    )
    return {
      rebuild_vs_raw: Number((rebuildRate / rawRate).toFixed(4)),
      // raw read / (raw read + the floor of writing): the rate, over the raw read's, of a rebuild that read and
      // wrote one after the other and did nothing else.
      rebuild_floor_vs_raw: Number((median(raw) / (median(raw) + write)).toFixed(4)),
      // raw read / ((the larger of the raw read and the floor of writing) plus making, indexing and switching the tables):
      // a rebuild that overlapped its reads and its writes perfectly and spent nothing else (as plain inserts:
      // `COPY` might write faster).
      rebuild_spec_floor_vs_raw: Number(specFloor.toFixed(4)),
    }
  },
}
