import type { RunOutcome, RunScope, SummaryCounts, TenantResult } from '../../events/index.js'

/**
 * SPEC §3: `succeeded` when no tenant failed, `partially_succeeded` when some failed and some succeeded,
 * `failed` when every tenant failed, `blocked` when every tenant failed a precondition at execution time
 * (the tenant left the universe). A run with no tenant has nothing that failed: `succeeded`.
 */
export function outcomeOf(results: TenantResult[]): Exclude<RunOutcome, 'pending'> {
  const failures = results.filter((r) => r.status === 'failed')
  if (failures.length === 0) return 'succeeded'
  if (failures.length < results.length) return 'partially_succeeded'
  const allPreconditions = failures.every((f) => f.status === 'failed' && f.reasonCode === 'TENANT_NOT_ALLOWED')
  return allPreconditions ? 'blocked' : 'failed'
}

/** The summary counts of SPEC §3 over the results recorded so far. */
export function summaryCountsOf(results: TenantResult[], scope: RunScope, targetedTenants: number): SummaryCounts {
  let total = 0
  let updated = 0
  let failed = 0
  for (const result of results) {
    if (result.status === 'succeeded') {
      total += result.total
      updated += result.updated
    } else {
      failed += 1
    }
  }
  const counts: SummaryCounts = { total, processed: total, updated, skipped: total - updated, failed }
  if (scope === 'all_tenants') counts.tenants = targetedTenants
  return counts
}
