import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  WrongExpectedRevisionError,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type StoredEvent,
} from '../../src/store/event-store.js'

/**
 * The behaviour every EventStore adapter must show. Adapter-neutral on purpose (no SQL, no client of
 * a particular server): the PostgreSQL, embedded and EventStoreDB adapters all run it. Stream names are
 * unique per test, and `readAll` checks only look at events after a marker this test appended, so the
 * suite also works against a shared server that holds other data.
 */
export function describeEventStoreContract(
  name: string,
  open: () => Promise<{ store: EventStore; close: () => Promise<void> }>,
): void {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore
    let closeStore: () => Promise<void> = async () => {}

    beforeAll(async () => {
      const opened = await open()
      store = opened.store
      closeStore = opened.close
    })
    afterAll(async () => {
      await closeStore()
    })

    describe('expected revision', () => {
      it("'no_stream' creates a stream and fails once it exists", async () => {
        const stream = streamName('no-stream')
        const first = await store.append(stream, [event('A'), event('B')], { expectedRevision: 'no_stream' })
        expect(first.nextExpectedRevision).toBe(1)

        const error = await appendError(store, stream, [event('C')], 'no_stream')
        expect(error.streamId).toBe(stream)
        expect(error.expected).toBe('no_stream')
        expect(error.actual).toBe(1)
        expect(await types(store, stream)).toEqual(['A', 'B'])
      })

      it("'stream_exists' fails on a missing stream and appends to an existing one", async () => {
        const stream = streamName('stream-exists')
        const error = await appendError(store, stream, [event('A')], 'stream_exists')
        expect(error.streamId).toBe(stream)
        expect(error.expected).toBe('stream_exists')
        expect(error.actual).toBe('no_stream')
        expect(await store.readStream(stream)).toEqual([])

        await store.append(stream, [event('A')], { expectedRevision: 'no_stream' })
        const result = await store.append(stream, [event('B')], { expectedRevision: 'stream_exists' })
        expect(result.nextExpectedRevision).toBe(1)
        expect(await types(store, stream)).toEqual(['A', 'B'])
      })

      it('an exact revision appends only when it equals the last revision', async () => {
        const stream = streamName('exact')
        const missing = await appendError(store, stream, [event('A')], 0)
        expect(missing.expected).toBe(0)
        expect(missing.actual).toBe('no_stream')

        await store.append(stream, [event('A')], { expectedRevision: 'no_stream' })
        const second = await store.append(stream, [event('B'), event('C')], { expectedRevision: 0 })
        expect(second.nextExpectedRevision).toBe(2)

        const stale = await appendError(store, stream, [event('D')], 0)
        expect(stale.streamId).toBe(stream)
        expect(stale.expected).toBe(0)
        expect(stale.actual).toBe(2)
        const ahead = await appendError(store, stream, [event('D')], 5)
        expect(ahead.expected).toBe(5)
        expect(ahead.actual).toBe(2)

        const third = await store.append(stream, [event('D')], { expectedRevision: 2 })
        expect(third.nextExpectedRevision).toBe(3)
        expect(await types(store, stream)).toEqual(['A', 'B', 'C', 'D'])
      })

      it("'any' creates a stream and appends to an existing one", async () => {
        const stream = streamName('any')
        const first = await store.append(stream, [event('A')], { expectedRevision: 'any' })
        expect(first.nextExpectedRevision).toBe(0)
        const second = await store.append(stream, [event('B'), event('C')], { expectedRevision: 'any' })
        expect(second.nextExpectedRevision).toBe(2)
        expect(await types(store, stream)).toEqual(['A', 'B', 'C'])
      })
    })

    describe('atomicity', () => {
      it('a multi-event append that fails writes none of its events', async () => {
        const marker = await appendMarker(store)
        const stream = streamName('atomic')
        await store.append(stream, [event('A')], { expectedRevision: 'no_stream' })
        const rejected = [event('X'), event('Y'), event('Z')]
        await appendError(store, stream, rejected, 5)
        await appendError(store, stream, rejected, 'no_stream')

        const witness = await store.append(stream, [event('B')], { expectedRevision: 0 })
        expect(witness.nextExpectedRevision).toBe(1)
        expect(await types(store, stream)).toEqual(['A', 'B'])
        const seen = await readAllUntil(store, marker, (events) => events.some((e) => e.streamId === stream && e.type === 'B'))
        const rejectedIds = new Set(rejected.map((e) => e.eventId))
        expect(seen.filter((e) => rejectedIds.has(e.eventId))).toEqual([])
      })

      it('a successful multi-event append stores every event, contiguously and in order', async () => {
        const stream = streamName('batch')
        const batch = Array.from({ length: 10 }, (_, index) => event(`E${index}`))
        const result = await store.append(stream, batch, { expectedRevision: 'no_stream' })
        expect(result.nextExpectedRevision).toBe(9)
        const stored = await store.readStream(stream)
        expect(stored.map((e) => e.eventId)).toEqual(batch.map((e) => e.eventId))
        expect(stored.map((e) => e.revision)).toEqual(batch.map((_, index) => index))
        expect(stored[9]!.position).toBe(result.position)
      })
    })

    describe('appendMany', () => {
      it('appends to several streams in order, each with its own expected revision', async () => {
        const first = streamName('many-a')
        const second = streamName('many-b')
        await store.append(second, [event('Existing')], { expectedRevision: 'no_stream' })
        const results = await store.appendMany([
          { streamId: first, events: [event('A1'), event('A2')], expectedRevision: 'no_stream' },
          { streamId: second, events: [event('B1')], expectedRevision: 0 },
        ])
        expect(results.map((r) => r.nextExpectedRevision)).toEqual([1, 1])
        expect(await types(store, first)).toEqual(['A1', 'A2'])
        expect(await types(store, second)).toEqual(['Existing', 'B1'])
      })

      it('stops at the first failing expectation; an atomic store writes nothing of the batch', async () => {
        const first = streamName('many-fail-a')
        const second = streamName('many-fail-b')
        await store.append(second, [event('Existing')], { expectedRevision: 'no_stream' })
        const error = await store
          .appendMany([
            { streamId: first, events: [event('A1')], expectedRevision: 'no_stream' },
            { streamId: second, events: [event('B1')], expectedRevision: 'no_stream' },
          ])
          .then(() => null, (e: unknown) => e)
        expect(error).toBeInstanceOf(WrongExpectedRevisionError)
        expect(await types(store, second)).toEqual(['Existing'])
        expect(await types(store, first)).toEqual(store.atomicMultiStreamAppend ? [] : ['A1'])
      })
    })

    describe('readStream', () => {
      it('returns an empty array for a stream that does not exist', async () => {
        expect(await store.readStream(streamName('missing'))).toEqual([])
        expect(await store.readStream(streamName('missing'), { fromRevision: 3, maxCount: 2 })).toEqual([])
      })

      it('reads in revision order, from a revision, at most maxCount events', async () => {
        const stream = streamName('read-stream')
        await store.append(stream, [event('E0'), event('E1')], { expectedRevision: 'no_stream' })
        await store.append(stream, [event('E2')], { expectedRevision: 1 })
        await store.append(stream, [event('E3'), event('E4')], { expectedRevision: 2 })

        const all = await store.readStream(stream)
        expect(all.map((e) => e.type)).toEqual(['E0', 'E1', 'E2', 'E3', 'E4'])
        expect(all.map((e) => e.revision)).toEqual([0, 1, 2, 3, 4])
        expect(all.every((e) => e.streamId === stream)).toBe(true)

        expect((await store.readStream(stream, { fromRevision: 2 })).map((e) => e.revision)).toEqual([2, 3, 4])
        expect((await store.readStream(stream, { maxCount: 2 })).map((e) => e.revision)).toEqual([0, 1])
        expect((await store.readStream(stream, { fromRevision: 1, maxCount: 3 })).map((e) => e.revision)).toEqual([1, 2, 3])
        expect(await store.readStream(stream, { fromRevision: 5 })).toEqual([])
      })

      it('returns type, version, ids, a recording time and a position for every event', async () => {
        const stream = streamName('fields')
        const appended = event('Something', { version: 3 })
        const before = Date.now()
        const result = await store.append(stream, [appended], { expectedRevision: 'no_stream' })
        const [stored] = await store.readStream(stream)
        expect(stored).toBeDefined()
        expect(stored!.eventId).toBe(appended.eventId)
        expect(stored!.type).toBe('Something')
        expect(stored!.version).toBe(3)
        expect(stored!.revision).toBe(0)
        expect(stored!.position).toBe(result.position)
        expect(stored!.position).toMatch(/^\d+:\d+$/)
        expect(stored!.recordedAt).toBeInstanceOf(Date)
        // The recording clock is the store's, not this process's: allow for clock skew, not for garbage.
        expect(Math.abs(stored!.recordedAt.getTime() - before)).toBeLessThan(5 * 60_000)
      })
    })

    describe('readAll', () => {
      it('returns events of all streams in one global order that follows the append order', async () => {
        const marker = await appendMarker(store)
        const left = streamName('global-left')
        const right = streamName('global-right')
        const appended: string[] = []
        for (const [stream, label] of [
          [left, 'L0'],
          [right, 'R0'],
          [left, 'L1'],
          [right, 'R1'],
          [left, 'L2'],
        ] as const) {
          const next = event(label)
          appended.push(next.eventId)
          await store.append(stream, [next], { expectedRevision: 'any' })
        }
        const ours = new Set(appended)
        const seen = await readAllUntil(store, marker, (events) => events.filter((e) => ours.has(e.eventId)).length === appended.length)
        const mine = seen.filter((e) => ours.has(e.eventId))
        expect(mine.map((e) => e.eventId)).toEqual(appended)
        expect(mine.map((e) => e.type)).toEqual(['L0', 'R0', 'L1', 'R1', 'L2'])
        expect(mine.map((e) => `${e.streamId}@${e.revision}`)).toEqual([
          `${left}@0`,
          `${right}@0`,
          `${left}@1`,
          `${right}@1`,
          `${left}@2`,
        ])
      })

      it('paging with `after` yields every event exactly once', async () => {
        const marker = await appendMarker(store)
        const appended: string[] = []
        for (let index = 0; index < 6; index++) {
          const stream = streamName(`paging-${index % 3}`)
          const batch = [event(`P${index}a`), event(`P${index}b`)]
          appended.push(...batch.map((e) => e.eventId))
          await store.append(stream, batch, { expectedRevision: 'any' })
        }
        const ours = new Set(appended)
        const seen = await readAllUntil(store, marker, (events) => events.filter((e) => ours.has(e.eventId)).length >= appended.length, 3)
        const mine = seen.filter((e) => ours.has(e.eventId)).map((e) => e.eventId)
        expect(mine).toEqual(appended)
        const positions = seen.map((e) => e.position)
        expect(new Set(positions).size).toBe(positions.length)
        expect(new Set(seen.map((e) => e.eventId)).size).toBe(seen.length)

        // A page after the last position holds nothing of ours: nothing comes back twice.
        const afterLast = await store.readAll({ after: seen[seen.length - 1]!.position, maxCount: 1000 })
        expect(afterLast.filter((e) => ours.has(e.eventId))).toEqual([])
      })

      it('returns at most maxCount events', async () => {
        const marker = await appendMarker(store)
        const stream = streamName('max-count')
        await store.append(stream, [event('A'), event('B'), event('C')], { expectedRevision: 'no_stream' })
        await readAllUntil(store, marker, (events) => events.some((e) => e.streamId === stream && e.type === 'C'))
        expect((await store.readAll({ after: marker, maxCount: 2 })).length).toBe(2)
      })
    })

    describe('idempotent append', () => {
      it('a retried append (same ids, same exact expected revision) writes nothing twice', async () => {
        const marker = await appendMarker(store)
        const stream = streamName('idempotent-exact')
        await store.append(stream, [event('A')], { expectedRevision: 'no_stream' })
        const batch = [event('B'), event('C')]
        const first = await store.append(stream, batch, { expectedRevision: 0 })
        const retry = await store.append(stream, batch, { expectedRevision: 0 })
        expect(retry.nextExpectedRevision).toBe(first.nextExpectedRevision)
        expect(await types(store, stream)).toEqual(['A', 'B', 'C'])

        const witness = await store.append(stream, [event('D')], { expectedRevision: 2 })
        expect(witness.nextExpectedRevision).toBe(3)
        const seen = await readAllUntil(store, marker, (events) => events.some((e) => e.streamId === stream && e.type === 'D'))
        const ids = seen.filter((e) => e.streamId === stream).map((e) => e.type)
        expect(ids).toEqual(['A', 'B', 'C', 'D'])
      })

      it("a retried 'no_stream' append writes nothing twice", async () => {
        const stream = streamName('idempotent-no-stream')
        const batch = [event('A'), event('B')]
        const first = await store.append(stream, batch, { expectedRevision: 'no_stream' })
        const retry = await store.append(stream, batch, { expectedRevision: 'no_stream' })
        expect(retry.nextExpectedRevision).toBe(first.nextExpectedRevision)
        expect(await types(store, stream)).toEqual(['A', 'B'])
      })

      it('new events with a stale expected revision are still rejected', async () => {
        const stream = streamName('idempotent-not-a-retry')
        const batch = [event('A')]
        await store.append(stream, batch, { expectedRevision: 'no_stream' })
        const error = await appendError(store, stream, [event('A')], 'no_stream')
        expect(error.actual).toBe(0)
        expect(await types(store, stream)).toEqual(['A'])
      })
    })

    describe('concurrency', () => {
      it('16 concurrent appends with the same exact expected revision: exactly one wins', async () => {
        const stream = streamName('race-exact')
        await store.append(stream, [event('Start')], { expectedRevision: 'no_stream' })
        const attempts = Array.from({ length: 16 }, (_, index) => [event(`W${index}a`), event(`W${index}b`)])
        const outcomes = await Promise.allSettled(attempts.map((batch) => store.append(stream, batch, { expectedRevision: 0 })))

        const winners = outcomes.flatMap((outcome, index) => (outcome.status === 'fulfilled' ? [index] : []))
        expect(winners).toHaveLength(1)
        const winner = winners[0]!
        expect((outcomes[winner] as PromiseFulfilledResult<{ nextExpectedRevision: number }>).value.nextExpectedRevision).toBe(2)
        for (const outcome of outcomes) {
          if (outcome.status === 'fulfilled') continue
          expect(outcome.reason).toBeInstanceOf(WrongExpectedRevisionError)
          expect((outcome.reason as WrongExpectedRevisionError).expected).toBe(0)
          expect((outcome.reason as WrongExpectedRevisionError).actual).toBe(2)
        }
        expect((await store.readStream(stream)).map((e) => e.eventId)).toEqual([
          expect.any(String),
          ...attempts[winner]!.map((e) => e.eventId),
        ])
      })

      it("concurrent 'any' appends all land, each batch contiguous, revisions contiguous", async () => {
        const stream = streamName('race-any')
        const batches = Array.from({ length: 16 }, (_, index) =>
          Array.from({ length: 1 + (index % 3) }, (_, position) => event(`B${index}.${position}`)),
        )
        const results = await Promise.all(batches.map((batch) => store.append(stream, batch, { expectedRevision: 'any' })))
        const total = batches.reduce((sum, batch) => sum + batch.length, 0)

        const stored = await store.readStream(stream)
        expect(stored.map((e) => e.revision)).toEqual(Array.from({ length: total }, (_, index) => index))
        expect(new Set(stored.map((e) => e.eventId)).size).toBe(total)
        expect(new Set(results.map((r) => r.nextExpectedRevision)).size).toBe(batches.length)
        batches.forEach((batch, index) => {
          const last = results[index]!.nextExpectedRevision
          const landed = stored.slice(last - batch.length + 1, last + 1).map((e) => e.eventId)
          expect(landed).toEqual(batch.map((e) => e.eventId))
        })
      })
    })

    describe('payloads', () => {
      it('round-trips data and metadata JSON: nesting, unicode, numbers, null, arrays', async () => {
        const stream = streamName('json')
        const data = {
          text: 'Grüße, 世界 — 🚀 "quoted" \\backslash\\ \n newline \t tab',
          combining: 'e\u0301',
          numbers: { zero: 0, negative: -42, float: 3.14159, big: Number.MAX_SAFE_INTEGER, small: 1e-7, exp: 1.5e300 },
          flags: [true, false, null],
          nested: { deeper: { deepest: [{ a: 1 }, { b: [2, [3, { c: 'd' }]] }] }, empty: {}, none: [] },
          '键 with spaces': 'value',
        }
        const metadata = { correlationId: randomUUID(), causationId: null, initiator: { kind: 'system', component: 'api' } }
        const appended = event('Json', { data, metadata })
        await store.append(stream, [appended, event('Scalar', { data: 'just a string', metadata: [1, 'two'] })], {
          expectedRevision: 'no_stream',
        })
        const [first, second] = await store.readStream(stream)
        expect(first!.data).toEqual(data)
        expect(first!.metadata).toEqual(metadata)
        expect(second!.data).toBe('just a string')
        expect(second!.metadata).toEqual([1, 'two'])
      })
    })

    describe('onAppended', () => {
      it('calls listeners after an append of this process and stops after unsubscribe', async () => {
        let calls = 0
        const unsubscribe = store.onAppended(() => {
          calls++
        })
        const stream = streamName('listener')
        await store.append(stream, [event('A')], { expectedRevision: 'no_stream' })
        await waitFor(() => calls >= 1)
        const afterFirst = calls
        expect(afterFirst).toBeGreaterThanOrEqual(1)

        unsubscribe()
        await store.append(stream, [event('B')], { expectedRevision: 0 })
        await new Promise((resolve) => setTimeout(resolve, 50))
        expect(calls).toBe(afterFirst)
      })
    })
  })
}

function streamName(label: string): string {
  return `contract-${label}-${randomUUID()}`
}

function event(type: string, overrides: Partial<EventToAppend> = {}): EventToAppend {
  return { eventId: randomUUID(), type, version: 1, data: { type }, metadata: { test: true }, ...overrides }
}

async function types(store: EventStore, stream: string): Promise<string[]> {
  return (await store.readStream(stream)).map((e) => e.type)
}

async function appendError(
  store: EventStore,
  stream: string,
  events: EventToAppend[],
  expectedRevision: ExpectedRevision,
): Promise<WrongExpectedRevisionError> {
  const error = await store.append(stream, events, { expectedRevision }).then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(WrongExpectedRevisionError)
  return error as WrongExpectedRevisionError
}

/** An event of a stream of its own, whose position is where a test's `readAll` checks start. */
async function appendMarker(store: EventStore): Promise<string> {
  const result = await store.append(streamName('marker'), [event('Marker')], { expectedRevision: 'no_stream' })
  return result.position
}

/**
 * Pages through `readAll` from `after` until `done` holds for everything read so far. A store may make
 * fresh events visible with a delay (the PostgreSQL adapter waits for older transactions, also other
 * tests' on a shared server), so this polls instead of reading once.
 */
async function readAllUntil(
  store: EventStore,
  after: string,
  done: (events: StoredEvent[]) => boolean,
  pageSize = 100,
  timeoutMs = 20_000,
): Promise<StoredEvent[]> {
  const seen: StoredEvent[] = []
  let checkpoint = after
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const page = await store.readAll({ after: checkpoint, maxCount: pageSize })
    expect(page.length).toBeLessThanOrEqual(pageSize)
    seen.push(...page)
    if (page.length > 0) checkpoint = page[page.length - 1]!.position
    if (done(seen)) return seen
    if (Date.now() > deadline) throw new Error(`readAll did not deliver the expected events within ${timeoutMs} ms`)
    if (page.length < pageSize) await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
