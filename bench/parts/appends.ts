/**
 * Event appends/s: 8 concurrent writers, one event per append with the exact expected revision, each
 * writer on its own streams (it tracks their revisions), for a fixed time: our PostgresEventStore against
 * Emmett's PostgreSQL event store and against raw single-row inserts into a plain table (autocommit).
 * Each on its own fresh database; the same pool size (10 connections: pg.Pool's default, which Emmett
 * uses) for all three.
 */
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql'
import { STREAM_DOES_NOT_EXIST } from '@event-driven-io/emmett'
import { applyMigrations } from '../../src/db/migrations.js'
import { eventStoreSchema, PostgresEventStore } from '../../src/store/postgres-event-store.js'
import type { ExpectedRevision } from '../../src/store/event-store.js'
import type { Part } from '../lib/part.js'
import { connect, createDatabase, databaseUrl, dropDatabase } from '../lib/pg.js'

const WRITERS = 8
const STREAMS_PER_WRITER = 4
const POOL = 10
const SECONDS = Number(process.env.BENCH_APPEND_SECONDS ?? 5)
const WARM_UP_SECONDS = 1

interface Rate {
  appends: number
  seconds: number
  perSecond: number
}

/**
 * Runs `append(writer, streamIndex, n)` from WRITERS concurrent writers, round robin over each writer's
 * streams, for WARM_UP_SECONDS (not counted) then SECONDS.
 */
async function drive(append: (writer: number, stream: number, n: number) => Promise<void>): Promise<Rate> {
  let counting = false
  let stop = false
  let appends = 0
  const writers = Array.from({ length: WRITERS }, async (_, writer) => {
    for (let n = 0; !stop; n++) {
      await append(writer, n % STREAMS_PER_WRITER, n)
      if (counting) appends++
    }
  })
  await new Promise((resolve) => setTimeout(resolve, WARM_UP_SECONDS * 1000))
  counting = true
  const started = performance.now()
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000))
  const seconds = (performance.now() - started) / 1000
  const counted = appends
  stop = true
  await Promise.all(writers)
  return { appends: counted, seconds, perSecond: counted / seconds }
}

const payload = (writer: number, n: number) => ({ writer, n, note: 'bench append', at: '2026-01-01T00:00:00.000Z' })

async function ours(): Promise<Rate> {
  const name = await createDatabase('appends_ours')
  const sql = connect(name, POOL)
  try {
    await applyMigrations(sql, [eventStoreSchema])
    const store = new PostgresEventStore(sql)
    const revisions = Array.from({ length: WRITERS }, () => Array<ExpectedRevision>(STREAMS_PER_WRITER).fill('no_stream'))
    return await drive(async (writer, stream, n) => {
      const result = await store.append(
        `bench-${writer}-${stream}`,
        [{ eventId: randomUUID(), type: 'BenchAppended', version: 1, data: payload(writer, n), metadata: { writer } }],
        { expectedRevision: revisions[writer]![stream]! },
      )
      revisions[writer]![stream] = result.nextExpectedRevision
    })
  } finally {
    await sql.end({ timeout: 5 })
    await dropDatabase(name)
  }
}

async function emmett(): Promise<Rate> {
  const name = await createDatabase('appends_emmett')
  const store = getPostgreSQLEventStore(databaseUrl(name))
  try {
    await store.schema.migrate()
    const versions = Array.from({ length: WRITERS }, () => Array<bigint | null>(STREAMS_PER_WRITER).fill(null))
    return await drive(async (writer, stream, n) => {
      const result = await store.appendToStream(
        `bench-${writer}-${stream}`,
        [{ type: 'BenchAppended', data: payload(writer, n), metadata: { writer } }],
        { expectedStreamVersion: versions[writer]![stream] ?? STREAM_DOES_NOT_EXIST },
      )
      versions[writer]![stream] = result.nextExpectedStreamVersion
    })
  } finally {
    await store.close()
    await dropDatabase(name)
  }
}

async function rawInserts(): Promise<Rate> {
  const name = await createDatabase('appends_raw')
  const sql = connect(name, POOL)
  try {
    await sql`create table bench_events (id bigint generated always as identity primary key, stream_id text not null, data json not null)`
    return await drive(async (writer, stream, n) => {
      await sql`insert into bench_events (stream_id, data) values (${`bench-${writer}-${stream}`}, ${sql.json(payload(writer, n))})`
    })
  } finally {
    await sql.end({ timeout: 5 })
    await dropDatabase(name)
  }
}

export const appendsPart: Part = {
  name: 'appends',
  summary: `event appends/s, ${WRITERS} writers, exact expected revision: ours vs Emmett's PostgreSQL store vs raw inserts`,
  async run() {
    console.log(
      `${WRITERS} writers × ${STREAMS_PER_WRITER} streams each, one event per append, ${SECONDS} s each after ${WARM_UP_SECONDS} s of warm-up, ` +
        `pool of ${POOL} connections, each store on its own fresh database`,
    )
    const results: Record<string, Rate> = {}
    for (const [label, measure] of [
      ['ours (PostgresEventStore.append)', ours],
      ["Emmett's PostgreSQL store (appendToStream)", emmett],
      ['raw single-row inserts (autocommit)', rawInserts],
    ] as const) {
      const rate = await measure()
      results[label] = rate
      console.log(`  ${label}: ${Math.round(rate.perSecond)} appends/s (${rate.appends} in ${rate.seconds.toFixed(1)} s)`)
    }
    const [ourRate, emmettRate, rawRate] = Object.values(results).map((rate) => rate.perSecond) as [number, number, number]
    console.log(`  ours / Emmett ${(ourRate / emmettRate).toFixed(2)}×, ours / raw inserts ${(ourRate / rawRate).toFixed(2)}×`)
    return { appends_vs_emmett: Number((ourRate / emmettRate).toFixed(3)) }
  },
}
