import type { SSEMessage, SSEStreamingApi } from 'hono/streaming'

/** How long one write of a live stream may wait for the client to take it (see `boundedWrites`). */
export const LIVE_STREAM_WRITE_TIMEOUT_MS = 30_000

/** A live stream's write waited longer than its bound: the stream was aborted and its connection dropped. */
export class LiveStreamStalledError extends Error {
  constructor(timeoutMs: number) {
    super(`the live stream's client took nothing for ${timeoutMs} ms: the stream was dropped`)
    this.name = 'LiveStreamStalledError'
  }
}

/**
 * A live stream's writes, each bounded in time. A client that keeps its connection open but stops reading
 * fills the connection's buffers, and the next write then waits until it reads again, which may be never:
 * the stream held its session's slot and polled the database for as long. A write still waiting after
 * `timeoutMs` aborts the stream, calls `onStalled` (which drops the connection) and rejects with
 * LiveStreamStalledError, so that the stream's loop ends at once (on an aborted stream: no error to report)
 * and gives its slot back. A client that reads is never near the
 * bound: one write is at most a run's failure list.
 */
export function boundedWrites(stream: SSEStreamingApi, timeoutMs: number, onStalled: () => void): (message: SSEMessage) => Promise<void> {
  return async (message) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const stalled = new Promise<'stalled'>((resolve) => {
      timer = setTimeout(() => resolve('stalled'), timeoutMs)
    })
    try {
      const outcome = await Promise.race([stream.writeSSE(message).then(() => 'written' as const), stalled])
      if (outcome === 'stalled') {
        if (stream.aborted) return
        stream.abort()
        onStalled()
        throw new LiveStreamStalledError(timeoutMs)
      }
    } finally {
      clearTimeout(timer)
    }
  }
}
