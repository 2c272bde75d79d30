import type { RunDetail } from '../../projections/queries.js'
import { tenantLabel, type TenantNames } from './tenant-reference.js'

/** What the run page shows live; sent as the data of each server-sent event. */
export interface RunProgress {
  status: string
  outcome: string
  /** Tenants with a final result (succeeded or failed) … */
  done: number
  /** … of the tenants the run targets. */
  targeted: number
  /** Seconds until every tenant is done at the pace so far; null before there is a pace, 0 once completed. */
  etaSeconds: number | null
  summaryCounts: Record<string, number>
  failures: Array<{ tenantId: number; tenant: string; reasonCode: string; message: string }>
  startedAt: string | null
  completedAt: string | null
}

export function runProgress(run: RunDetail, names: TenantNames, now: Date = new Date()): RunProgress {
  const targeted = run.tenantCounts.targeted
  const done = run.tenantCounts.succeeded + run.tenantCounts.failed
  let etaSeconds: number | null = null
  if (run.status === 'completed') etaSeconds = 0
  else if (done > 0 && done < targeted) {
    const elapsedMs = now.getTime() - new Date(run.startedAt ?? run.createdAt).getTime()
    etaSeconds = Math.max(0, Math.round(((elapsedMs / done) * (targeted - done)) / 1000))
  }
  return {
    status: run.status,
    outcome: run.outcome,
    done,
    targeted,
    etaSeconds,
    summaryCounts: run.summaryCounts,
    failures: run.failureSummary.map((f) => ({
      tenantId: f.tenant_id,
      tenant: tenantLabel(names, f.tenant_id),
      reasonCode: f.reason_code,
      message: f.message,
    })),
    startedAt: run.startedAt,
    completedAt: run.completedAt,
  }
}

export function describeEta(etaSeconds: number | null): string {
  if (etaSeconds === null) return 'estimating…'
  if (etaSeconds < 60) return `about ${etaSeconds} s remaining`
  return `about ${Math.round(etaSeconds / 60)} min remaining`
}
