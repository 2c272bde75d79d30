import type { PreflightResult } from '../../events/index.js'
import { plannedAffected } from './plan-totals.js'

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
  /** How many tenants changed (`tenants` lists at most MAX_TENANTS_SHOWN of them). */
  tenantsChanged: number
}

export const DEFAULT_MAX_DRIFT_PERCENT = 10

/**
 * SPEC §11 "Pinned plan and drift": the data moved beyond the operator's tolerance when the affected count
 * changed by at least one finding and by more than `maxDriftPercent` percent of the pinned count, or when a
 * tenant that would have succeeded would now fail. Pure: the handler scans, this decides.
 */
export function planDrifted(pinned: readonly PlannedTenant[], current: readonly PlannedTenant[], maxDriftPercent: number): boolean {
  // On the plans' sums, as the answers show them: over the tenants that would succeed.
  const pinnedAffected = plannedAffected(pinned)
  const moved = Math.abs(plannedAffected(current) - pinnedAffected)
  // In integers, the percentage taken to hundredths: moved / pinned > p / 100 exactly (a float product
  // such as 4.6 × 1500 = 6899.999… would refuse a move of exactly 4.6 %).
  if (moved >= 1 && moved * 10_000 > Math.round(maxDriftPercent * 100) * pinnedAffected) return true
  const failedBefore = new Set(pinned.filter((t) => t.wouldFail !== null).map((t) => t.tenantId))
  return current.some((t) => t.wouldFail !== null && !failedBefore.has(t.tenantId))
}

/** What changed between the pinned plan and today's, for the operator (the 409's body). */
export function comparePlans(
  pinned: { result: PreflightResult; tenants: readonly PlannedTenant[] },
  current: { result: PreflightResult; tenants: readonly PlannedTenant[] },
  maxTenants = MAX_TENANTS_SHOWN,
): PlanComparison {
  const before = new Map(pinned.tenants.map((t) => [t.tenantId, t]))
  const after = new Map(current.tenants.map((t) => [t.tenantId, t]))
  const ids = [...new Set([...before.keys(), ...after.keys()])].sort((a, b) => a - b)
  const view = (t: PlannedTenant | undefined) => (t ? { affected: t.affected, total: t.total, wouldFail: t.wouldFail } : null)
  const tenants = ids
    .map((tenantId) => ({ tenantId, pinned: view(before.get(tenantId)), current: view(after.get(tenantId)) }))
    .filter((t) => JSON.stringify(t.pinned) !== JSON.stringify(t.current))
  // What decides drift first (affected or would-fail changed, or the tenant is new or gone), then the rest;
  // an answer names at most `maxTenants` of them and says how many there are.
  const decisive = (t: (typeof tenants)[number]) =>
    !t.pinned || !t.current || t.pinned.affected !== t.current.affected || t.pinned.wouldFail !== t.current.wouldFail
  const ordered = [...tenants.filter(decisive), ...tenants.filter((t) => !decisive(t))]
  return { pinned: pinned.result, current: current.result, tenants: ordered.slice(0, maxTenants), tenantsChanged: tenants.length }
}

/** Enough to act on; an all-tenants 409 must not carry thousands of rows. */
export const MAX_TENANTS_SHOWN = 100

