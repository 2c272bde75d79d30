import { ulid } from 'ulid'
import type { Sql } from '../db/database.js'
import { encodeEvent, InvalidEventError, streams, type DomainEvent, type RunReason, type RunScope, type RunSource } from '../events/index.js'
import { platformWorkspaceId, tenantWorkspaceId } from '../runbooks/tenant-universe.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, type Actor } from './actor.js'
import { ActiveRunExistsError, ValidationError } from './errors.js'
import { handleCommand } from './handle-command.js'
import { computePreflight, requireRunbook, resolveTargetTenants } from './preflight.js'
import { runIdentityDecider } from './run-identity/run-identity-decider.js'
import { claimIsActive, runIdentityHash, type ClaimedRunStatus } from './run-identity/run-identity.js'
import { runDecider } from './run/run-decider-definition.js'
import { checkStartRunPolicy } from './run/start-run-policy.js'
import { evolveRun, initialRunState } from './run/run-state.js'

export interface StartRunInput {
  runbookKey: string
  scope: RunScope
  tenantId: number | null
  confirmation: string
  reason: { code: string; text: string } | null
  source: RunSource
}

function assertEncodable(event: DomainEvent, context: { correlationId: string; causationId: null; initiator: ReturnType<typeof initiatorOf> }): void {
  try {
    encodeEvent(event, { eventId: '00000000-0000-4000-8000-000000000000', ...context, occurredAt: new Date().toISOString() })
  } catch (error) {
    if (error instanceof InvalidEventError) throw new ValidationError([{ field: '(request)', message: error.issues }])
    throw error
  }
}

export async function loadRunStatus(log: EventLog, runId: string): Promise<ClaimedRunStatus> {
  const { events } = await log.read(streams.run(runId))
  return events.reduce(evolveRun, initialRunState()).status
}

/**
 * Start a run: check the policy, resolve the target, claim the run identity (at most one active run per
 * identity, whatever the concurrency), then append RunRequested. Throws ActiveRunExistsError with the
 * active run's id instead of starting a second one.
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
  const existing = await deps.log.read(identityStream)
  const lastClaim = existing.events.reduce(runIdentityDecider.evolve, runIdentityDecider.initialState()).lastClaim
  if (lastClaim && claimIsActive(lastClaim, await loadRunStatus(deps.log, lastClaim.runId), new Date())) {
    throw new ActiveRunExistsError(lastClaim.runId)
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
  // Validate the whole event before the identity claim: a start either appends both or neither.
  assertEncodable({ type: 'RunRequested', data: requestedData }, { correlationId: runId, causationId: null, initiator })

  const claimed = await handleCommand(
    deps.log,
    identityStream,
    runIdentityDecider,
    async (state) => ({
      type: 'ClaimRunIdentity' as const,
      runIdentityHash: identity,
      runId,
      at: new Date().toISOString(),
      claimedRunStatus: state.lastClaim ? await loadRunStatus(deps.log, state.lastClaim.runId) : ('none' as const),
    }),
    context,
  )

  const requested = await handleCommand(
    deps.log,
    streams.run(runId),
    runDecider,
    { type: 'RequestRun', data: requestedData },
    { ...context, causationId: claimed.eventIds[0] ?? null },
  )
  return { runId, status: requested.state.status === 'completed' ? 'completed' : 'queued' }
}
