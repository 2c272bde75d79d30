import { capabilities } from '../auth/capabilities.js'
import type { Sql } from '../db/database.js'
import { streams, type EventMetadata, type RunReason } from '../events/index.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, requireCapabilities, type Actor } from './actor.js'
import { HaltedError } from './errors.js'
import { haltDecider, type HaltState } from './halt/halt-decider.js'
import { handleCommand } from './handle-command.js'
import { haltActiveRun } from './run-control.js'
import { loadRun } from './run-execution.js'
import { findRunResults } from '../db/tenant-results.js'
import { checkedReason } from './run/start-run-policy.js'

/** The halt as the API shows it (SPEC §9 `GET /api/halt`). */
export interface HaltView {
  halted: boolean
  reason: { code: string; text: string } | null
  by: { id: string; email: string; name: string } | null
  at: string | null
}

/** The halt, and the id of its stream's last event (what a pause for the halt was caused by). */
export async function loadHalt(log: EventLog): Promise<HaltState & { eventId: string | null }> {
  const { events } = await log.read(streams.halt())
  return { ...events.reduce(haltDecider.evolve, haltDecider.initialState()), eventId: events.at(-1)?.metadata.eventId ?? null }
}

/** Who engaged the halt in force, and why (null when none is): what the pauses it causes record. */
export async function haltCause(log: EventLog): Promise<{ initiator: EventMetadata['initiator']; reasonText: string } | null> {
  const { events } = await log.read(streams.halt())
  const state = events.reduce(haltDecider.evolve, haltDecider.initialState())
  const last = events.at(-1)
  return state.halted && last ? { initiator: last.metadata.initiator, reasonText: state.reason.reasonText } : null
}

/** Refuses (423) what a halt forbids: starts, resumes, approvals. */
export async function requireNotHalted(log: EventLog, attempted: string): Promise<void> {
  if ((await loadHalt(log)).halted) throw new HaltedError(attempted)
}

/** The current halt, with who engaged it (from the event's metadata). */
export async function haltView(log: EventLog): Promise<HaltView> {
  const { events } = await log.read(streams.halt())
  const state = events.reduce(haltDecider.evolve, haltDecider.initialState())
  const last = events.at(-1)
  if (!state.halted || !last) return { halted: false, reason: null, by: null, at: null }
  return {
    halted: true,
    reason: { code: state.reason.reasonCode, text: state.reason.reasonText },
    by: operatorOf(last.metadata),
    at: state.at,
  }
}

function operatorOf(metadata: EventMetadata): HaltView['by'] {
  const initiator = metadata.initiator
  return initiator.kind === 'operator' ? { id: initiator.platformUserId, email: initiator.email, name: initiator.name } : null
}

export interface HaltDeps {
  sql: Sql
  log: EventLog
}

/**
 * SPEC §9: records the halt, then pauses every active run (HALTED). The runs come from the read model; a
 * run it has not projected yet is paused by the work path, which checks the halt before every repair.
 */
export async function haltDeployment(
  deps: HaltDeps,
  actor: Actor,
  input: { reason: { code: string; text: string } | null },
): Promise<{ halt: HaltView; pausedRuns: string[] }> {
  requireCapabilities(actor, [capabilities.opsHalt])
  const reason = checkedReason(input.reason, 'a halt') as RunReason
  const at = new Date().toISOString()
  const context = { correlationId: streams.halt(), causationId: null, initiator: initiatorOf(actor) }
  const handled = await handleCommand(deps.log, streams.halt(), haltDecider, { type: 'EngageHalt', reason, at }, context)
  const rows = await deps.sql<Array<{ id: string; status: string }>>`
    select id, status from operation_runs where status in ('awaiting_approval', 'queued', 'running', 'paused') order by created_at`
  const pausedRuns: string[] = []
  for (const { id, status } of rows) {
    // A running run records the results stored beside its committed repairs before it pauses (as a pause
    // does); a queued or paused one has none to record (the read model may lag: the decider checks again).
    const stored = status === 'running' ? await findRunResults(deps.sql, id) : undefined
    const pausedNow = await haltActiveRun(deps.log, id, { actor, reasonText: reason.reasonText, causationId: handled.eventIds[0] ?? null }, stored)
    // A worker that met the halt first may have paused the run itself (HALTED) a moment before: this halt
    // paused it all the same, and the operator is told so.
    if (pausedNow || (await pausedByHaltSince(deps.log, id, at))) pausedRuns.push(id)
  }
  return { halt: await haltView(deps.log), pausedRuns }
}

async function pausedByHaltSince(log: EventLog, runId: string, haltedAt: string): Promise<boolean> {
  const run = await loadRun(log, runId)
  return run.status === 'paused' && run.pause.reasonCode === 'HALTED' && run.pause.at >= haltedAt
}

/** SPEC §9: lifts the halt; paused runs stay paused until an operator resumes them. */
export async function liftHalt(deps: HaltDeps, actor: Actor, input: { reason: { code: string; text: string } | null }): Promise<HaltView> {
  requireCapabilities(actor, [capabilities.opsHalt])
  const reason = checkedReason(input.reason, 'lifting a halt') as RunReason
  const context = { correlationId: streams.halt(), causationId: null, initiator: initiatorOf(actor) }
  await handleCommand(deps.log, streams.halt(), haltDecider, { type: 'LiftHalt', reason, at: new Date().toISOString() }, context)
  return haltView(deps.log)
}
