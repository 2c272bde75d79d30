import type { TransactionSql } from '../db/database.js'
import type { EventMetadata, RunScope } from '../events/index.js'
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
 */
export const auditLogProjection: Projection = {
  name: 'audit-log',

  async apply(tx, events) {
    const runs = await runInitiators(tx, events)
    const rows = events.flatMap((e) => {
      const entry = entryFor(runs, e)
      return entry ? [{ e, entry }] : []
    })
    if (rows.length === 0) return
    const column = <T>(pick: (row: (typeof rows)[number]) => T) => rows.map(pick)
    await tx`
      insert into audit_log (id, action, occurred_at, actor_user_id, actor_email, operation_run_id, context)
      select id, action, occurred_at, actor_user_id, actor_email, operation_run_id, context::jsonb
      from unnest(${column((r) => r.e.metadata.eventId)}::text[], ${column((r) => r.entry.action)}::text[],
        ${column((r) => r.e.metadata.occurredAt)}::timestamptz[], ${column((r) => r.entry.actorUserId)}::text[],
        ${column((r) => r.entry.actorEmail)}::text[], ${column((r) => r.entry.context.operation_run_id)}::text[],
        ${column((r) => JSON.stringify(r.entry.context))}::text[])
        with ordinality as e(id, action, occurred_at, actor_user_id, actor_email, operation_run_id, context, n)
      order by n
      on conflict (id) do nothing`
  },

  async reset(tx) {
    await tx`delete from audit_log`
  },
}

/** The runbook parameters a preview or a start used, for runbooks that have any (SPEC §13). */
function parametersOf(data: { parameters: Record<string, unknown> }): { parameters?: Record<string, unknown> } {
  return Object.keys(data.parameters).length > 0 ? { parameters: data.parameters } : {}
}

/** Where the request came from, when the event was caused by a request. */
function requestOrigin(metadata: EventMetadata): { ip: string | null; user_agent: string | null } {
  const initiator = metadata.initiator
  if (initiator.kind === 'system') return { ip: null, user_agent: null }
  return { ip: initiator.ip, user_agent: initiator.userAgent }
}

function entryFor(runs: RunInitiators, { event, metadata }: ProjectedEvent): AuditEntry | null {
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
          // null for a start planned in the background (its counts are in the run's context once planned)
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
    case 'RunCompleted': {
      const d = event.data
      const run = runs.get(d.runId)
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
      })
    case 'RunReverted':
      return runControlEntry(runs, metadata, event.data.runId, auditActions.reverted, { revert_run_id: event.data.revertRunId })
    case 'RunApproved':
      return runControlEntry(runs, metadata, event.data.runId, auditActions.approved, { comment: event.data.comment })
    case 'RunRejected':
      return runControlEntry(runs, metadata, event.data.runId, auditActions.rejected, {
        reason_code: event.data.reason.reasonCode,
        reason_text: event.data.reason.reasonText,
      })
    case 'ApprovalPolicySet': {
      const actor = actorOf(metadata)
      return {
        action: auditActions.approvalsChanged,
        actorUserId: actor.id,
        actorEmail: actor.email,
        context: { ...emptyContext, platform_user_id: actor.id, email: actor.email, ...requestOrigin(metadata), required: event.data.required, previous: event.data.previous },
      }
    }
    case 'HaltEngaged':
      return deploymentEntry(metadata, auditActions.halted, event.data.reason)
    case 'HaltLifted':
      return deploymentEntry(metadata, auditActions.haltLifted, event.data.reason)
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
  runs: RunInitiators,
  metadata: EventMetadata,
  runId: string,
  action: AuditAction,
  extra: Record<string, unknown>,
): AuditEntry {
  const run = runs.get(runId)
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

function deploymentEntry(metadata: EventMetadata, action: AuditAction, reason: { reasonCode: string; reasonText: string }): AuditEntry {
  const actor = actorOf(metadata)
  return {
    action,
    actorUserId: actor.id,
    actorEmail: actor.email,
    context: {
      ...emptyContext,
      platform_user_id: actor.id,
      email: actor.email,
      ...requestOrigin(metadata),
      reason_code: reason.reasonCode,
      reason_text: reason.reasonText,
    },
  }
}

/** A change to an operator (SPEC §10): the actor who made it and the operator it was made to. */
function operatorEntry(metadata: EventMetadata, action: AuditAction, subjectId: string, extra: Record<string, unknown>): AuditEntry {
  const actor = actorOf(metadata)
  return {
    action,
    actorUserId: actor.id,
    actorEmail: actor.email,
    context: { ...emptyContext, platform_user_id: actor.id, email: actor.email, ...requestOrigin(metadata), subject_operator_id: subjectId, ...extra },
  }
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

/** The events whose entry describes their run with what `operation_runs` holds (see `entryFor`). */
const describedByRun = new Set<ProjectedEvent['event']['type']>([
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
