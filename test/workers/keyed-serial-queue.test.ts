import { describe, expect, it } from 'vitest'
import { KeyedSerialQueue } from '../../src/workers/keyed-serial-queue.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('KeyedSerialQueue', () => {
  it('runs tasks of one key one at a time, in order', async () => {
    const queue = new KeyedSerialQueue()
    let inFlight = 0
    let maxInFlight = 0
    const order: number[] = []
    await Promise.all(
      [1, 2, 3, 4].map((n) =>
        queue.run('run-a', async () => {
          inFlight++
          maxInFlight = Math.max(maxInFlight, inFlight)
          await sleep(5)
          order.push(n)
          inFlight--
        }),
      ),
    )
    expect(maxInFlight).toBe(1)
    expect(order).toEqual([1, 2, 3, 4])
  })

  it('runs different keys concurrently', async () => {
    const queue = new KeyedSerialQueue()
    let inFlight = 0
    let maxInFlight = 0
    const task = async () => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      await sleep(10)
      inFlight--
    }
    await Promise.all([queue.run('a', task), queue.run('b', task), queue.run('c', task)])
    expect(maxInFlight).toBe(3)
  })

  it('a failing task rejects its caller only and does not block the next task', async () => {
    const queue = new KeyedSerialQueue()
    const failed = queue.run('k', async () => {
      throw new Error('boom')
    })
    const next = queue.run('k', async () => 42)
    await expect(failed).rejects.toThrow('boom')
    await expect(next).resolves.toBe(42)
  })
})
