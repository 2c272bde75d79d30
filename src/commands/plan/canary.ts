import type { RunCanary } from '../../events/index.js'
import { ValidationError, type FieldProblem } from '../errors.js'

/** A start's `canary` as sent (SPEC §11): either tenants by id, or how many of the smallest to take. */
export interface CanaryRequest {
  tenantIds?: number[] | null | undefined
  count?: number | null | undefined
  autoPromote?: boolean | null | undefined
}

/** The checks that need nothing but the request: 422 naming the field, before anything is scanned. */
export function checkCanaryRequest(request: CanaryRequest | null | undefined): void {
  if (request === null || request === undefined) return
  const byIds = request.tenantIds !== undefined && request.tenantIds !== null
  const byCount = request.count !== undefined && request.count !== null
  const problems: FieldProblem[] = []
  if (byIds === byCount) problems.push({ field: 'canary', message: 'give either tenantIds or count' })
  if (byIds && request.tenantIds!.length === 0) problems.push({ field: 'canary.tenantIds', message: 'must name at least one tenant' })
  if (byIds) {
    const seen = new Set<number>()
    const twice = request.tenantIds!.filter((id) => seen.has(id) || !seen.add(id))
    if (twice.length > 0) problems.push({ field: 'canary.tenantIds', message: `names tenant ${twice[0]} more than once` })
  }
  if (byCount && (!Number.isInteger(request.count) || request.count! < 1)) {
    problems.push({ field: 'canary.count', message: 'must be a whole number of at least 1' })
  }
  if (problems.length > 0) throw new ValidationError(problems)
}

/**
 * SPEC §11: the canary tenants of a run, in target order. Named tenants must be targets of the run;
 * `count` takes the n tenants with the fewest findings (`total` of the start's own scan; ties by tenant id)
 * and may not exceed the targets. Null when the start asks for no canary.
 */
export function resolveCanary(
  request: CanaryRequest | null | undefined,
  targets: readonly number[],
  findingsOf: (tenantId: number) => number,
): RunCanary | null {
  checkCanaryRequest(request)
  if (request === null || request === undefined) return null
  const autoPromote = request.autoPromote ?? false
  const targetSet = new Set(targets)
  let chosen: Set<number>
  if (request.tenantIds !== undefined && request.tenantIds !== null) {
    const strangers = request.tenantIds.filter((id) => !targetSet.has(id))
    if (strangers.length > 0) {
      const listed = strangers.slice(0, 10).join(', ') + (strangers.length > 10 ? ', …' : '')
      throw new ValidationError([{ field: 'canary.tenantIds', message: `not targets of this run: ${listed}` }])
    }
    chosen = new Set(request.tenantIds)
  } else {
    const count = request.count!
    if (count > targets.length) {
      throw new ValidationError([{ field: 'canary.count', message: `must be at most ${targets.length}, the run's number of target tenants` }])
    }
    const smallest = [...targets].sort((a, b) => findingsOf(a) - findingsOf(b) || a - b).slice(0, count)
    chosen = new Set(smallest)
  }
  return { tenantIds: targets.filter((id) => chosen.has(id)), autoPromote }
}
