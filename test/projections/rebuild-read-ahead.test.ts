import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Projector, type Projection } from '../../src/projections/projector.js'
import { readModelProjections } from '../../src/projections/read-model-projections.js'
import type { EventStore, ReadAllOptions, StoredEvent } from '../../src/store/event-store.js'
import { databaseFlavours } from '../support/databases.js'
import { appendRun, dumpReadModels, openTestBed, type TestBed } from './fixtures.js'

/**
 * `Projector.rebuild` reads and decodes the first batch while it empties the read models. That read serves
 * only if the checkpoint is where the reset left it, and a failed one is read again.
 */

const consoleBaseUrl = 'https://ops.example.com'

async function appendCompletedRun(bed: TestBed, runId: string, minute: number): Promise<void> {
  const t = (second: number) => new Date(Date.UTC(2025, 2, 1, 9, minute, second)).toISOString()
  await appendRun(bed, {
    requested: { runId, requestedAt: t(0) },
    startedAt: t(1),
    results: [{ tenantId: 11, result: { status: 'succeeded', total: 8, updated: 5 }, at: t(2) }],
    completed: {
      outcome: 'succeeded',
      summaryCounts: { total: 8, processed: 8, updated: 5, skipped: 3, failed: 0 },
      failureSummary: [],
      completedAt: t(3),
    },
  })
}

/** The store, with the reads from the beginning held until `release` (or failed once, `failFirst`). */
function steeredStore(store: EventStore, options: { failFirst?: boolean } = {}) {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let readsFromStart = 0
  let signalRead!: () => void
  const readStarted = new Promise<void>((resolve) => (signalRead = resolve))
  let failFirst = options.failFirst ?? false
  const steered: EventStore = {
    ...store,
    atomicMultiStreamAppend: store.atomicMultiStreamAppend,
    append: (...args) => store.append(...args),
    appendMany: (...args) => store.appendMany(...args),
    readStream: (...args) => store.readStream(...args),
    onAppended: (listener) => store.onAppended(listener),
    close: () => store.close(),
    async readAll(options: ReadAllOptions): Promise<StoredEvent[]> {
      if (options.after != null) return store.readAll(options)
      readsFromStart++
      signalRead()
      if (failFirst) {
        failFirst = false
        throw new Error('read failed on purpose')
      }
      const events = await store.readAll(options)
      await released
      return events
    },
  }
  return { store: steered, release, readStarted, readsFromStart: () => readsFromStart }
}

describe.each(databaseFlavours())('Projector.rebuild reading ahead on $name', ({ open }) => {
  let bed: TestBed

  beforeEach(async () => {
    bed = await open().then((db) => openTestBed(async () => db))
    for (let i = 0; i < 3; i += 1) await appendCompletedRun(bed, `run-${i}`, i)
    await bed.settle()
  })
  afterEach(async () => {
    await bed.db.close()
  })

  const counting = () => {
    const applied: string[] = []
    const counter: Projection = { name: 'counter', apply: async (_tx, events) => void applied.push(...events.map((e) => e.metadata.eventId)) }
    return { applied, projections: [...readModelProjections({ consoleBaseUrl }), counter] }
  }

  it('applies the events read during the reset once, also when another process applied them first', async () => {
    const expected = await new Projector({ store: bed.store, sql: bed.sql, name: 'reference', projections: readModelProjections({ consoleBaseUrl }) }).rebuild()
    const reference = await dumpReadModels(bed.sql)
    const total = (await bed.store.readAll({ maxCount: 1000 })).length
    expect(expected).toBe(total)

    const steered = steeredStore(bed.store)
    const rebuilding = counting()
    const other = counting()
    const rebuild = new Projector({ store: steered.store, sql: bed.sql, name: 'shared', projections: rebuilding.projections }).rebuild()
    // Wait until the read made during the reset is held, then let another process sharing the checkpoint
    // apply everything (it waits for the reset's lock on the checkpoint row, then goes first).
    await steered.readStarted
    const byOther = await new Projector({ store: bed.store, sql: bed.sql, name: 'shared', projections: other.projections }).runOnce()
    steered.release()
    const byRebuild = await rebuild

    expect(byOther + byRebuild).toBe(total)
    const seen = [...rebuilding.applied, ...other.applied]
    expect(seen).toHaveLength(total)
    expect(new Set(seen).size).toBe(total)
    expect(await dumpReadModels(bed.sql)).toEqual(reference)
  })

  it('reads again when the read made during the reset failed', async () => {
    const steered = steeredStore(bed.store, { failFirst: true })
    steered.release()
    const rebuilding = counting()
    const total = (await bed.store.readAll({ maxCount: 1000 })).length
    expect(await new Projector({ store: steered.store, sql: bed.sql, name: 'read-models', projections: rebuilding.projections }).rebuild()).toBe(total)
    expect(steered.readsFromStart()).toBe(2)
    expect(rebuilding.applied).toHaveLength(total)
  })
})
