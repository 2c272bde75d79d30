import { randomUUID } from 'node:crypto'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Sql } from '../../src/db/database.js'
import { currentVersion } from '../../src/events/index.js'
import type { EventStore, StoredEvent } from '../../src/store/event-store.js'
import type { LoggedEvent } from '../../src/store/event-log.js'
import { EventSubscription } from '../../src/workers/event-subscription.js'

/**
 * Units of the catch-up loop, over an in-memory log and a checkpoint table of one row (fakes: the loop's
 * contract with a real store is the subscriptions' integration tests').
 */
class MemoryLog {
  readonly events: StoredEvent[] = []
  readonly reads: Array<{ after: string | null; returned: number }> = []
  private listeners = new Set<() => void>()

  append(): void {
    const position = String(this.events.length + 1)
    const runId = `run-${position}`
    this.events.push({
      streamId: `run-${runId}`,
      revision: 0,
      position,
      type: 'RunStarted',
      version: currentVersion.RunStarted,
      data: { runId, startedAt: '2026-12-03T10:00:00.000Z' },
      metadata: {
        eventId: randomUUID(),
        correlationId: runId,
        causationId: null,
        initiator: { kind: 'system', component: 'dispatcher' },
        occurredAt: '2026-12-03T10:00:00.000Z',
      },
      recordedAt: new Date('2026-12-03T10:00:00.000Z'),
    } as StoredEvent)
    for (const listener of this.listeners) listener()
  }

  store(): EventStore {
    return {
      readAll: async ({ after, maxCount }: { after: string | null; maxCount: number }) => {
        const from = after === null ? 0 : Number(after)
        const batch = this.events.slice(from, from + maxCount)
        this.reads.push({ after, returned: batch.length })
        return batch
      },
      onAppended: (listener: () => void) => {
        this.listeners.add(listener)
        return () => this.listeners.delete(listener)
      },
    } as unknown as EventStore
  }
}

/** `select position …` answers the last `insert … position` written (or `set`); `selects` counts the reads. */
function checkpointSql(): Sql & { selects: number; set: (position: string) => void } {
  let position: string | null = null
  const sql = (async (strings: TemplateStringsArray, ...values: unknown[]) => {
    if (strings[0]!.includes('insert into subscription_checkpoints')) position = values[1] as string
    else sql.selects++
    return position === null ? [] : [{ position }]
  }) as unknown as Sql & { selects: number; set: (position: string) => void }
  sql.selects = 0
  sql.set = (value) => {
    position = value
  }
  return sql
}

describe('EventSubscription', () => {
  let log: MemoryLog
  let subscription: EventSubscription | null
  const handled: string[] = []

  beforeEach(() => {
    log = new MemoryLog()
    subscription = null
    handled.length = 0
  })
  afterEach(async () => {
    await subscription?.stop()
    vi.useRealTimers()
  })

  const subscribe = (handle: (events: readonly LoggedEvent[]) => Promise<void>, batchSize = 3, sql = checkpointSql()) =>
    new EventSubscription({
      store: log.store(),
      sql,
      name: 'test',
      handle,
      logger: pino({ level: 'silent' }),
      batchSize,
      pollIntervalMs: 60_000,
      coalesceMs: 0,
    })

  it('reads to the end of the log without an empty read after a short batch', async () => {
    for (let i = 0; i < 4; i++) log.append()
    subscription = subscribe(async (events) => {
      handled.push(...events.map((e) => e.position))
    })
    expect(await subscription.runOnce()).toBe(4)
    expect(handled).toEqual(['1', '2', '3', '4'])
    // A full batch (3) is followed by a read; the short one (1) ends the pass.
    expect(log.reads).toEqual([
      { after: null, returned: 3 },
      { after: '3', returned: 1 },
    ])
  })

  it('reads its checkpoint once per start, and again when started anew (a worker process that leads again)', async () => {
    const sql = checkpointSql()
    for (let i = 0; i < 2; i++) log.append()
    subscription = subscribe(async (events) => {
      handled.push(...events.map((e) => e.position))
    }, 3, sql)
    expect(await subscription.runOnce()).toBe(2)
    log.append()
    expect(await subscription.runOnce()).toBe(1)
    expect(await subscription.runOnce()).toBe(0)
    expect(sql.selects).toBe(1)
    expect(handled).toEqual(['1', '2', '3'])

    // Another process, leading meanwhile, handled two more: started anew, this one goes on from there.
    await subscription.stop()
    for (let i = 0; i < 3; i++) log.append()
    sql.set('5')
    expect(await subscription.runOnce()).toBe(1)
    expect(sql.selects).toBe(2)
    expect(handled).toEqual(['1', '2', '3', '6'])
  })

  it('does not lose an append announced while it was reading: the next wait ends at once', async () => {
    vi.useFakeTimers()
    log.append()
    let release: () => void = () => {}
    const blocked = new Promise<void>((resolve) => {
      release = resolve
    })
    subscription = subscribe(async (events) => {
      handled.push(...events.map((e) => e.position))
      if (handled.length === 1) await blocked
    })
    subscription.start()
    await vi.waitFor(() => expect(handled).toEqual(['1']))
    // Appended while the first batch is being handled, after it was read.
    log.append()
    release()
    // No timer moves (the poll is a minute): only the announced append can bring the second event.
    await vi.waitFor(() => expect(handled).toEqual(['1', '2']))
  })

  it('keeps its error backoff when an append is announced meanwhile', async () => {
    vi.useFakeTimers()
    log.append()
    let calls = 0
    let failed: () => void = () => {}
    const failure = new Promise<void>((resolve) => {
      failed = resolve
    })
    subscription = subscribe(async (events) => {
      calls++
      if (calls === 1) {
        failed()
        throw new Error('the handler failed once')
      }
      handled.push(...events.map((e) => e.position))
    })
    subscription.start()
    await failure
    // Once the loop waits out its backoff (vi.waitFor would move the fake clock: only advanceTimersByTimeAsync does here).
    await vi.advanceTimersByTimeAsync(1)
    log.append()
    await vi.advanceTimersByTimeAsync(50)
    expect(calls).toBe(1)
    // The backoff (100 ms from the failure) over, the failed batch is read again with what was appended since.
    await vi.advanceTimersByTimeAsync(60)
    await vi.waitFor(() => expect(handled).toEqual(['1', '2']))
  })
})
