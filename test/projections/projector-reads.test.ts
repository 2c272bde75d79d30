import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Projector } from '../../src/projections/projector.js'
import { readModelProjections } from '../../src/projections/read-model-projections.js'
import type { EventStore, ReadAllOptions } from '../../src/store/event-store.js'
import { databaseFlavours } from '../support/databases.js'
import { appendRun, openTestBed, type TestBed } from './fixtures.js'

/** The projector's reads as the shared catch-up loop (src/workers/catch-up-loop.ts) expects them. */
describe.each(databaseFlavours())('Projector reads on $name', ({ open }) => {
  let bed: TestBed
  let reads: Array<{ after: string | null; returned: number }>
  let store: EventStore

  beforeEach(async () => {
    bed = await openTestBed(open)
    reads = []
    store = Object.assign(Object.create(bed.store) as EventStore, {
      readAll: async (options: ReadAllOptions) => {
        const events = await bed.store.readAll(options)
        reads.push({ after: options.after ?? null, returned: events.length })
        return events
      },
    })
  })
  afterEach(async () => {
    await bed.db.close()
  })

  const appendRuns = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const at = new Date(Date.UTC(2025, 5, 1, 9, i)).toISOString()
      await appendRun(bed, { requested: { runId: `run-${i}`, requestedAt: at }, startedAt: at })
    }
    await bed.settle()
  }

  it('a pass ends on a short batch without reading again; a full batch is followed by a read', async () => {
    await appendRuns(3) // 6 events
    const projector = new Projector({ store, sql: bed.sql, name: 'reads', projections: readModelProjections({ consoleBaseUrl: 'https://ops.example.com' }), batchSize: 4 })
    expect(await projector.runOnce()).toBe(6)
    expect(reads.map((r) => r.returned)).toEqual([4, 2])
    reads.length = 0
    expect(await projector.runOnce()).toBe(0)
    expect(reads.map((r) => r.returned)).toEqual([0])
  })
})
