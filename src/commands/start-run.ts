import { randomUUID } from 'node:crypto'
import { ulid } from 'ulid'
import type { Sql } from '../db/database.js'
import { InvalidEventError, streams, type DomainEvent, type RunReason, type RunScope, type RunSource } from '../events/index.js'
import { platformWorkspaceId, tenantWorkspaceId } from '../runbooks/tenant-universe.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, type Actor } from './actor.js'
import { WrongExpectedRevisionError } from '../store/event-store.js'
import { ActiveRunExistsError, ValidationError } from './errors.js'
import { computePreflight, requireRunbook, resolveTargetTenants } from './preflight.js'
import { loadRun } from './run-execution.js'
import { claimIsActive, decideRunIdentity, evolveRunIdentity, runIdentityHash, type RunIdentityState } from './run-identity/run-identity.js'
import { decideRun } from './run/run-decider.js'
import { checkStartRunPolicy } from './run/start-run-policy.js'
import { initialRunState } from './run/run-state.js'

export interface StartRunInput {
  runbookKey: string
  scope: RunScope
  tenantId: number | null
  confirmation: string
  reason: { code: string; text: string } | null
  source: RunSource
}

async function loadIdentity(log: EventLog, identityStream: string) {
  const { events, revision } = await log.read(identityStream)
  const state = events.reduce(evolveRunIdentity, { lastClaim: null } as RunIdentityState)
  const claimedRunStatus = state.lastClaim ? (await loadRun(log, state.lastClaim.runId)).status : ('none' as const)
  return { state, revision, claimedRunStatus }
}

/**
 * Start a run: check the policy, resolve the target, then claim the run identity and request the run in
 * one append to both streams (at most one active run per identity, whatever the concurrency). Throws
 * ActiveRunExistsError with the active run's id instead of starting a second one.
 */
export async function startRun(
  deps: { sql: Sql; log: EventLog },
  actor: Actor,
  input: StartRunInput,
): Promise<{ runId: string; status: 'queued' | 'completed' }> {
  const runbook = requireRunbook(input.runbookKey)
  // The reason is stored as checked: trimmed once, here, so the policy and the event see the same text.
  const reason = input.reason ? { code: input.reason.code, text: input.reason.text.trim() } : null
  checkStartRunPolicy({
    runbookKey: runbook.key,
    runbookCapability: runbook.requiredCapability,
    scope: input.scope,
    tenantId: input.tenantId,
    confirmation: input.confirmation,
    reason,
    operatorCapabilities: actor.capabilities,
    operatorIsBreakGlass: actor.isBreakGlass,
  })
  const tenantIds = await resolveTargetTenants(deps.sql, input)
  const workspaceId =
    input.scope === 'all_tenants'
      ? await platformWorkspaceId(deps.sql)
      : await tenantWorkspaceId(deps.sql, input.tenantId!)
  if (workspaceId === null) {
    throw new ValidationError([{ field: 'scope', message: 'the platform has no platform tenant, so no platform workspace to run in' }])
  }
  const identity = runIdentityHash({ workspaceId, runbookKey: runbook.key, scope: input.scope, targetTenantId: input.tenantId })
  const identityStream = streams.runIdentity(identity)

  // Cheap early answer for the common duplicate click, before the preflight scan.
  const early = await loadIdentity(deps.log, identityStream)
  if (early.state.lastClaim && claimIsActive(early.state.lastClaim, early.claimedRunStatus, new Date())) {
    throw new ActiveRunExistsError(early.state.lastClaim.runId)
  }

  const preflight = await computePreflight(deps.sql, runbook, input.scope, tenantIds)
  const runId = ulid()
  const initiator = initiatorOf(actor)
  const context = { correlationId: runId, causationId: null, initiator }
  const requestedData = {
    runId,
    runbookKey: runbook.key,
    scope: input.scope,
    workspaceId,
    targetTenantId: input.tenantId,
    tenantIds,
    source: input.source,
    preflight,
    reason: reason ? { reasonCode: reason.code as RunReason['reasonCode'], reasonText: reason.text } : null,
    initiator: { platformUserId: actor.operatorId, email: actor.email, name: actor.name, isBreakGlass: actor.isBreakGlass },
    runIdentityHash: identity,
    requestedAt: new Date().toISOString(),
  }
  const runEvents = decideRun({ type: 'RequestRun', data: requestedData }, initialRunState())

  // The claim and the run's first events go in one append to two streams: with the PostgreSQL store both
  // or neither are written, so a claim never names a run that does not exist. A concurrent start that
  // claimed first makes the claim's expected revision fail: decide again on a fresh read.
  for (let attempt = 1; ; attempt++) {
    const { state, revision, claimedRunStatus } = attempt === 1 ? early : await loadIdentity(deps.log, identityStream)
    const claim = decideRunIdentity(
      { type: 'ClaimRunIdentity', runIdentityHash: identity, runId, at: new Date().toISOString(), claimedRunStatus },
      state,
    )
    try {
      const claimEventId = randomUUID()
      await deps.log.appendMany([
        { streamId: identityStream, events: claim, expectedRevision: revision ?? 'no_stream', context: { ...context, eventIds: [claimEventId] } },
        { streamId: streams.run(runId), events: runEvents, expectedRevision: 'no_stream', context: { ...context, causationId: claimEventId } },
      ])
      break
    } catch (error) {
      // Events are validated before anything is written: a value the schema refuses changed nothing.
      if (error instanceof InvalidEventError) throw new ValidationError([{ field: '(request)', message: error.issues }])
      if (!(error instanceof WrongExpectedRevisionError) || attempt >= 20) throw error
    }
  }
  const completed = runEvents.some((event: DomainEvent) => event.type === 'RunCompleted')
  return { runId, status: completed ? 'completed' : 'queued' }
}
