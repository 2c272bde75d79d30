import type { TenantResult } from '../../events/index.js'

/**
 * A run's tenant results as a persistent map: every state of a run sees exactly the results recorded up to
 * it, and recording one is O(1). The states of one stream share a backing map in recording order; a state
 * sees its first `size` entries. Recording on the newest state extends the backing map in place (no older
 * state can see the new entry: it is past their size); recording on an older state — a decision raced by
 * another writer, or a test branching — copies what that state sees first. A run records one result per
 * tenant, so copying every result per result made a large run quadratic; this does not.
 */
export class ResultLog implements ReadonlyMap<number, TenantResult> {
  private constructor(
    private readonly backing: Map<number, { result: TenantResult; seq: number }>,
    readonly size: number,
  ) {}

  static empty(): ResultLog {
    return new ResultLog(new Map(), 0)
  }

  static of(entries: Iterable<readonly [number, TenantResult]>): ResultLog {
    let log = ResultLog.empty()
    for (const [tenantId, result] of entries) log = log.with(tenantId, result)
    return log
  }

  get(tenantId: number): TenantResult | undefined {
    const entry = this.backing.get(tenantId)
    return entry !== undefined && entry.seq < this.size ? entry.result : undefined
  }

  has(tenantId: number): boolean {
    return this.get(tenantId) !== undefined
  }

  /** This log with `tenantId`'s result recorded (replaced, when it had one). */
  with(tenantId: number, result: TenantResult): ResultLog {
    if (this.size === this.backing.size && !this.backing.has(tenantId)) {
      this.backing.set(tenantId, { result, seq: this.size })
      return new ResultLog(this.backing, this.size + 1)
    }
    // The same event folded again on the same state (several jobs bringing one cached fold up to date at
    // once) finds its own entry next in line: sharing it keeps each fold O(1) instead of a copy per result.
    const next = this.backing.get(tenantId)
    if (next !== undefined && next.seq === this.size && sameResult(next.result, result)) {
      return new ResultLog(this.backing, this.size + 1)
    }
    const copy = new Map<number, { result: TenantResult; seq: number }>()
    for (const [id, seen] of this) copy.set(id, { result: id === tenantId ? result : seen, seq: copy.size })
    if (!copy.has(tenantId)) copy.set(tenantId, { result, seq: copy.size })
    return new ResultLog(copy, copy.size)
  }

  *entries(): MapIterator<[number, TenantResult]> {
    // Recording order is seq order: past this log's size nothing it sees is left.
    for (const [tenantId, entry] of this.backing) {
      if (entry.seq >= this.size) return
      yield [tenantId, entry.result]
    }
  }

  *keys(): MapIterator<number> {
    for (const [tenantId] of this.entries()) yield tenantId
  }

  *values(): MapIterator<TenantResult> {
    for (const [, result] of this.entries()) yield result
  }

  [Symbol.iterator](): MapIterator<[number, TenantResult]> {
    return this.entries()
  }

  forEach(callback: (value: TenantResult, key: number, map: ReadonlyMap<number, TenantResult>) => void): void {
    for (const [tenantId, result] of this.entries()) callback(result, tenantId, this)
  }
}

/** Every field of a result (both schemas are strict): a field added to TenantResult must be compared here. */
function sameResult(a: TenantResult, b: TenantResult): boolean {
  if (a.status === 'succeeded') return b.status === 'succeeded' && a.total === b.total && a.updated === b.updated
  return b.status === 'failed' && a.reasonCode === b.reasonCode && a.message === b.message
}
