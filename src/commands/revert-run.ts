import { DEFAULT_BEFORE_IMAGE_DAYS } from '../db/before-images.js'
import type { RunOutcome, RunSource } from '../events/index.js'
import { requireCapabilities, type Actor } from './actor.js'
import { NotFoundError, ValidationError, type FieldProblem } from './errors.js'
import { requireNotHalted } from './halt.js'
import { requireRunbook } from './runbook-parameters.js'
import { loadRun } from './run-execution.js'
import { decideRun } from './run/run-decider.js'
import { reasonProblems } from './run/start-run-policy.js'
import { runControlCapabilities } from './run-control.js'
import { requestRun, revertPlan, type RunCommandDeps, type StartedRun } from './start-run.js'

export interface RevertRunInput {
  /** Exactly `revert <runId>`, typed by the operator. */
  confirmation: string
  reason: { code: string; text: string } | null
  source: RunSource
}

export interface RevertRunDeps extends RunCommandDeps {
  /** OPS_BEFORE_IMAGE_DAYS: how long a run's before-images are kept (SPEC §11). */
  beforeImageDays?: number
}

/** The confirmation a revert of `runId` needs (SPEC §11). */
export function revertConfirmation(runId: string): string {
  return `revert ${runId}`
}

/**
 * SPEC §11 revert: a new run of the same runbook, scope and identity over the tenants whose findings the
 * run changed (`revertOf` set; RunReverted on the reverted run, once). Each tenant, in one transaction under
 * the tenant's lock as any repair, gets back the before-image of every finding nobody changed since.
 */
export async function revertRun(deps: RevertRunDeps, actor: Actor, revertedRunId: string, input: RevertRunInput): Promise<StartedRun> {
  const original = await loadRun(deps.log, revertedRunId)
  if (original.status === 'none') throw new NotFoundError('run', revertedRunId)
  const runbook = requireRunbook(deps.catalog, original.request.runbookKey)
  // Putting back what a runbook changed is a repair of its data: the capabilities of controlling its runs.
  requireCapabilities(actor, runControlCapabilities(deps.catalog, runbook.key))
  const problems: FieldProblem[] = []
  // Exactly, as a start's confirmation is the runbook key exactly: what the operator typed is what they confirmed.
  if (input.confirmation !== revertConfirmation(revertedRunId)) {
    problems.push({ field: 'confirmation', message: `must be exactly "${revertConfirmation(revertedRunId)}"` })
  }
  problems.push(...reasonProblems(input.reason, 'a revert'))
  if (problems.length > 0) throw new ValidationError(problems)
  const keptDays = deps.beforeImageDays ?? DEFAULT_BEFORE_IMAGE_DAYS
  const previousRevert = await previousRevertOf(deps, original.revertedBy)
  // The run's state first (409 unless completed and not reverted; 422 when it changed nothing or expired).
  decideRun({ type: 'RecordRevert', revertRunId: 'check', keptDays, previousRevert, reason: null, at: new Date().toISOString() }, original)
  await requireNotHalted(deps.log, 'start a run')
  const plan = await revertPlan(deps.sql, revertedRunId, original.request.tenantIds)
  if (plan.tenantIds.length === 0) {
    throw new ValidationError([{ field: 'runId', message: "the run's before-images are gone (purged): it cannot be reverted" }])
  }
  const { scope, targetTenantId } = original.request
  return requestRun(deps, actor, {
    runbookKey: runbook.key,
    parameters: original.request.parameters,
    scope,
    tenantId: targetTenantId,
    reason: { code: input.reason!.code, text: input.reason!.text.trim() },
    source: input.source,
    tenantIds: plan.tenantIds,
    limits: original.limits,
    retryOf: null,
    pin: null,
    canary: null,
    revert: { of: revertedRunId, preflight: plan.preflight, link: { keptDays, previousRevert } },
  })
}

/** How the run's last revert ended, once it has (null when there was none, or while it is active). */
async function previousRevertOf(deps: RevertRunDeps, revertRunId: string | null): Promise<{ outcome: RunOutcome } | null> {
  if (revertRunId === null) return null
  const revert = await loadRun(deps.log, revertRunId)
  return revert.status === 'completed' ? { outcome: revert.outcome } : null
}
