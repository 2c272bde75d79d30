import { capabilities } from '../auth/capabilities.js'
import { hiddenCharacterProblems } from './visible-text.js'
import { streams, type ApprovalPolicy, type DomainEvent, type EventMetadata, type RunScope } from '../events/index.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, requireCapabilities, type Actor } from './actor.js'
import { ValidationError } from './errors.js'
import { loadHalt } from './halt.js'
import { handleCommand } from './handle-command.js'
import { requireRunAccess, runApprovalCapabilities, type RunAccessDeps } from './run-control.js'
import { requireSecondOperator } from './run/run-decider.js'
import { runDecider } from './run/run-decider-definition.js'
import type { RunState } from './run/run-state.js'
import { checkedReason } from './run/start-run-policy.js'

/** SPEC §10 approvals (four eyes): the setting, whether a start needs approval, approve and reject. */

export interface ApprovalSettings {
  required: ApprovalPolicy
  by: { id: string; email: string; name: string } | null
  at: string | null
}

const POLICIES: readonly ApprovalPolicy[] = ['none', 'all_tenants', 'all']

export async function approvalSettings(log: EventLog): Promise<ApprovalSettings> {
  const { events } = await log.read(streams.approvalSettings())
  const last = events.at(-1)
  if (!last || last.event.type !== 'ApprovalPolicySet') return { required: 'none', by: null, at: null }
  return { required: last.event.data.required, by: operatorOf(last.metadata), at: last.event.data.at }
}

function operatorOf(metadata: EventMetadata): ApprovalSettings['by'] {
  const initiator = metadata.initiator
  return initiator.kind === 'operator' ? { id: initiator.platformUserId, email: initiator.email, name: initiator.name } : null
}

/** Whether a start of this scope needs a second operator under the policy. */
export function needsApproval(policy: ApprovalPolicy, scope: RunScope): boolean {
  return policy === 'all' || (policy === 'all_tenants' && scope === 'all_tenants')
}

export async function setApprovalSettings(deps: { log: EventLog }, actor: Actor, input: { required: string }): Promise<ApprovalSettings> {
  requireCapabilities(actor, [capabilities.operatorsManage])
  if (!(POLICIES as readonly string[]).includes(input.required)) {
    throw new ValidationError([{ field: 'required', message: `must be one of ${POLICIES.join(', ')}` }])
  }
  const required = input.required as ApprovalPolicy
  const current = await approvalSettings(deps.log)
  if (current.required !== required) {
    const streamId = streams.approvalSettings()
    const { revision } = await deps.log.read(streamId)
    const event: DomainEvent = { type: 'ApprovalPolicySet', data: { required, previous: current.required, at: new Date().toISOString() } }
    await deps.log.append(streamId, [event], revision ?? 'no_stream', { correlationId: streamId, causationId: null, initiator: initiatorOf(actor) })
  }
  return approvalSettings(deps.log)
}

/**
 * 404 for an unknown run, 403 without `platform.runbooks.approve` and the runbook's capability, and 403 for
 * the operator who started it (SPEC §10); before the body.
 */
export async function requireApprovalAccess(deps: RunAccessDeps, actor: Actor, runId: string): Promise<void> {
  const request = await requireRunAccess(deps, actor, runId, runApprovalCapabilities)
  requireSecondOperator(request, actor.operatorId, 'approve or reject')
}

export async function approveRun(deps: RunAccessDeps, actor: Actor, runId: string, input: { comment?: string | null | undefined }): Promise<RunState> {
  await requireApprovalAccess(deps, actor, runId)
  const comment = input.comment?.trim() || null
  if (comment && [...comment].length > 500) throw new ValidationError([{ field: 'comment', message: 'must be at most 500 characters' }])
  const hidden = hiddenCharacterProblems('comment', comment, 'text')
  if (hidden.length > 0) throw new ValidationError(hidden)
  const halted = (await loadHalt(deps.log)).halted
  const context = { correlationId: runId, causationId: null, initiator: initiatorOf(actor) }
  const command = { type: 'ApproveRun' as const, operatorId: actor.operatorId, comment, halted, at: new Date().toISOString() }
  return (await handleCommand(deps.log, streams.run(runId), runDecider, command, context)).state
}

export async function rejectRun(deps: RunAccessDeps, actor: Actor, runId: string, input: { reason: { code: string; text: string } | null }): Promise<RunState> {
  await requireApprovalAccess(deps, actor, runId)
  const reason = checkedReason(input.reason, 'a rejection')!
  const context = { correlationId: runId, causationId: null, initiator: initiatorOf(actor) }
  const command = { type: 'RejectRun' as const, operatorId: actor.operatorId, reason, at: new Date().toISOString() }
  return (await handleCommand(deps.log, streams.run(runId), runDecider, command, context)).state
}

/** The reconciler's expiry of a run awaiting approval for 24 hours (a no-op before). */
export async function expireApproval(log: EventLog, runId: string, now: Date): Promise<boolean> {
  const context = { correlationId: runId, causationId: null, initiator: { kind: 'system' as const, component: 'reconciler' as const } }
  const handled = await handleCommand(log, streams.run(runId), runDecider, { type: 'ExpireApproval', at: now.toISOString() }, context)
  return handled.events.length > 0
}

