import type { SSEMessage, SSEStreamingApi } from 'hono/streaming'

/** How long one write of a live stream may wait for the client to take it (see `boundedWrites`). */
export const LIVE_STREAM_WRITE_TIMEOUT_MS = 30_000

/**
 * A live stream's writes, each bounded in time. A client that keeps its connection open but stops reading
 * fills the connection's buffers, and the next write then waits until it reads again, which may be never:
 * the stream held its session's slot and polled the database for as long. A write still waiting after
 * `timeoutMs` aborts the stream, calls `onStalled` (which drops the connection) and resolves, so that the
 * stream's loop sees the stream aborted, ends and gives its slot back. A client that reads is never near the
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
      if (outcome === 'stalled' && !stream.aborted) {
        stream.abort()
        onStalled()
      }
    } finally {
      clearTimeout(timer)
    }
  }
}
