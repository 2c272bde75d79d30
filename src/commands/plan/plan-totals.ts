import type { PreflightResult, RunScope } from '../../events/index.js'

type PlannedCounts = { affected: number; total: number; wouldFail: object | string | null }

/**
 * The tenants a plan's sums cover: those whose repair would succeed. A tenant that would fail changes
 * nothing and is not counted by the run (its counts cover the tenants that completed), so on data that did
 * not change in between a run's `updated` and `total` equal the sums (SPEC §2), and its drift is measured on
 * them (SPEC §11).
 */
function succeeding<T extends PlannedCounts>(tenants: readonly T[]): T[] {
  return tenants.filter((t) => t.wouldFail === null)
}

/** The findings a plan would update. */
export function plannedAffected(tenants: readonly PlannedCounts[]): number {
  return succeeding(tenants).reduce((sum, t) => sum + t.affected, 0)
}

/** A plan's sums; `estimatedTenants` is the number of tenants for all-tenants runs, every one of them. */
export function planTotals(tenants: readonly PlannedCounts[], scope: RunScope): PreflightResult {
  return {
    affectedCount: plannedAffected(tenants),
    totalCount: succeeding(tenants).reduce((sum, t) => sum + t.total, 0),
    estimatedTenants: scope === 'all_tenants' ? tenants.length : 1,
  }
}
