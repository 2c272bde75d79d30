import type { PreflightResult } from '../../events/index.js'

/** One tenant of a plan, as pinned or as scanned again at start. */
export interface PlannedTenant {
  tenantId: number
  affected: number
  total: number
  wouldFail: string | null
}

export interface PlanComparison {
  pinned: PreflightResult
  current: PreflightResult
  /** The tenants whose plan differs (affected, total or would-fail), or that are in one plan only. */
  tenants: Array<{ tenantId: number; pinned: Omit<PlannedTenant, 'tenantId'> | null; current: Omit<PlannedTenant, 'tenantId'> | null }>
}

export const DEFAULT_MAX_DRIFT_PERCENT = 10

/**
 * SPEC §11 "Pinned plan and drift": the data moved beyond the operator's tolerance when the affected count
 * changed by at least one finding and by more than `maxDriftPercent` percent of the pinned count, or when a
 * tenant that would have succeeded would now fail. Pure: the handler scans, this decides.
 */
export function planDrifted(pinned: readonly PlannedTenant[], current: readonly PlannedTenant[], maxDriftPercent: number): boolean {
  const pinnedAffected = sum(pinned)
  const moved = Math.abs(sum(current) - pinnedAffected)
  // In integers: moved / pinned > p / 100, without a rounding that could let one finding through.
  if (moved >= 1 && moved * 100 > maxDriftPercent * pinnedAffected) return true
  const failedBefore = new Set(pinned.filter((t) => t.wouldFail !== null).map((t) => t.tenantId))
  return current.some((t) => t.wouldFail !== null && !failedBefore.has(t.tenantId))
}

/** What changed between the pinned plan and today's, for the operator (the 409's body). */
export function comparePlans(
  pinned: { result: PreflightResult; tenants: readonly PlannedTenant[] },
  current: { result: PreflightResult; tenants: readonly PlannedTenant[] },
): PlanComparison {
  const before = new Map(pinned.tenants.map((t) => [t.tenantId, t]))
  const after = new Map(current.tenants.map((t) => [t.tenantId, t]))
  const ids = [...new Set([...before.keys(), ...after.keys()])].sort((a, b) => a - b)
  const view = (t: PlannedTenant | undefined) => (t ? { affected: t.affected, total: t.total, wouldFail: t.wouldFail } : null)
  const tenants = ids
    .map((tenantId) => ({ tenantId, pinned: view(before.get(tenantId)), current: view(after.get(tenantId)) }))
    .filter((t) => JSON.stringify(t.pinned) !== JSON.stringify(t.current))
  return { pinned: pinned.result, current: current.result, tenants }
}

const sum = (tenants: readonly PlannedTenant[]) => tenants.reduce((total, t) => total + t.affected, 0)
