import { describe, expect, it } from 'vitest'
import { KeyedBatcher } from '../../src/workers/keyed-batcher.js'

/** A flush that waits until the test lets it finish: batches are ordered by awaits, not by timers. */
function controlledFlush() {
  const calls: Array<{ key: string; items: number[]; finish: (error?: Error) => void }> = []
  let called: () => void = () => {}
  const flush = (key: string, items: number[]) =>
    new Promise<string>((resolve, reject) => {
      calls.push({ key, items, finish: (error) => (error ? reject(error) : resolve(`${key}:${items.join(',')}`)) })
      called()
    })
  const nextCall = () => new Promise<void>((resolve) => (called = resolve))
  return { calls, flush, nextCall }
}

describe('KeyedBatcher', () => {
  it('flushes a lone item at once, and the items that arrive meanwhile together in the next batch', async () => {
    const { calls, flush, nextCall } = controlledFlush()
    const batcher = new KeyedBatcher(flush)
    const first = batcher.add('run-a', 1)
    expect(calls.map((c) => c.items)).toEqual([[1]])
    const later = [batcher.add('run-a', 2), batcher.add('run-a', 3), batcher.add('run-a', 4)]
    expect(calls).toHaveLength(1)
    const second = nextCall()
    calls[0]!.finish()
    expect(await first).toBe('run-a:1')
    await second
    expect(calls.map((c) => c.items)).toEqual([[1], [2, 3, 4]])
    calls[1]!.finish()
    expect(await Promise.all(later)).toEqual(['run-a:2,3,4', 'run-a:2,3,4', 'run-a:2,3,4'])
  })

  it('flushes different keys concurrently', () => {
    const { calls, flush } = controlledFlush()
    const batcher = new KeyedBatcher(flush)
    void batcher.add('run-a', 1)
    void batcher.add('run-b', 2)
    expect(calls.map((c) => [c.key, c.items])).toEqual([
      ['run-a', [1]],
      ['run-b', [2]],
    ])
  })

  it('keeps a batch within its maximum size', async () => {
    const { calls, flush, nextCall } = controlledFlush()
    const batcher = new KeyedBatcher(flush, 2)
    void batcher.add('k', 1)
    const rest = [2, 3, 4].map((n) => batcher.add('k', n))
    let next = nextCall()
    calls[0]!.finish()
    await next
    next = nextCall()
    calls[1]!.finish()
    await next
    calls[2]!.finish()
    await Promise.all(rest)
    expect(calls.map((c) => c.items)).toEqual([[1], [2, 3], [4]])
  })

  it('flushes a failed batch again item by item, so only the bad item fails', async () => {
    const calls: number[][] = []
    const batcher = new KeyedBatcher<number, string>(async (_key, items) => {
      calls.push(items)
      if (items.includes(3)) throw new Error(`bad item among ${items.join(',')}`)
      return items.join(',')
    })
    const blocker = batcher.add('k', 1)
    const results = Promise.allSettled([2, 3, 4].map((n) => batcher.add('k', n)))
    await blocker
    const settled = await results
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual(['2', 'bad item among 3', '4'])
    expect(calls).toEqual([[1], [2, 3, 4], [2], [3], [4]])
  })

  it('rejects a lone failed item with its own error', async () => {
    const batcher = new KeyedBatcher<number, string>(async () => {
      throw new Error('refused')
    })
    await expect(batcher.add('k', 1)).rejects.toThrow('refused')
    // The key is free again afterwards.
    await expect(batcher.add('k', 2)).rejects.toThrow('refused')
  })
})
