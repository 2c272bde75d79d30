import type { RunControlEntry, RunDetail } from '../../projections/queries.js'
import type { RunAction } from './console-env.js'
import { availableActions } from './run-controls.js'
import { tenantLabel, type TenantNames } from './tenant-reference.js'

/** A pause or a cancel as the page shows it: the reason, who (an operator, or the service), when. */
export interface ControlNote {
  reasonCode: string
  reasonText: string
  by: string
  at: string
}

/** What the run page shows live; sent as the data of each server-sent event. */
export interface RunProgress {
  status: string
  outcome: string
  /** Tenants with a final result (succeeded or failed) … */
  done: number
  /** … of the tenants the run targets. */
  targeted: number
  /** Seconds until every tenant is done at the pace so far; null before there is a pace (or while paused), 0 once completed. */
  etaSeconds: number | null
  summaryCounts: Record<string, number>
  tenantCounts: RunDetail['tenantCounts']
  limits: RunDetail['limits']
  /** The current pause (SPEC §9), null unless paused. */
  pause: ControlNote | null
  /** The cancel, from the moment it is recorded (the run finishes its in-flight repairs, then completes `cancelled`). */
  cancellation: ControlNote | null
  /** The controls the run's state admits now (the page shows those the operator may use). */
  actions: RunAction[]
  failures: Array<{ tenantId: number; tenant: string; reasonCode: string; message: string }>
  /** The run's plan as the page says it (it comes once the start's scan has counted the run). */
  plan: string
  /** SPEC §11: the canary's state (its tenants and auto-promote do not change), null for a run without one. */
  canary: { state: NonNullable<RunDetail['canary']>['state'] } | null
  startedAt: string | null
  completedAt: string | null
}

/** "Ada Admin (ada@ops.test)" for an operator, "the service" for its own pauses (error budget, halt). */
export function describeControlActor(entry: Pick<RunControlEntry, 'by' | 'byEmail' | 'byName'>): string {
  if (entry.byName) return entry.byEmail ? `${entry.byName} (${entry.byEmail})` : entry.byName
  return entry.by === 'system' ? 'the service' : entry.by
}

function noteOf(entry: RunControlEntry | null): ControlNote | null {
  return entry ? { reasonCode: entry.reasonCode, reasonText: entry.reasonText, by: describeControlActor(entry), at: entry.at } : null
}

export function runProgress(run: RunDetail, names: TenantNames, now: Date = new Date()): RunProgress {
  const targeted = run.tenantCounts.targeted
  const done = run.tenantCounts.succeeded + run.tenantCounts.failed
  let etaSeconds: number | null = null
  if (run.status === 'completed') etaSeconds = 0
  else if (run.status !== 'paused' && run.status !== 'awaiting_approval' && done > 0 && done < targeted) {
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
    tenantCounts: run.tenantCounts,
    limits: run.limits,
    pause: run.status === 'paused' ? noteOf(run.pause) : null,
    cancellation: noteOf(run.cancellation),
    actions: availableActions(run),
    failures: run.failureSummary.map((f) => ({
      tenantId: f.tenant_id,
      tenant: tenantLabel(names, f.tenant_id),
      reasonCode: f.reason_code,
      message: f.message,
    })),
    plan: planLabel(run.context['preflight']),
    canary: run.canary ? { state: run.canary.state } : null,
    startedAt: run.startedAt,
    completedAt: run.completedAt,
  }
}

/**
 * The run's plan (its `context.preflight`): null while a run started over many tenants is being planned
 * in the background, before any of its tenants is dispatched.
 */
export function planLabel(preflight: unknown): string {
  if (preflight === null || typeof preflight !== 'object') return 'being counted: no tenant starts before the plan'
  const { affected_count: affected, total_count: total } = preflight as { affected_count?: unknown; total_count?: unknown }
  return `${String(affected)} to update of ${String(total)} scanned (preflight)`
}

/** The progress line's tail: the ETA while running, "paused" while paused. */
export function describeEta(etaSeconds: number | null, status?: string): string {
  if (status === 'paused') return 'paused: no tenant starts until the run is resumed'
  if (status === 'awaiting_approval') return 'awaiting approval by a second operator: no tenant starts until then'
  if (etaSeconds === null) return 'estimating…'
  if (etaSeconds < 60) return `about ${etaSeconds} s remaining`
  return `about ${Math.round(etaSeconds / 60)} min remaining`
}
