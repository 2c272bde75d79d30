import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { CatchUpLoop, type CatchUpLoopOptions } from '../../src/workers/catch-up-loop.js'

/**
 * Units of the one catch-up loop (the projector's and the worker subscriptions'), on fake timers: a pass
 * is a fake that counts itself and can be held open or made to fail; appends are announced by hand.
 */
class Announcer {
  private listeners = new Set<() => void>()
  onAppended(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
  announce(): void {
    for (const listener of this.listeners) listener()
  }
}

interface Gate {
  promise: Promise<void>
  open(): void
}
function gate(): Gate {
  let open: () => void = () => {}
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

describe('CatchUpLoop', () => {
  let store: Announcer
  let loop: CatchUpLoop | null
  let passes: number
  let errors: number[]

  beforeEach(() => {
    vi.useFakeTimers()
    store = new Announcer()
    loop = null
    passes = 0
    errors = []
  })
  afterEach(async () => {
    await loop?.stop()
    vi.useRealTimers()
  })

  const follow = (pass: (n: number) => Promise<void>, options: Partial<CatchUpLoopOptions> = {}) => {
    const made: CatchUpLoop = new CatchUpLoop({
      store,
      pass: async () => {
        passes += 1
        made.reading()
        await pass(passes)
      },
      pollIntervalMs: 60_000,
      coalesceMs: 0,
      retryDelayMs: { initial: 1_000, max: 8_000 },
      onError: (_error, _failures, retryInMs) => errors.push(retryInMs),
      ...options,
    })
    loop = made
    return made
  }

  it('waits for the poll after a pass when nothing was announced (no read straight after a pass)', async () => {
    follow(async () => {}).start()
    await vi.advanceTimersByTimeAsync(59_999)
    expect(passes).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(passes).toBe(2)
  })

  it('an append announced while waiting ends the wait at once', async () => {
    follow(async () => {}).start()
    await vi.advanceTimersByTimeAsync(10)
    expect(passes).toBe(1)
    store.announce()
    await vi.advanceTimersByTimeAsync(0)
    expect(passes).toBe(2)
  })

  it('does not lose a wake-up announced during a read: the pass after it follows without the poll', async () => {
    const held = gate()
    follow(async (n) => {
      if (n === 1) await held.promise
    }).start()
    await vi.advanceTimersByTimeAsync(0)
    expect(passes).toBe(1)
    // The first pass has read (its `reading()` came before) and is still handling: this append is not in it.
    store.announce()
    held.open()
    await vi.advanceTimersByTimeAsync(0)
    expect(passes).toBe(2)
    // That second pass read it; with nothing announced since, the loop now waits for the poll.
    await vi.advanceTimersByTimeAsync(59_999)
    expect(passes).toBe(2)
  })

  it('an append announced before a read does not make a second, empty pass (the flag is cleared as it reads)', async () => {
    const held = gate()
    const made = new CatchUpLoop({
      store,
      pass: async () => {
        passes += 1
        // Announced (and committed) before this pass reads: the read below has it.
        if (passes === 1) {
          store.announce()
          await held.promise
        }
        made.reading()
      },
      pollIntervalMs: 60_000,
      coalesceMs: 0,
      retryDelayMs: { initial: 1_000, max: 8_000 },
      onError: () => {},
    })
    loop = made
    made.start()
    held.open()
    await vi.advanceTimersByTimeAsync(59_999)
    expect(passes).toBe(1)
  })

  it('backs off the full delay after an error even while appends are announced, doubling it', async () => {
    follow(async (n) => {
      if (n <= 2) throw new Error('the database is down')
    }).start()
    await vi.advanceTimersByTimeAsync(0)
    expect(passes).toBe(1)
    expect(errors).toEqual([1_000])
    for (let ms = 0; ms < 999; ms += 111) {
      store.announce()
      await vi.advanceTimersByTimeAsync(111)
    }
    expect(passes).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(passes).toBe(2)
    expect(errors).toEqual([1_000, 2_000])
    store.announce()
    await vi.advanceTimersByTimeAsync(1_999)
    expect(passes).toBe(2)
    await vi.advanceTimersByTimeAsync(1)
    expect(passes).toBe(3)
    // The append announced during the backoff was committed before that pass read: no pass for it alone.
    await vi.advanceTimersByTimeAsync(59_999)
    expect(passes).toBe(3)
    expect(errors).toEqual([1_000, 2_000])
  })

  it('stop ends a poll wait at once', async () => {
    follow(async () => {}).start()
    await vi.advanceTimersByTimeAsync(0)
    let stopped = false
    void loop!.stop().then(() => {
      stopped = true
    })
    await vi.advanceTimersByTimeAsync(0)
    expect(stopped).toBe(true)
    expect(passes).toBe(1)
  })

  it('stop ends an error backoff at once', async () => {
    follow(async () => {
      throw new Error('failing')
    }).start()
    await vi.advanceTimersByTimeAsync(0)
    expect(errors).toEqual([1_000])
    let stopped = false
    void loop!.stop().then(() => {
      stopped = true
    })
    await vi.advanceTimersByTimeAsync(0)
    expect(stopped).toBe(true)
    expect(passes).toBe(1)
  })

  it('stop during the coalescing pause does not wait it out, and a pass in flight ends the loop without another wait', async () => {
    const held = gate()
    follow(
      async (n) => {
        if (n === 2) await held.promise
      },
      { coalesceMs: 5_000 },
    ).start()
    await vi.advanceTimersByTimeAsync(0)
    store.announce()
    await vi.advanceTimersByTimeAsync(0)
    // In the coalescing pause after the wake-up.
    expect(passes).toBe(1)
    let stopped = false
    void loop!.stop().then(() => {
      stopped = true
    })
    await vi.advanceTimersByTimeAsync(0)
    expect(stopped).toBe(true)
    expect(passes).toBe(1)

    // A new loop stopped while its pass is in flight: stop resolves as soon as the pass does.
    passes = 1
    const second = follow(async (n) => {
      if (n === 2) await held.promise
    })
    second.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(passes).toBe(2)
    let secondStopped = false
    void second.stop().then(() => {
      secondStopped = true
    })
    await vi.advanceTimersByTimeAsync(0)
    expect(secondStopped).toBe(false)
    held.open()
    await vi.advanceTimersByTimeAsync(0)
    expect(secondStopped).toBe(true)
    expect(passes).toBe(2)
  })
})
