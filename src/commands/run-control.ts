import { capabilities } from '../auth/capabilities.js'
import { streams, type Initiator, type RunReason } from '../events/index.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, requireCapabilities, type Actor } from './actor.js'
import { NotFoundError, ValidationError } from './errors.js'
import { loadHalt } from './halt.js'
import { handleCommand } from './handle-command.js'
import { findRunbook } from '../runbooks/catalog.js'
import { loadRun } from './run-execution.js'
import type { RunCommand } from './run/run-decider.js'
import { runDecider } from './run/run-decider-definition.js'
import type { ExistingRunState, RunState } from './run/run-state.js'
import { checkedReason } from './run/start-run-policy.js'

/**
 * SPEC §9 run control: pause, resume, cancel, limits. Each handler checks access, loads the run, decides
 * and appends; the rules are the decider's (src/commands/run/run-decider.ts).
 */

type ReasonInput = { code: string; text: string } | null

/**
 * The run a control names, and the operator's right to control it: `platform.runbooks.run` and the
 * runbook's capability (404 for an unknown run, 403 without them). Routes call it before reading a body.
 */
export async function requireRunControl(log: EventLog, actor: Actor, runId: string): Promise<ExistingRunState> {
  const state = await loadRun(log, runId)
  if (state.status === 'none') throw new NotFoundError('run', runId)
  const runbookCapability = findRunbook(state.request.runbookKey)?.requiredCapability
  requireCapabilities(actor, [capabilities.runbooksRun, ...(runbookCapability ? [runbookCapability] : [])])
  return state
}

/** Appends an operator's command; its caller checked access first (`requireRunControl`). */
async function controlRun(log: EventLog, actor: Actor, runId: string, command: RunCommand): Promise<RunState> {
  const context = { correlationId: runId, causationId: null, initiator: initiatorOf(actor) }
  return (await handleCommand(log, streams.run(runId), runDecider, command, context)).state
}

export async function pauseRun(deps: { log: EventLog }, actor: Actor, runId: string, input: { reason: ReasonInput }): Promise<RunState> {
  await requireRunControl(deps.log, actor, runId)
  const reason = checkedReason(input.reason, 'a pause') as RunReason
  return controlRun(deps.log, actor, runId, { type: 'PauseRun', reason, at: new Date().toISOString() })
}

export async function resumeRun(deps: { log: EventLog }, actor: Actor, runId: string, input: { reason: ReasonInput }): Promise<RunState> {
  await requireRunControl(deps.log, actor, runId)
  const reason = checkedReason(input.reason, null)
  const halted = (await loadHalt(deps.log)).halted
  return controlRun(deps.log, actor, runId, { type: 'ResumeRun', reason, halted, at: new Date().toISOString() })
}

export async function cancelRun(deps: { log: EventLog }, actor: Actor, runId: string, input: { reason: ReasonInput }): Promise<RunState> {
  await requireRunControl(deps.log, actor, runId)
  const reason = checkedReason(input.reason, 'a cancel') as RunReason
  return controlRun(deps.log, actor, runId, { type: 'CancelRun', reason, at: new Date().toISOString() })
}

export async function changeRunLimits(
  deps: { log: EventLog },
  actor: Actor,
  runId: string,
  input: { maxConcurrency?: number | undefined; maxFailures?: number | null | undefined },
): Promise<RunState> {
  await requireRunControl(deps.log, actor, runId)
  if (input.maxConcurrency === undefined && input.maxFailures === undefined) {
    throw new ValidationError([{ field: 'limits', message: 'give maxConcurrency, maxFailures or both' }])
  }
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
  by: { actor: Actor; reasonText: string; causationId: string | null } | { component: 'dispatcher' | 'tenant-worker'; reasonText: string; causationId: string | null },
): Promise<boolean> {
  const initiator: Initiator = 'actor' in by ? initiatorOf(by.actor) : { kind: 'system', component: by.component }
  const handled = await handleCommand(
    log,
    streams.run(runId),
    runDecider,
    { type: 'HaltRun', reasonText: by.reasonText, at: new Date().toISOString() },
    { correlationId: runId, causationId: by.causationId, initiator },
  )
  return handled.events.length > 0
}
