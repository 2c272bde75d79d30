import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EventStoreDbEventStore } from '../../src/store/eventstoredb-event-store.js'
import { describeEventStoreContract } from './event-store.contract.js'

/**
 * Needs a real EventStoreDB/KurrentDB: `EVENTSTORE_URL=esdb://127.0.0.1:2113?tls=false` (or kurrentdb://).
 * The server is shared and keeps its data, so the contract suite works on unique stream names and on
 * positions after markers it appended itself.
 */
const EVENTSTORE_URL = process.env.EVENTSTORE_URL ?? ''

describe.runIf(EVENTSTORE_URL)('EventStoreDbEventStore', () => {
  describeEventStoreContract('EventStoreDB', async () => {
    const store = await EventStoreDbEventStore.connect(EVENTSTORE_URL)
    return { store, close: () => store.close() }
  })

  describe('EventStoreDB specifics', () => {
    let store: EventStoreDbEventStore

    beforeAll(async () => {
      store = await EventStoreDbEventStore.connect(EVENTSTORE_URL)
    })
    afterAll(async () => {
      await store?.close()
    })

    it('answers a ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined()
    })

    it('never returns system events from readAll, also when reading from the start', async () => {
      const page = await store.readAll({ after: null, maxCount: 500 })
      expect(page.filter((e) => e.streamId.startsWith('$') || e.type.startsWith('$'))).toEqual([])
    })

    it('an append position continues readAll strictly after the appended event', async () => {
      const stream = `esdb-after-${randomUUID()}`
      const first = await store.append(stream, [event('First')], { expectedRevision: 'no_stream' })
      await store.append(stream, [event('Second')], { expectedRevision: 0 })
      const next = await store.readAll({ after: first.position, maxCount: 1000 })
      const mine = next.filter((e) => e.streamId === stream).map((e) => e.type)
      expect(mine).toEqual(['Second'])
    })

    it('an empty append checks the expectation and writes nothing', async () => {
      const stream = `esdb-empty-${randomUUID()}`
      await expect(store.append(stream, [], { expectedRevision: 'stream_exists' })).rejects.toMatchObject({
        actual: 'no_stream',
      })
      expect((await store.append(stream, [], { expectedRevision: 'no_stream' })).nextExpectedRevision).toBe(-1)
      const first = await store.append(stream, [event('A')], { expectedRevision: 'no_stream' })
      expect(await store.append(stream, [], { expectedRevision: 0 })).toEqual(first)
      expect(await store.readStream(stream)).toHaveLength(1)
    })

    it('connects with a kurrentdb:// connection string too', async () => {
      const kurrent = await EventStoreDbEventStore.connect(EVENTSTORE_URL.replace(/^esdb:/, 'kurrentdb:'))
      try {
        await expect(kurrent.ping()).resolves.toBeUndefined()
      } finally {
        await kurrent.close()
      }
    })
  })
})

function event(type: string) {
  return { eventId: randomUUID(), type, version: 1, data: { type }, metadata: { test: true } }
}
