/**
 * Gathers items per key and hands them to `flush` in batches, one batch per key at a time: the items that
 * arrive while a key's batch is being flushed go together in its next one. Under load a batch holds what
 * arrived during one flush; alone, an item is flushed at once (no timer, no added latency).
 *
 * A failed batch of several items is flushed again item by item, so each caller learns its own item's fate
 * (one bad item does not fail the others).
 */
export class KeyedBatcher<T, R> {
  private readonly keys = new Map<string, { waiting: Array<Waiting<T, R>>; flushing: boolean }>()

  constructor(
    private readonly flush: (key: string, items: T[]) => Promise<R>,
    private readonly maxBatch = 500,
  ) {}

  add(key: string, item: T): Promise<R> {
    return this.addAll(key, [item])
  }

  /**
   * Items that go in one batch when they fit with those already waiting (`maxBatch`); resolves with the result
   * of the batch that flushed the last of them. Rejects when one of them failed.
   */
  async addAll(key: string, items: readonly T[]): Promise<R> {
    if (items.length === 0) throw new Error('addAll needs at least one item')
    let entry = this.keys.get(key)
    if (!entry) {
      entry = { waiting: [], flushing: false }
      this.keys.set(key, entry)
    }
    const waiting = entry.waiting
    const results = items.map((item) => new Promise<R>((resolve, reject) => waiting.push({ item, resolve, reject })))
    if (!entry.flushing) void this.drain(key, entry)
    return (await Promise.all(results)).at(-1)!
  }

  private async drain(key: string, entry: { waiting: Array<Waiting<T, R>>; flushing: boolean }): Promise<void> {
    entry.flushing = true
    while (entry.waiting.length > 0) {
      const batch = entry.waiting.splice(0, this.maxBatch)
      try {
        const result = await this.flush(key, batch.map((waiting) => waiting.item))
        for (const waiting of batch) waiting.resolve(result)
      } catch (error) {
        if (batch.length === 1) batch[0]!.reject(error)
        else await this.oneByOne(key, batch)
      }
    }
    entry.flushing = false
    this.keys.delete(key)
  }

  private async oneByOne(key: string, batch: Array<Waiting<T, R>>): Promise<void> {
    for (const waiting of batch) {
      try {
        waiting.resolve(await this.flush(key, [waiting.item]))
      } catch (error) {
        waiting.reject(error)
      }
    }
  }
}

interface Waiting<T, R> {
  item: T
  resolve: (result: R) => void
  reject: (error: unknown) => void
}
