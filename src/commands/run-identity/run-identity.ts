import { createHash } from 'node:crypto'
import type { DomainEvent, EventData, RunScope } from '../../events/index.js'
import type { LoggedEvent } from '../../store/event-log.js'
import { ActiveRunExistsError } from '../errors.js'

/**
 * SPEC §3 and §13: the hash of (workspace, runbook key, scope, target tenant, parameters as validated). A
 * retry of a run's failed tenants has its run's identity: it and an identical start exclude each other, as
 * two repairs of the same tenants must. Parameters are hashed in a canonical form (keys sorted), so the
 * same values in another order, or a default given explicitly, are the same run. A run without parameters
 * hashes as before parameters existed: a run started by the previous release still holds its identity.
 */
export function runIdentityHash(input: {
  workspaceId: number
  runbookKey: string
  scope: RunScope
  targetTenantId: number | null
  parameters: Readonly<Record<string, unknown>>
}): string {
  const identity: unknown[] = [input.workspaceId, input.runbookKey, input.scope, input.targetTenantId]
  if (Object.keys(input.parameters).length > 0) identity.push(canonicalJson(input.parameters))
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex')
}

/** JSON with every object's keys in code-point order: equal values, equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

export interface RunIdentityState {
  lastClaim: EventData<'RunIdentityClaimed'> | null
}

export function evolveRunIdentity(state: RunIdentityState, logged: Pick<LoggedEvent, 'event'>): RunIdentityState {
  return logged.event.type === 'RunIdentityClaimed' ? { lastClaim: logged.event.data } : state
}

/**
 * How long a claim whose run stream does not exist counts as active. With the PostgreSQL store the claim
 * and the run are written in one transaction, so this never happens; with EventStoreDB (no multi-stream
 * transaction) the claiming request may still be between its two appends. After that the claimer is
 * presumed dead and the identity free again.
 */
export const UNCONFIRMED_CLAIM_GRACE_MS = 30_000

export type ClaimedRunStatus = 'none' | 'awaiting_approval' | 'queued' | 'running' | 'paused' | 'completed'

export function claimIsActive(claim: EventData<'RunIdentityClaimed'>, runStatus: ClaimedRunStatus, now: Date): boolean {
  if (runStatus === 'awaiting_approval' || runStatus === 'queued' || runStatus === 'running' || runStatus === 'paused') return true
  if (runStatus === 'completed') return false
  return now.getTime() - Date.parse(claim.claimedAt) < UNCONFIRMED_CLAIM_GRACE_MS
}

export type ClaimCommand = {
  type: 'ClaimRunIdentity'
  runIdentityHash: string
  runId: string
  at: string
  /** Status of the run named by the current claim, loaded by the handler (I/O stays out of the decider). */
  claimedRunStatus: ClaimedRunStatus
}

/** At most one active run per identity (DESIGN invariant 5): the stream's expected revision serialises claims. */
export function decideRunIdentity(command: ClaimCommand, state: RunIdentityState): DomainEvent[] {
  const claim = state.lastClaim
  if (claim && claimIsActive(claim, command.claimedRunStatus, new Date(command.at))) {
    throw new ActiveRunExistsError(claim.runId)
  }
  return [
    {
      type: 'RunIdentityClaimed',
      data: { runIdentityHash: command.runIdentityHash, runId: command.runId, claimedAt: command.at },
    },
  ]
}
