/**
 * Everything the bench creates (databases, NATS streams, child processes, temp dirs) registers how to undo
 * it here, at creation. Undone in reverse order when its owner is done, and whatever is left at exit —
 * normal end, failure, Ctrl-C — by `cleanupAll`. After an interruption (`interrupt`) nothing new may be
 * created: a registration undoes at once and throws `Interrupted`, so the part in flight stops.
 */
type Undo = () => Promise<void> | void

const pending = new Map<number, { label: string; undo: Undo }>()
const inFlight = new Set<Promise<void>>()
let nextId = 1
let interrupted = false
let cleaning: Promise<void> | null = null

export class Interrupted extends Error {
  constructor() {
    super('interrupted')
  }
}

export function isInterrupted(): boolean {
  return interrupted
}

export interface Registration {
  /** Undo now (once) and forget. */
  run(): Promise<void>
  /** Forget without undoing (ownership handed elsewhere). */
  release(): void
}

async function undoSafely(label: string, undo: Undo): Promise<void> {
  try {
    await undo()
  } catch (error) {
    console.error(`cleanup of ${label} failed: ${(error as Error).message}`)
  }
}

export function register(label: string, undo: Undo): Registration {
  if (interrupted) {
    const undoing = undoSafely(label, undo)
    inFlight.add(undoing)
    void undoing.finally(() => inFlight.delete(undoing))
    throw new Interrupted()
  }
  const id = nextId++
  pending.set(id, { label, undo })
  return {
    async run() {
      const entry = pending.get(id)
      if (!entry) return
      pending.delete(id)
      const undoing = Promise.resolve(entry.undo())
      inFlight.add(undoing)
      try {
        await undoing
      } finally {
        inFlight.delete(undoing)
      }
    },
    release() {
      pending.delete(id)
    },
  }
}

/** Undoes everything still registered (newest first) and waits for undos already under way. */
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    while (pending.size > 0 || inFlight.size > 0) {
      const entries = [...pending.entries()].reverse()
      pending.clear()
      for (const [, { label, undo }] of entries) await undoSafely(label, undo)
      await Promise.allSettled([...inFlight])
    }
  })().finally(() => {
    cleaning = null
  })
  return cleaning
}

/** Ctrl-C: no new resources from now on; everything registered is undone. */
export function interrupt(): Promise<void> {
  interrupted = true
  return cleanupAll()
}
