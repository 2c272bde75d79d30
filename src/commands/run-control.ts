import { capabilities } from '../auth/capabilities.js'
import { streams, type Initiator, type RunReason } from '../events/index.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, requireCapabilities, type Actor } from './actor.js'
import { NotFoundError, ValidationError } from './errors.js'
import { haltCause, loadHalt } from './halt.js'
import { handleCommand } from './handle-command.js'
import type { RunbookCatalog } from '../runbooks/catalog.js'
import { loadRunRequest, storedResultsCauses } from './run-execution.js'
import type { RunCommand, TenantOutcome } from './run/run-decider.js'
import type { Sql } from '../db/database.js'
import { findRunResults } from '../db/tenant-results.js'
import { runDecider } from './run/run-decider-definition.js'
import type { RunState } from './run/run-state.js'
import { limitProblems } from './run/run-limits.js'
import { checkedReason } from './run/start-run-policy.js'

/**
 * SPEC §9 run control: pause, resume, cancel, limits. Each handler checks access, loads the run, decides
 * and appends; the rules are the decider's (src/commands/run/run-decider.ts).
 */

type ReasonInput = { code: string; text: string } | null

/** What a command on an existing run needs: its events, and the catalog that says whose runbook it is. */
export interface RunAccessDeps {
  log: EventLog
  catalog: RunbookCatalog
  /**
   * Where the results stored beside a run's committed repairs are read: a pause records those its stream
   * still lacks first (a message of small tenants records its results when it ends). Without it, none.
   */
  sql?: Sql
}

/** The capabilities controlling a run needs (SPEC §9): `platform.runbooks.run` and the runbook's own. */
export function runControlCapabilities(catalog: RunbookCatalog, runbookKey: string): string[] {
  return [capabilities.runbooksRun, ...runbookCapabilityOf(catalog, runbookKey)]
}

/** The capabilities approving or rejecting a run needs (SPEC §10): `platform.runbooks.approve` and the runbook's own. */
export function runApprovalCapabilities(catalog: RunbookCatalog, runbookKey: string): string[] {
  return [capabilities.runbooksApprove, ...runbookCapabilityOf(catalog, runbookKey)]
}

function runbookCapabilityOf(catalog: RunbookCatalog, runbookKey: string): string[] {
  const runbook = catalog.find(runbookKey)
  return runbook ? [runbook.requiredCapability] : []
}

/**
 * The run a command names and the operator's right to it (404 for an unknown run, 403 without the
 * capabilities). Reads only the run's first event; routes call it before reading a body.
 */
export async function requireRunAccess(
  deps: RunAccessDeps,
  actor: Actor,
  runId: string,
  capabilitiesFor: (catalog: RunbookCatalog, runbookKey: string) => string[],
): Promise<NonNullable<Awaited<ReturnType<typeof loadRunRequest>>>> {
  const request = await loadRunRequest(deps.log, runId)
  if (!request) throw new NotFoundError('run', runId)
  requireCapabilities(actor, capabilitiesFor(deps.catalog, request.runbookKey))
  return request
}

export const requireRunControl = async (deps: RunAccessDeps, actor: Actor, runId: string): Promise<void> => {
  await requireRunAccess(deps, actor, runId, runControlCapabilities)
}

/** Appends an operator's command; its caller checked access first (`requireRunControl`). */
async function controlRun(log: EventLog, actor: Actor, runId: string, command: RunCommand): Promise<RunState> {
  const context = { correlationId: runId, causationId: null, initiator: initiatorOf(actor) }
  return (await handleCommand(log, streams.run(runId), runDecider, command, context)).state
}

export async function pauseRun(deps: RunAccessDeps, actor: Actor, runId: string, input: { reason: ReasonInput }): Promise<RunState> {
  await requireRunControl(deps, actor, runId)
  const reason = checkedReason(input.reason, 'a pause') as RunReason
  const stored = deps.sql ? await findRunResults(deps.sql, runId) : undefined
  return controlRun(deps.log, actor, runId, { type: 'PauseRun', reason, at: new Date().toISOString(), ...(stored ? { stored } : {}) })
}

export async function resumeRun(deps: RunAccessDeps, actor: Actor, runId: string, input: { reason: ReasonInput }): Promise<RunState> {
  await requireRunControl(deps, actor, runId)
  const reason = checkedReason(input.reason, null)
  const halted = (await loadHalt(deps.log)).halted
  return controlRun(deps.log, actor, runId, { type: 'ResumeRun', reason, halted, at: new Date().toISOString() })
}

export async function cancelRun(deps: RunAccessDeps, actor: Actor, runId: string, input: { reason: ReasonInput }): Promise<RunState> {
  await requireRunControl(deps, actor, runId)
  const reason = checkedReason(input.reason, 'a cancel') as RunReason
  return controlRun(deps.log, actor, runId, { type: 'CancelRun', reason, at: new Date().toISOString() })
}

export async function changeRunLimits(
  deps: RunAccessDeps,
  actor: Actor,
  runId: string,
  input: { maxConcurrency?: number | undefined; maxFailures?: number | null | undefined },
): Promise<RunState> {
  await requireRunControl(deps, actor, runId)
  if (input.maxConcurrency === undefined && input.maxFailures === undefined) {
    throw new ValidationError([{ field: 'limits', message: 'give maxConcurrency, maxFailures or both' }])
  }
  // Named as the request sends them (top-level fields), before the run is loaded.
  const problems = limitProblems(input, null)
  if (problems.length > 0) throw new ValidationError(problems)
  const limits = {
    ...(input.maxConcurrency !== undefined ? { maxConcurrency: input.maxConcurrency } : {}),
    ...(input.maxFailures !== undefined ? { maxFailures: input.maxFailures } : {}),
  }
  return controlRun(deps.log, actor, runId, { type: 'ChangeLimits', limits, at: new Date().toISOString() })
}

/**
 * The halt's pause of one run, by the operator who halted or by the service (a worker that met a halted
 * deployment first). True when this call paused the run.
 */
export async function haltActiveRun(
  log: EventLog,
  runId: string,
  by: { actor: Actor; reasonText: string; causationId: string | null } | { component: 'dispatcher' | 'tenant-worker'; causationId: string | null },
  stored?: TenantOutcome[],
): Promise<boolean> {
  // A dispatcher or a worker that meets the halt before the halt's own command reaches the run records the
  // same pause: the operator who halted, and their reason (SPEC §9: each control's event has its actor and
  // reason). The halt lifted since it was met: the component's own, with the halt's generic reason.
  const { initiator, reasonText }: { initiator: Initiator; reasonText: string } =
    'actor' in by
      ? { initiator: initiatorOf(by.actor), reasonText: by.reasonText }
      : ((await haltCause(log)) ?? { initiator: { kind: 'system', component: by.component }, reasonText: 'the deployment is halted' })
  const handled = await handleCommand(
    log,
    streams.run(runId),
    runDecider,
    { type: 'HaltRun', reasonText, at: new Date().toISOString(), ...(stored ? { stored } : {}) },
    (events) => ({ correlationId: runId, causationId: by.causationId, initiator, causationIds: storedResultsCauses(by.causationId, events) }),
  )
  return handled.events.length > 0
}
