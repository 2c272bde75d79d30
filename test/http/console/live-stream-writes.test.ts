import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { SSEMessage, SSEStreamingApi } from 'hono/streaming'
import { boundedWrites, LiveStreamStalledError } from '../../../src/http/console/live-stream-writes.js'

/** A stream whose writes complete only when the test lets them (a client that reads, or one that stopped). */
function fakeStream() {
  const pending: Array<() => void> = []
  const written: SSEMessage[] = []
  const stream = {
    aborted: false,
    closed: false,
    writeSSE: (message: SSEMessage) =>
      new Promise<void>((resolve) => {
        pending.push(() => {
          written.push(message)
          resolve()
        })
      }),
    abort() {
      this.aborted = true
    },
  }
  return { stream, pending, written, api: stream as unknown as SSEStreamingApi }
}

describe('a live stream’s bounded writes', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('passes a write the client takes in time, and leaves the stream open', async () => {
    const { stream, pending, written, api } = fakeStream()
    const onStalled = vi.fn()
    const write = boundedWrites(api, 1_000, onStalled)
    const done = write({ event: 'progress', data: '{}' })
    await vi.advanceTimersByTimeAsync(999)
    pending.shift()!()
    await done
    await vi.advanceTimersByTimeAsync(10_000)
    expect(written).toEqual([{ event: 'progress', data: '{}' }])
    expect(stream.aborted).toBe(false)
    expect(onStalled).not.toHaveBeenCalled()
  })

  it('aborts the stream, drops the connection and fails the write when the client stops reading', async () => {
    const { stream, api } = fakeStream()
    const onStalled = vi.fn()
    const write = boundedWrites(api, 1_000, onStalled)
    let outcome: unknown = 'pending'
    const done = write({ event: 'progress', data: '{}' }).then(
      () => (outcome = 'written'),
      (error: unknown) => (outcome = error),
    )
    await vi.advanceTimersByTimeAsync(999)
    expect(outcome).toBe('pending')
    expect(onStalled).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    await done
    expect(outcome).toBeInstanceOf(LiveStreamStalledError)
    expect(stream.aborted).toBe(true)
    expect(onStalled).toHaveBeenCalledTimes(1)
  })

  it('does not report a stall on a stream the client already left', async () => {
    const { stream, api } = fakeStream()
    const onStalled = vi.fn()
    const write = boundedWrites(api, 1_000, onStalled)
    const done = write({ event: 'progress', data: '{}' })
    stream.abort()
    await vi.advanceTimersByTimeAsync(1_000)
    await done
    expect(onStalled).not.toHaveBeenCalled()
  })
})
