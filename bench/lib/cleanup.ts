/**
 * Everything the bench creates (databases, NATS streams, child processes, temp dirs) registers how to undo
 * it here, at creation. Undone in reverse order when its owner is done, and whatever is left at exit —
 * normal end, failure, Ctrl-C — by `cleanupAll`.
 */
type Undo = () => Promise<void> | void

const pending = new Map<number, { label: string; undo: Undo }>()
let nextId = 1

export interface Registration {
  /** Undo now (once) and forget. */
  run(): Promise<void>
  /** Forget without undoing (ownership handed elsewhere). */
  release(): void
}

export function register(label: string, undo: Undo): Registration {
  const id = nextId++
  pending.set(id, { label, undo })
  return {
    async run() {
      const entry = pending.get(id)
      if (!entry) return
      pending.delete(id)
      await entry.undo()
    },
    release() {
      pending.delete(id)
    },
  }
}

export async function cleanupAll(): Promise<void> {
  const entries = [...pending.entries()].reverse()
  pending.clear()
  for (const [, { label, undo }] of entries) {
    try {
      await undo()
    } catch (error) {
      console.error(`cleanup of ${label} failed: ${(error as Error).message}`)
    }
  }
}
