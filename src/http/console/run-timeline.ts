import type { DomainEvent, EventMetadata, EventOf } from '../../events/index.js'
import type { LoggedEvent } from '../../store/event-log.js'
import { eventItemOf, type EventItem } from '../routes/event-item.js'
import { tenantLabel, type TenantNames } from './tenant-reference.js'

/**
 * A run's events as an auditor reads them (SPEC §12): one line per event — when, who, what in words, why —
 * with the event itself one click away. Results a worker recorded together (one append) are one line.
 * The run page renders these entries and its live script appends those the stream sends, so both say the same.
 */
export interface TimelineEntry {
  /** The entry's first and last event revisions (equal but for a batch of tenant results). */
  revision: number
  lastRevision: number
  at: string
  who: string
  what: string
  /** The reason code and text an operator or the service gave, when the event carries one. */
  why: { code: string | null; text: string } | null
  /** What the disclosure of the events is called: "RunPaused, revision 5", "3 × TenantProcessed, revisions 4–6". */
  label: string
  /** The events as `GET /api/runs/{id}/events` shows them. */
  events: EventItem[]
}

/** How many events the run page shows at most, the latest first to go when more arrive. */
export const TIMELINE_WINDOW = 200

const components: Record<string, string> = {
  dispatcher: 'dispatcher',
  'tenant-worker': 'tenant worker',
  reconciler: 'reconciler',
  auth: 'authentication',
  api: 'API',
  verifier: 'verifier',
  planner: 'planner',
}

/** "Ada Admin (ada@ops.test)" for an operator, "the service (tenant worker)" for the service's own components. */
export function describeInitiator(initiator: EventMetadata['initiator']): string {
  switch (initiator.kind) {
    case 'operator':
      return initiator.name ? `${initiator.name} (${initiator.email})` : initiator.email
    case 'system':
      return `the service (${components[initiator.component] ?? initiator.component})`
    case 'anonymous':
      return initiator.email || 'someone not logged in'
  }
}

/** SPEC §3 `source`, as a sentence says it. */
const sources: Record<string, string> = { system_ui: 'from the console', cli: 'from the CLI', api: 'through the API', deploy_hook: 'from a deploy hook' }

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

type Tenant = EventOf<'TenantProcessed'>['data']

function tenantResultWords(data: Tenant, names: TenantNames, unit: string): string {
  const tenant = `tenant ${tenantLabel(names, data.tenantId)}`
  const attempt = data.attempt > 1 ? ` (attempt ${data.attempt})` : ''
  return data.result.status === 'succeeded'
    ? `${tenant} succeeded${attempt}: ${data.result.updated} of ${plural(data.result.total, unit.replace(/s$/, ''), unit)} updated`
    : `${tenant} failed${attempt}: ${data.result.message}`
}

/** What one event did, in words, and why when it says. */
function describe(event: DomainEvent, names: TenantNames, unit: string): Pick<TimelineEntry, 'what' | 'why'> {
  switch (event.type) {
    case 'RunRequested': {
      const d = event.data
      const target = d.scope === 'all_tenants' ? `all tenants (${plural(d.tenantIds.length, 'tenant')})` : `tenant ${tenantLabel(names, d.targetTenantId ?? d.tenantIds[0] ?? 0)}`
      const extras = [
        d.approvalRequired ? 'awaiting a second operator\'s approval' : null,
        d.canary ? `canary ${d.canary.tenantIds.map((id) => tenantLabel(names, id)).join(', ')} first` : null,
        d.retryOf ? `retrying run ${d.retryOf}` : null,
        d.revertOf ? `reverting run ${d.revertOf}` : null,
        d.initiator.isBreakGlass ? 'as break-glass operator' : null,
      ].filter((x) => x !== null)
      return {
        what: `requested the run over ${target} ${sources[d.source]}${extras.length ? `, ${extras.join(', ')}` : ''}`,
        why: d.reason ? { code: d.reason.reasonCode, text: d.reason.reasonText } : null,
      }
    }
    case 'RunPlanned':
      return { what: `planned the run: ${event.data.preflight.affectedCount} of ${plural(event.data.preflight.totalCount, unit.replace(/s$/, ''), unit)} to update`, why: null }
    case 'RunStarted':
      return { what: 'started the run', why: null }
    case 'TenantProcessed':
      return { what: tenantResultWords(event.data, names, unit), why: event.data.result.status === 'failed' ? { code: event.data.result.reasonCode, text: event.data.result.message } : null }
    case 'TenantJobsRedispatched':
      return { what: `re-dispatched ${plural(event.data.tenantIds.length, 'tenant')} whose jobs went quiet`, why: null }
    case 'RunPaused':
      return { what: 'paused the run', why: reasonWords(event.data.reason) }
    case 'RunResumed':
      return { what: 'resumed the run', why: reasonWords(event.data.reason) }
    case 'RunCancelled':
      return { what: 'cancelled the run', why: reasonWords(event.data.reason) }
    case 'RunLimitsChanged': {
      const { limits, previous } = event.data
      const failures = (n: number | null) => (n === null ? 'no failure limit' : `pause after ${n} failed`)
      return {
        what: `changed the limits: at most ${limits.maxConcurrency} at once (was ${previous.maxConcurrency}), ${failures(limits.maxFailures)} (was ${failures(previous.maxFailures)})`,
        why: null,
      }
    }
    case 'RunRetried':
      return { what: `retried ${plural(event.data.tenantIds.length, 'failed tenant')} as run ${event.data.retryRunId}`, why: reasonWords(event.data.reason) }
    case 'RunReverted':
      return { what: `requested a revert of this run's changes: run ${event.data.revertRunId}`, why: reasonWords(event.data.reason) }
    case 'RunApproved':
      return { what: 'approved', why: event.data.comment ? { code: null, text: event.data.comment } : null }
    case 'RunRejected':
      return { what: 'rejected the run', why: reasonWords(event.data.reason) }
    case 'RunCompleted': {
      const c = event.data.summaryCounts
      return {
        what: `completed: ${event.data.outcome.replace(/_/g, ' ')} — ${c.updated} of ${plural(c.total, unit.replace(/s$/, ''), unit)} updated, ${plural(c.failed, 'tenant')} failed`,
        why: null,
      }
    }
    case 'RunVerified':
      return {
        what:
          event.data.remaining === 0
            ? `verified: nothing left to change`
            : `verified: ${event.data.remaining} ${unit} would still change in ${plural(event.data.tenantsWithRemaining.length, 'tenant')}`,
        why: null,
      }
    default:
      return { what: event.type, why: null }
  }
}

/**
 * When the event says it happened (the time the run's notices show: `pausedAt`, `completedAt`, …); the time it
 * was recorded for any other.
 */
function whenOf(event: DomainEvent, metadata: EventMetadata): string {
  const data = event.data as Record<string, unknown>
  const own = {
    RunRequested: 'requestedAt',
    RunPlanned: 'plannedAt',
    RunStarted: 'startedAt',
    TenantProcessed: 'processedAt',
    TenantJobsRedispatched: 'redispatchedAt',
    RunPaused: 'pausedAt',
    RunResumed: 'resumedAt',
    RunCancelled: 'cancelledAt',
    RunLimitsChanged: 'changedAt',
    RunRetried: 'retriedAt',
    RunReverted: 'revertedAt',
    RunApproved: 'approvedAt',
    RunRejected: 'rejectedAt',
    RunCompleted: 'completedAt',
    RunVerified: 'verifiedAt',
  }[event.type as string]
  const at = own ? data[own] : undefined
  return typeof at === 'string' ? new Date(at).toISOString() : metadata.occurredAt
}

/** Tenant results of one append (same time, same worker): one line when there are several. */
function sameBatch(a: LoggedEvent, b: LoggedEvent): boolean {
  return (
    a.event.type === 'TenantProcessed' &&
    b.event.type === 'TenantProcessed' &&
    a.metadata.occurredAt === b.metadata.occurredAt &&
    JSON.stringify(a.metadata.initiator) === JSON.stringify(b.metadata.initiator) &&
    b.revision === a.revision + 1
  )
}

function batchEntry(batch: LoggedEvent[], names: TenantNames, unit: string): Pick<TimelineEntry, 'what' | 'why'> {
  const results = batch.map((e) => e.event.data as Tenant)
  const failed = results.filter((r) => r.result.status === 'failed')
  const succeeded = results.length - failed.length
  const updated = results.reduce((n, r) => n + (r.result.status === 'succeeded' ? r.result.updated : 0), 0)
  const shown = failed.slice(0, 5).map((r) => tenantLabel(names, r.tenantId))
  const more = failed.length > shown.length ? ` and ${failed.length - shown.length} more` : ''
  const codes = [...new Set(failed.map((r) => (r.result.status === 'failed' ? r.result.reasonCode : '')))]
  return {
    what:
      `recorded ${plural(results.length, 'tenant result')}: ${succeeded} succeeded (${updated} ${unit} updated)` +
      (failed.length > 0 ? `, ${failed.length} failed: ${shown.join(', ')}${more}` : ''),
    why: failed.length > 0 ? { code: codes.join(', '), text: failed.length === 1 ? (failed[0]!.result as { message: string }).message : 'see each event for its message' } : null,
  }
}

/** The entries of a run's events, in stream order. */
export function timelineOf(events: LoggedEvent[], names: TenantNames, unit: string): TimelineEntry[] {
  const entries: TimelineEntry[] = []
  for (let i = 0; i < events.length; ) {
    let j = i + 1
    while (j < events.length && sameBatch(events[j - 1]!, events[j]!)) j++
    const group = events.slice(i, j)
    const first = group[0]!
    const words = group.length > 1 ? batchEntry(group, names, unit) : describe(first.event, names, unit)
    entries.push({
      revision: first.revision,
      lastRevision: group.at(-1)!.revision,
      at: whenOf(first.event, first.metadata),
      who: describeInitiator(first.metadata.initiator),
      ...words,
      label:
        group.length === 1
          ? `${first.event.type}, revision ${first.revision}`
          : `${group.length} × ${first.event.type}, revisions ${first.revision}–${group.at(-1)!.revision}`,
      events: group.map(eventItemOf),
    })
    i = j
  }
  return entries
}

/** Which events of a run the page shows: the latest `TIMELINE_WINDOW`, or those before `before` (an earlier page). */
export interface TimelineWindow {
  entries: TimelineEntry[]
  /** Events in the run's stream. */
  total: number
  /** Revisions shown: from `from` up to, not including, `to`. */
  from: number
  to: number
  /** Whether this is the latest window, which the live stream extends. */
  latest: boolean
  /** `eventsBefore` of the page before this one (null at the first event), and of the page after (null: the latest). */
  earlierBefore: number | null
  laterBefore: number | null
}

export function timelineWindow(events: LoggedEvent[], names: TenantNames, unit: string, before?: number): TimelineWindow {
  const total = events.length
  const to = before === undefined ? total : Math.min(Math.max(before, 1), total)
  const from = Math.max(0, to - TIMELINE_WINDOW)
  const latest = to === total
  return {
    entries: timelineOf(events.slice(from, to), names, unit),
    total,
    from,
    to,
    latest,
    earlierBefore: from > 0 ? from : null,
    laterBefore: latest || to + TIMELINE_WINDOW >= total ? null : to + TIMELINE_WINDOW,
  }
}

/** The run page's `eventsBefore` (an earlier page of the timeline); anything else is the latest window. */
export function eventsBeforeOf(query: Record<string, string>): number | undefined {
  const raw = query.eventsBefore
  return raw !== undefined && /^\d{1,9}$/.test(raw) ? Number(raw) : undefined
}

/**
 * Where the live stream's timeline starts: after the revision the page shows last (`after`), or after the
 * last one a reconnecting browser received (`Last-Event-ID`); null when the page follows no timeline.
 */
export function timelineFollowFrom(after: string | undefined, lastEventId: string | undefined): number | null {
  const parse = (raw: string | undefined) => (raw !== undefined && /^-?\d{1,9}$/.test(raw) ? Math.max(Number(raw), -1) : null)
  const fromPage = parse(after)
  if (fromPage === null) return null
  const received = parse(lastEventId)
  return received === null ? fromPage : Math.max(fromPage, received)
}

/** A control's reason as the timeline shows it (none when the event has none). */
function reasonWords(reason: { reasonCode: string; reasonText: string } | null): { code: string; text: string } | null {
  return reason ? { code: reason.reasonCode, text: reason.reasonText } : null
}
