import { z } from 'zod'
import type { Sql, TransactionSql } from '../db/database.js'
import {
  dueDate,
  dueDateOutOfRange,
  KNOWN_SEVERITIES,
  SLA_STATUSES,
  sqlList as list,
  sqlLiteral as quote,
  unsafeFinding,
  unsafeFindingError,
  type UnsafeFindings,
} from './findings-vocabulary.js'
import { defineRunbook, PREPARED, type TenantPreflight, type TenantRepair } from './runbook.js'

/**
 * SPEC §2 `findings.lifecycle.backfill`: repairs the lifecycle fields of every finding of one tenant.
 *
 * The whole repair is one set-based statement per tenant: a chain of CTEs computes the repaired row of
 * every finding (`REPAIR_PLAN`), and the run updates exactly the rows whose stored values differ. The
 * preflight counts over the very same CTE text, so a preflight and the run that follows it on unchanged
 * data cannot disagree.
 */

/** SLA per severity in hours: a day is 24 hours whatever the session's time zone (SPEC §2 step 3). */
const SLA_HOURS: Readonly<Record<string, number>> = { critical: 3 * 24, high: 7 * 24, medium: 30 * 24, low: 90 * 24 }
/** The largest value of `findings.times_seen` (an `integer` column). */
const INTEGER_MAX = 2_147_483_647

const slaHoursCase = `case c.severity ${Object.entries(SLA_HOURS)
  .map(([severity, hours]) => `when ${quote(severity)} then ${hours}`)
  .join(' ')} end`

/**
 * The repaired row of every finding of tenant `$1`, with `changed` telling whether any stored column
 * would differ. Steps are named after SPEC §2. Timestamps are only ever shifted by `interval '1 hour' * n`
 * (an absolute duration), never by calendar days, so a DST time zone cannot move a due date.
 */
const REPAIR_PLAN = `
  normalised as (
    select f.id, f.fingerprint, f.severity, f.duplicate_of_id, f.sla_due_at, f.resolved_at,
      case f.status
        when 'open' then 'new' when 'acknowledged' then 'triaged'
        when 'fixed' then 'resolved' when 'closed' then 'resolved'
        else f.status end as status,
      case when f.status in ('fixed', 'closed') then coalesce(f.resolved_reason, 'fixed')
        else f.resolved_reason end as resolved_reason,
      coalesce(f.first_seen_at, f.created_at) as first_seen_at,
      greatest(coalesce(f.last_seen_at, f.updated_at), coalesce(f.first_seen_at, f.created_at)) as last_seen_at,
      greatest(coalesce(f.times_seen, 1), 1) as times_seen,
      f.status as stored_status, f.resolved_reason as stored_resolved_reason,
      f.first_seen_at as stored_first_seen_at, f.last_seen_at as stored_last_seen_at,
      f.times_seen as stored_times_seen, f.duplicate_of_id as stored_duplicate_of_id,
      f.sla_due_at as stored_sla_due_at, f.resolved_at as stored_resolved_at
    from findings f
    where f.tenant_id = $1
  ),
  -- Partitioning also by "not yet a duplicate" keeps already-consolidated findings out of every group
  -- without a self-join, so the plan stays one scan plus one sort whatever the row estimates.
  grouped as (
    select n.*,
      n.duplicate_of_id is null and count(*) over candidates > 1 as in_group,
      first_value(n.id) over (candidates order by n.first_seen_at, n.id) as canonical_id,
      min(n.first_seen_at) over candidates as group_first_seen_at,
      max(n.last_seen_at) over candidates as group_last_seen_at,
      sum(n.times_seen) over candidates as group_times_seen
    from normalised n
    window candidates as (partition by n.fingerprint, n.duplicate_of_id is null)
  ),
  merged as (
    select g.*,
      g.in_group and g.canonical_id = g.id as is_canonical,
      g.in_group and g.canonical_id <> g.id as is_duplicate
    from grouped g
  ),
  consolidated as (
    select m.id, m.severity, m.sla_due_at, m.resolved_at,
      case when m.is_duplicate then 'resolved' else m.status end as status,
      case when m.is_duplicate then 'duplicate' else m.resolved_reason end as resolved_reason,
      case when m.is_canonical then m.group_first_seen_at else m.first_seen_at end as first_seen_at,
      case when m.is_canonical then m.group_last_seen_at else m.last_seen_at end as last_seen_at,
      -- bigint: a group's sum can pass the column's integer range, which makes the repair unsafe (below)
      case when m.is_canonical then m.group_times_seen else m.times_seen end as times_seen,
      case when m.is_duplicate then m.canonical_id else m.duplicate_of_id end as duplicate_of_id,
      m.stored_status, m.stored_resolved_reason, m.stored_first_seen_at, m.stored_last_seen_at,
      m.stored_times_seen, m.stored_duplicate_of_id, m.stored_sla_due_at, m.stored_resolved_at
    from merged m
  ),
  repaired as (
    select c.*,
      case when c.status = 'resolved' then coalesce(c.resolved_at, c.last_seen_at) end as new_resolved_at,
      coalesce(c.sla_due_at,
        case when c.status in (${list(SLA_STATUSES)}) then ${dueDate('c.first_seen_at', slaHoursCase)} end
      ) as new_sla_due_at,
      c.sla_due_at is null and c.status in (${list(SLA_STATUSES)}) and ${dueDateOutOfRange('c.first_seen_at', slaHoursCase)} as sla_out_of_range
    from consolidated c
  ),
  repair_plan as (
    select r.id, r.severity, r.status, r.resolved_reason, r.first_seen_at, r.last_seen_at, r.times_seen, r.duplicate_of_id,
      r.new_resolved_at as resolved_at, r.new_sla_due_at as sla_due_at, r.sla_out_of_range,
      (r.status is distinct from r.stored_status
        or r.resolved_reason is distinct from r.stored_resolved_reason
        or r.first_seen_at is distinct from r.stored_first_seen_at
        or r.last_seen_at is distinct from r.stored_last_seen_at
        or r.times_seen is distinct from r.stored_times_seen
        or r.duplicate_of_id is distinct from r.stored_duplicate_of_id
        or r.new_resolved_at is distinct from r.stored_resolved_at
        or r.new_sla_due_at is distinct from r.stored_sla_due_at) as changed
    from repaired r
  )`

/**
 * The findings that make the tenant's repair unsafe: the lowest with an unknown severity, the lowest
 * canonical finding whose group's `times_seen` sum does not fit the column, and the lowest whose SLA due
 * date would pass the latest timestamp (SPEC §2 says what to compute, and the columns cannot hold these:
 * the tenant fails as INVALID_DATA rather than with a database error).
 */
const UNSAFE_FINDINGS = `
    (min(id) filter (where severity not in (${list(KNOWN_SEVERITIES)})))::text as unsafe_finding_id,
    (min(id) filter (where times_seen > ${INTEGER_MAX}))::text as overflowing_finding_id,
    (min(id) filter (where sla_out_of_range))::text as out_of_range_finding_id`

const PREFLIGHT = `
  with ${REPAIR_PLAN}
  select (count(*) filter (where changed))::integer as affected, count(*)::integer as total, ${UNSAFE_FINDINGS}
  from repair_plan`

/**
 * One statement, one snapshot: the severity check and the update see the same rows, so a finding with
 * an unknown severity cannot slip in between the check and the repair. When one exists, nothing is
 * updated and the lowest such id is reported. The check reads the tenant's rows already in `repair_plan`:
 * a `min(id)` straight on `findings` lets the planner walk the whole primary key instead.
 */
const EXECUTE = `
  with ${REPAIR_PLAN},
  unsafe_findings as (
    select ${UNSAFE_FINDINGS} from repair_plan
  ),
  applied as (
    update findings f
    set status = p.status, resolved_reason = p.resolved_reason, first_seen_at = p.first_seen_at,
        last_seen_at = p.last_seen_at, times_seen = p.times_seen, duplicate_of_id = p.duplicate_of_id,
        resolved_at = p.resolved_at, sla_due_at = p.sla_due_at, updated_at = now()
    from repair_plan p
    where f.id = p.id and p.changed
      and (select u.unsafe_finding_id is null and u.overflowing_finding_id is null and u.out_of_range_finding_id is null
        from unsafe_findings u)
    returning f.id
  )
  select u.unsafe_finding_id, u.overflowing_finding_id, u.out_of_range_finding_id,
    (select count(*) from applied)::integer as updated,
    (select count(*) from repair_plan)::integer as total
  from unsafe_findings u`

export const findingsLifecycleBackfill = defineRunbook({
  key: 'findings.lifecycle.backfill',
  label: 'Findings lifecycle backfill',
  description:
    'Normalises legacy finding statuses and first/last-seen times, consolidates duplicate findings by ' +
    'fingerprint, and fills in resolution times and SLA due dates. One transaction per tenant.',
  requiredCapability: 'platform.runbooks.findings.lifecycle_backfill',
  unit: 'findings',
  estimatedDuration: 'about 1 s per 20,000 findings',
  // SPEC §2 fixes every rule of this repair: nothing to choose, so no parameter is accepted.
  parameters: z.strictObject({}),

  async preflightTenant(sql: Sql | TransactionSql, tenantId: number): Promise<TenantPreflight> {
    const [row] = await sql.unsafe<Array<{ affected: number; total: number } & UnsafeFindings>>(PREFLIGHT, [tenantId], PREPARED)
    return {
      affected: row?.affected ?? 0,
      total: row?.total ?? 0,
      wouldFail: unsafeFinding(row),
    }
  },

  async executeTenant(tx: TransactionSql, tenantId: number): Promise<TenantRepair> {
    const [row] = await tx.unsafe<Array<{ updated: number; total: number } & UnsafeFindings>>(
      EXECUTE,
      [tenantId],
      PREPARED,
    )
    if (!row) throw new Error('the repair statement returned no row')
    const unsafe = unsafeFindingError(row)
    if (unsafe) throw unsafe
    return { updated: row.updated, total: row.total }
  },
})
