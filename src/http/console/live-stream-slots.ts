import type { MiddlewareHandler } from 'hono'
import { problemJson } from '../problem.js'
import type { ConsoleEnv } from './console-env.js'

/**
 * Live run streams one console session may hold open at once in this process. Each stream polls the
 * database every `streamPollMs` (500 ms) for up to ten minutes, so an unbounded number is a lever to load
 * the database from one session (issue 7: one session held 150). Eight is a few run pages open in tabs:
 * a browser over HTTP/1.1 opens at most six connections to the console's origin anyway, and the two more
 * cover a reload or reconnect arriving before the server has seen the old connection go.
 */
export const LIVE_STREAMS_PER_SESSION = 8

/** What a refused stream tells the client: a tab closed (or a stream ended) frees a slot at once. */
export const LIVE_STREAM_RETRY_AFTER_SECONDS = 5

/**
 * Counts the live streams held per key (a console session) and refuses one more than `perKey`. A grant
 * is a release function, to be called when the stream ends for any reason; calling it again is harmless,
 * so the stream's abort and its end may both call it. A key is forgotten with its last slot.
 */
export class LiveStreamSlots {
  private readonly counts = new Map<string, number>()

  constructor(readonly perKey: number = LIVE_STREAMS_PER_SESSION) {}

  /** A slot for `key` and the function that gives it back, or null when `key` holds `perKey` already. */
  tryAcquire(key: string): (() => void) | null {
    const held = this.counts.get(key) ?? 0
    if (held >= this.perKey) return null
    this.counts.set(key, held + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (this.counts.get(key) ?? 1) - 1
      if (left > 0) this.counts.set(key, left)
      else this.counts.delete(key)
    }
  }

  /** Slots `key` holds now. */
  held(key: string): number {
    return this.counts.get(key) ?? 0
  }

  /** Keys holding at least one slot. */
  get keys(): number {
    return this.counts.size
  }
}

/**
 * A live stream route's guard, after the session guard: takes one of the session's slots before any stream
 * work, or answers 429 problem+json with Retry-After. The handler gets the slot's release as
 * `releaseStreamSlot` and calls it when its stream ends; an answer that is no stream (a 404, an error)
 * gives the slot back here at once.
 */
export function holdLiveStreamSlot(slots: LiveStreamSlots): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    // HEAD runs the GET handler and drops the body unread: the stream would block on its first write for
    // good, its slot with it. A HEAD learns the headers, no stream.
    if (c.req.method === 'HEAD') {
      c.header('Cache-Control', 'no-store')
      return c.body(null, 200, { 'Content-Type': 'text/event-stream' })
    }
    const release = slots.tryAcquire(c.get('session').idHash)
    if (!release) {
      c.header('Retry-After', String(LIVE_STREAM_RETRY_AFTER_SECONDS))
      c.header('Cache-Control', 'no-store')
      return problemJson(c, 429, `this session already follows ${slots.perKey} live runs: close one of its run pages, then reload this one`, {
        retryAfterSeconds: LIVE_STREAM_RETRY_AFTER_SECONDS,
      })
    }
    c.set('releaseStreamSlot', release)
    try {
      await next()
    } finally {
      if (!isEventStream(c.res)) release()
    }
  }
}

function isEventStream(response: Response): boolean {
  return response.status === 200 && (response.headers.get('content-type') ?? '').startsWith('text/event-stream')
}
