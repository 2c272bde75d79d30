import type { TransactionSql } from '../db/database.js'
import type { EventMetadata, RunScope } from '../events/index.js'
import { redactedWebhookUrl } from '../commands/alert-destinations-decider.js'
import { auditEntryHash, canonicalTime, GENESIS_HASH } from './audit-chain.js'
import type { ProjectedEvent, Projection } from './projector.js'

/** Stable audit action ids (SPEC §5). Other systems filter on them: never rename one. */
export const auditActions = {
  preflight: 'platform.ops.runbooks.preflight',
  start: 'platform.ops.runbooks.start',
  completed: 'platform.ops.runbooks.completed',
  failed: 'platform.ops.runbooks.failed',
  paused: 'platform.ops.runbooks.paused',
  resumed: 'platform.ops.runbooks.resumed',
  cancelled: 'platform.ops.runbooks.cancelled',
  limitsChanged: 'platform.ops.runbooks.limits_changed',
  retried: 'platform.ops.runbooks.retried',
  reverted: 'platform.ops.runbooks.reverted',
  halted: 'platform.ops.halted',
  haltLifted: 'platform.ops.halt_lifted',
  alertDestinationAdded: 'platform.ops.alerts.destination_added',
  alertDestinationRemoved: 'platform.ops.alerts.destination_removed',
  readModelsRebuilt: 'platform.ops.read_models.rebuilt',
  approved: 'platform.ops.runbooks.approved',
  rejected: 'platform.ops.runbooks.rejected',
  approvalsChanged: 'platform.operators.approvals_changed',
  operatorCreated: 'platform.operators.created',
  operatorUpdated: 'platform.operators.updated',
  operatorDisabled: 'platform.operators.disabled',
  operatorEnabled: 'platform.operators.enabled',
  operatorCapabilitiesChanged: 'platform.operators.capabilities_changed',
  operatorPasswordChanged: 'platform.operators.password_changed',
  loginSucceeded: 'platform.ops.login.succeeded',
  loginFailed: 'platform.ops.login.failed',
  loginRateLimited: 'platform.ops.login.rate_limited',
} as const
export type AuditAction = (typeof auditActions)[keyof typeof auditActions]

/** Every entry carries every key (null where it does not apply), so readers see one shape. */
interface AuditContext {
  runbook_key: string | null
  scope: RunScope | null
  target_tenant_id: number | null
  affected_count: number | null
  operation_run_id: string | null
  platform_user_id: string | null
  email: string | null
  ip: string | null
  user_agent: string | null
  [extra: string]: unknown
}

interface AuditEntry {
  action: AuditAction
  actorUserId: string | null
  actorEmail: string | null
  context: AuditContext
}

const emptyContext: AuditContext = {
  runbook_key: null,
  scope: null,
  target_tenant_id: null,
  affected_count: null,
  operation_run_id: null,
  platform_user_id: null,
  email: null,
  ip: null,
  user_agent: null,
}

/**
 * One `audit_log` row per auditable event, keyed by the event id (so re-applying is a no-op), stamped
 * with the event's `occurredAt`. Must run after `operationRunsProjection`: a completion is attributed to
 * the operator who started the run, read from `operation_runs` in the same transaction (what it reads is
 * fixed when the run is requested, so reading it once per batch gives what each event would have read).
 * A batch's rows go in with one insert, in the events' global order.
 *
 * Each new entry takes the next free `sequence` (after the chain's head, and after any entry inserted by hand;
 * see `chainHead`) and is hashed onto the head (SPEC §12, see
 * audit-chain.ts); the head moves to the batch's last entry in the same transaction. Entries already in
 * the table (an event applied again) are left out before sequences are handed out, so an entry never gets
 * two sequences, and the chain is the same whatever the batch boundaries: a rebuild gives the same hashes.
 */
export const auditLogProjection: Projection = {
  name: 'audit-log',

  async apply(tx, events) {
    const rows = await runInitiators(tx, events)
    // The run rows were read after `operation-runs` applied the whole batch: a run planned in the background
    // has its plan's count there even for its events before RunPlanned. An entry must describe its run as it
    // stood at its event, whatever the batches (its hash depends on it, and a rebuild batches differently).
    const plannedAt = new Map<string, number>()
    events.forEach(({ event }, index) => {
      if (event.type === 'RunPlanned') plannedAt.set(event.data.runId, index)
    })
    const candidates = events.flatMap((e, index) => {
      const runAt: RunLookup = (runId) => {
        const run = rows.get(runId)
        const planned = plannedAt.get(runId)
        return run && planned !== undefined && index < planned ? { ...run, affected_count: null } : run
      }
      const entry = entryFor(runAt, e)
      return entry ? [{ e, entry }] : []
    })
    if (candidates.length === 0) return
    const present = await tx<Array<{ id: string }>>`
      select id from audit_log where id = any(${candidates.map((r) => r.e.metadata.eventId)}::text[])`
    const seen = new Set(present.map((r) => r.id))
    const fresh = candidates.filter((r) => {
      if (seen.has(r.e.metadata.eventId)) return false
      seen.add(r.e.metadata.eventId)
      return true
    })
    if (fresh.length === 0) return

    let head = await chainHead(tx)
    let sequence = head.lastTaken
    const chained = fresh.map(({ e, entry }) => {
      // What is stored is what is hashed: the time at the precision the hash takes, the context as JSON gives it back.
      const fields = {
        sequence: ++sequence,
        id: e.metadata.eventId,
        action: entry.action,
        occurredAt: canonicalTime(e.metadata.occurredAt),
        actorUserId: entry.actorUserId,
        actorEmail: entry.actorEmail,
        operationRunId: entry.context.operation_run_id,
        context: JSON.parse(JSON.stringify(entry.context)) as unknown,
      }
      const hash = auditEntryHash(head.hash, fields)
      const row = { ...fields, hash, previousHash: head.hash }
      head = { sequence: fields.sequence, hash, lastTaken: fields.sequence }
      return row
    })
    const column = <T>(pick: (row: (typeof chained)[number]) => T) => chained.map(pick)
    await tx`
      insert into audit_log (id, action, occurred_at, actor_user_id, actor_email, operation_run_id, context, sequence, hash, previous_hash)
      select id, action, occurred_at, actor_user_id, actor_email, operation_run_id, context::jsonb, sequence, hash, previous_hash
      from unnest(${column((r) => r.id)}::text[], ${column((r) => r.action)}::text[],
        ${column((r) => r.occurredAt)}::timestamptz[], ${column((r) => r.actorUserId)}::text[],
        ${column((r) => r.actorEmail)}::text[], ${column((r) => r.operationRunId)}::text[],
        ${column((r) => JSON.stringify(r.context))}::text[], ${column((r) => String(r.sequence))}::bigint[],
        ${column((r) => r.hash)}::text[], ${column((r) => r.previousHash)}::text[])
        with ordinality as e(id, action, occurred_at, actor_user_id, actor_email, operation_run_id, context, sequence, hash, previous_hash, n)
      order by n`
    await tx`
      insert into audit_chain_head (id, sequence, hash) values (true, ${String(head.sequence)}::bigint, ${head.hash})
      on conflict (id) do update set sequence = excluded.sequence, hash = excluded.hash`
  },

  async reset(tx) {
    await tx`delete from audit_log`
    await tx`
      insert into audit_chain_head (id, sequence, hash) values (true, 0, ${GENESIS_HASH})
      on conflict (id) do update set sequence = excluded.sequence, hash = excluded.hash`
  },
}

/**
 * Where the chain ends, and the highest sequence taken in the table. The head row is taken for update (the
 * projector's checkpoint lock already serialises writers; this keeps the head right for any other). Without
 * one (deleted by hand), the chain goes on from its last entry. New entries are numbered after the highest
 * sequence taken, so that the projector, and every read model with it, is never stuck on a sequence an entry
 * inserted by hand holds; they chain from the head all the same, so the verification still names that
 * entry as the first broken one.
 */
/**
 * Sequences a forged entry may hold beyond which new entries are not numbered after it: the numbering is done
 * in JavaScript numbers (exact below 2^53), and the chain itself never comes near (2^52 entries).
 */
const MAX_SEQUENCE_NUMBERED_AFTER = 2 ** 52

async function chainHead(tx: TransactionSql): Promise<{ sequence: number; hash: string; lastTaken: number }> {
  const [head] = await tx<Array<{ sequence: string; hash: string; last_taken: string | null }>>`
    select sequence, hash, (select max(sequence) from audit_log where sequence < ${MAX_SEQUENCE_NUMBERED_AFTER}) as last_taken
    from audit_chain_head for update`
  if (head) return { sequence: Number(head.sequence), hash: head.hash, lastTaken: Math.max(Number(head.sequence), Number(head.last_taken ?? 0)) }
  const [last] = await tx<Array<{ sequence: string; hash: string }>>`select sequence, hash from audit_log order by sequence desc limit 1`
  return last
    ? { sequence: Number(last.sequence), hash: last.hash, lastTaken: Number(last.sequence) }
    : { sequence: 0, hash: GENESIS_HASH, lastTaken: 0 }
}

/** The runbook parameters a preview or a start used, for runbooks that have any (SPEC §13). */
function parametersOf(data: { parameters: Record<string, unknown> }): { parameters?: Record<string, unknown> } {
  return Object.keys(data.parameters).length > 0 ? { parameters: data.parameters } : {}
}

/**
 * A retry's or a revert's reason in its entry: the keys only when the event has one. An event of version 1
 * (upcast with a null reason) then gives its entry exactly as it was projected before version 2, so a rebuild
 * of the audit log gives the same hashes (SPEC §12).
 */
function reasonKeys(reason: { reasonCode: string; reasonText: string } | null): { reason_code?: string; reason_text?: string } {
  return reason ? { reason_code: reason.reasonCode, reason_text: reason.reasonText } : {}
}

/** Where the request came from, when the event was caused by a request. */
function requestOrigin(metadata: EventMetadata): { ip: string | null; user_agent: string | null } {
  const initiator = metadata.initiator
  if (initiator.kind === 'system') return { ip: null, user_agent: null }
  return { ip: initiator.ip, user_agent: initiator.userAgent }
}

function entryFor(runs: RunLookup, { event, metadata }: ProjectedEvent): AuditEntry | null {
  switch (event.type) {
    case 'PreflightRecorded': {
      const operator = metadata.initiator.kind === 'operator' ? metadata.initiator : null
      const d = event.data
      return {
        action: auditActions.preflight,
        actorUserId: operator?.platformUserId ?? null,
        actorEmail: operator?.email ?? null,
        context: {
          ...emptyContext,
          runbook_key: d.runbookKey,
          scope: d.scope,
          target_tenant_id: d.targetTenantId,
          affected_count: d.result.affectedCount,
          ...parametersOf(d),
          platform_user_id: operator?.platformUserId ?? null,
          email: operator?.email ?? null,
          ...requestOrigin(metadata),
        },
      }
    }
    case 'RunRequested': {
      const d = event.data
      return {
        action: auditActions.start,
        actorUserId: d.initiator.platformUserId,
        actorEmail: d.initiator.email,
        context: {
          ...emptyContext,
          runbook_key: d.runbookKey,
          scope: d.scope,
          target_tenant_id: d.targetTenantId,
          // null for a start planned in the background: its plan is audited when recorded (RunPlanned)
          affected_count: d.preflight?.affectedCount ?? null,
          ...parametersOf(d),
          operation_run_id: d.runId,
          platform_user_id: d.initiator.platformUserId,
          email: d.initiator.email,
          ...requestOrigin(metadata),
          source: d.source,
          reason_code: d.reason?.reasonCode ?? null,
        },
      }
    }
    case 'RunPlanned':
      // The preflight of a run started over many tenants, made by the service after the start answered.
      return runControlEntry(runs, metadata, event.data.runId, auditActions.preflight, {
        affected_count: event.data.preflight.affectedCount,
        total_count: event.data.preflight.totalCount,
      })
    case 'RunCompleted': {
      const d = event.data
      const run = runs(d.runId)
      const failed = d.outcome === 'failed' || d.outcome === 'blocked'
      return {
        action: failed ? auditActions.failed : auditActions.completed,
        actorUserId: run?.user_id ?? null,
        actorEmail: run?.email ?? null,
        context: {
          ...emptyContext,
          runbook_key: run?.type ?? null,
          scope: run?.scope ?? null,
          target_tenant_id: run?.target_tenant_id ?? null,
          affected_count: run?.affected_count ?? null,
          operation_run_id: d.runId,
          platform_user_id: run?.user_id ?? null,
          email: run?.email ?? null,
          // The completion comes from a worker, not from a request: it has no ip or user agent.
          ...requestOrigin(metadata),
          outcome: d.outcome,
          summary_counts: d.summaryCounts,
        },
      }
    }
    case 'RunPaused':
      return runControlEntry(runs, metadata, event.data.runId, auditActions.paused, {
        reason_code: event.data.reason.reasonCode,
        reason_text: event.data.reason.reasonText,
      })
    case 'RunResumed':
      return runControlEntry(runs, metadata, event.data.runId, auditActions.resumed, {
        reason_code: event.data.reason?.reasonCode ?? null,
        reason_text: event.data.reason?.reasonText ?? null,
      })
    case 'RunCancelled':
      return runControlEntry(runs, metadata, event.data.runId, auditActions.cancelled, {
        reason_code: event.data.reason.reasonCode,
        reason_text: event.data.reason.reasonText,
      })
    case 'RunLimitsChanged':
      return runControlEntry(runs, metadata, event.data.runId, auditActions.limitsChanged, {
        limits: event.data.limits,
        previous_limits: event.data.previous,
      })
    case 'RunRetried':
      return runControlEntry(runs, metadata, event.data.runId, auditActions.retried, {
        retry_run_id: event.data.retryRunId,
        retried_tenants: event.data.tenantIds.length,
        ...reasonKeys(event.data.reason),
      })
    case 'RunReverted':
      return runControlEntry(runs, metadata, event.data.runId, auditActions.reverted, {
        revert_run_id: event.data.revertRunId,
        ...reasonKeys(event.data.reason),
      })
    case 'RunApproved':
      return runControlEntry(runs, metadata, event.data.runId, auditActions.approved, { comment: event.data.comment })
    case 'RunRejected':
      return runControlEntry(runs, metadata, event.data.runId, auditActions.rejected, {
        reason_code: event.data.reason.reasonCode,
        reason_text: event.data.reason.reasonText,
      })
    case 'ApprovalPolicySet':
      return actorEntry(metadata, auditActions.approvalsChanged, { required: event.data.required, previous: event.data.previous })
    case 'HaltEngaged':
      return deploymentEntry(metadata, auditActions.halted, event.data.reason)
    case 'HaltLifted':
      return deploymentEntry(metadata, auditActions.haltLifted, event.data.reason)
    // SPEC §12: which destination, of what kind, where to (never its secret: the event has none).
    case 'AlertDestinationAdded':
      return alertDestinationEntry(metadata, auditActions.alertDestinationAdded, event.data.destinationId, {
        destination_kind: event.data.kind,
        // Events written before URLs were redacted hold the whole URL (its path may be the credential).
        destination_url: event.data.kind === 'webhook' ? (redactedWebhookUrl(event.data.url) ?? event.data.url) : event.data.url,
      })
    case 'AlertDestinationRemoved':
      return alertDestinationEntry(metadata, auditActions.alertDestinationRemoved, event.data.destinationId, {})
    // SPEC §12: who rebuilt the read models, and which tables held rows the event store does not give.
    case 'ReadModelsRebuilt':
      return actorEntry(metadata, auditActions.readModelsRebuilt, {
        events: event.data.events,
        same: event.data.same,
        changed_tables: event.data.changedTables,
      })
    case 'OperatorCreated':
      return operatorEntry(metadata, auditActions.operatorCreated, event.data.operatorId, {
        subject_email: event.data.email,
        capabilities: event.data.capabilities,
        is_break_glass: event.data.isBreakGlass,
      })
    case 'OperatorUpdated':
      return operatorEntry(metadata, auditActions.operatorUpdated, event.data.operatorId, { changes: event.data.changes })
    case 'OperatorCapabilitiesChanged':
      return operatorEntry(metadata, auditActions.operatorCapabilitiesChanged, event.data.operatorId, {
        capabilities: event.data.capabilities,
        previous_capabilities: event.data.previous,
      })
    case 'OperatorDisabled':
      return operatorEntry(metadata, auditActions.operatorDisabled, event.data.operatorId, {})
    case 'OperatorEnabled':
      return operatorEntry(metadata, auditActions.operatorEnabled, event.data.operatorId, {})
    case 'OperatorPasswordChanged':
      // Who set it and for whom; never the password.
      return operatorEntry(metadata, auditActions.operatorPasswordChanged, event.data.operatorId, { by: event.data.by })
    case 'LoginSucceeded': {
      const d = event.data
      return {
        action: auditActions.loginSucceeded,
        actorUserId: d.operatorId,
        actorEmail: d.email,
        context: { ...emptyContext, platform_user_id: d.operatorId, email: d.email, ...requestOrigin(metadata), channel: d.channel },
      }
    }
    case 'LoginFailed': {
      const d = event.data
      return {
        action: auditActions.loginFailed,
        actorUserId: null,
        actorEmail: d.email,
        context: { ...emptyContext, email: d.email, ...requestOrigin(metadata), channel: d.channel },
      }
    }
    case 'LoginRateLimited': {
      const d = event.data
      return {
        action: auditActions.loginRateLimited,
        actorUserId: null,
        actorEmail: d.email,
        context: {
          ...emptyContext,
          email: d.email,
          ...requestOrigin(metadata),
          channel: d.channel,
          retry_after_seconds: d.retryAfterSeconds,
        },
      }
    }
    default:
      return null
  }
}

/** The actor of a control event: the operator who sent it, or none for the service's own (e.g. an error budget). */
function actorOf(metadata: EventMetadata) {
  const operator = metadata.initiator.kind === 'operator' ? metadata.initiator : null
  return { id: operator?.platformUserId ?? null, email: operator?.email ?? null }
}

/** A control of a run (SPEC §9): attributed to its actor, described with the run it acted on. */
function runControlEntry(
  runs: RunLookup,
  metadata: EventMetadata,
  runId: string,
  action: AuditAction,
  extra: Record<string, unknown>,
): AuditEntry {
  const run = runs(runId)
  const actor = actorOf(metadata)
  return {
    action,
    actorUserId: actor.id,
    actorEmail: actor.email,
    context: {
      ...emptyContext,
      runbook_key: run?.type ?? null,
      scope: run?.scope ?? null,
      target_tenant_id: run?.target_tenant_id ?? null,
      affected_count: run?.affected_count ?? null,
      operation_run_id: runId,
      platform_user_id: actor.id,
      email: actor.email,
      ...requestOrigin(metadata),
      ...extra,
    },
  }
}

/** An entry of a change made by whoever the event's initiator is, with what the change was (`extra`). */
function actorEntry(metadata: EventMetadata, action: AuditAction, extra: Record<string, unknown>): AuditEntry {
  const actor = actorOf(metadata)
  return {
    action,
    actorUserId: actor.id,
    actorEmail: actor.email,
    context: { ...emptyContext, platform_user_id: actor.id, email: actor.email, ...requestOrigin(metadata), ...extra },
  }
}

function deploymentEntry(metadata: EventMetadata, action: AuditAction, reason: { reasonCode: string; reasonText: string }): AuditEntry {
  return actorEntry(metadata, action, { reason_code: reason.reasonCode, reason_text: reason.reasonText })
}

/** A change to an operator (SPEC §10): the actor who made it and the operator it was made to. */
function operatorEntry(metadata: EventMetadata, action: AuditAction, subjectId: string, extra: Record<string, unknown>): AuditEntry {
  return actorEntry(metadata, action, { subject_operator_id: subjectId, ...extra })
}

function alertDestinationEntry(metadata: EventMetadata, action: AuditAction, destinationId: string, extra: Record<string, unknown>): AuditEntry {
  return actorEntry(metadata, action, { destination_id: destinationId, ...extra })
}

interface RunInitiatorRow {
  user_id: string
  email: string | null
  type: string
  scope: RunScope | null
  target_tenant_id: number | null
  affected_count: number | null
}

type RunInitiators = Map<string, RunInitiatorRow>
/** A run of the batch as it stood at the event being described. */
type RunLookup = (runId: string) => RunInitiatorRow | undefined

/** The events whose entry describes their run with what `operation_runs` holds (see `entryFor`). */
const describedByRun = new Set<ProjectedEvent['event']['type']>([
  'RunPlanned',
  'RunCompleted',
  'RunPaused',
  'RunResumed',
  'RunCancelled',
  'RunLimitsChanged',
  'RunRetried',
  'RunReverted',
  'RunApproved',
  'RunRejected',
])

/** The runs the batch's entries describe, in one query (none for a batch of tenant results alone). */
async function runInitiators(tx: TransactionSql, events: readonly ProjectedEvent[]): Promise<RunInitiators> {
  const ids = [...new Set(events.flatMap(({ event }) => (describedByRun.has(event.type) && 'runId' in event.data ? [event.data.runId] : [])))]
  if (ids.length === 0) return new Map()
  const rows = await tx<Array<RunInitiatorRow & { id: string }>>`
    select id, user_id, context #>> '{platform_initiator,email}' as email, type, context ->> 'scope' as scope,
           context -> 'target_tenant_id' as target_tenant_id,
           context #> '{preflight,affected_count}' as affected_count
    from operation_runs where id = any(${ids}::text[])`
  return new Map(rows.map(({ id, ...run }) => [id, run]))
}
