import { z } from 'zod'
import type { Sql, TransactionSql } from '../db/database.js'
import { dueDate, dueDateOutOfRange, KNOWN_SEVERITIES, SLA_STATUSES, sqlList, unsafeFinding, unsafeFindingError, type UnsafeFindings } from './findings-vocabulary.js'
import { defineRunbook, PREPARED, type TenantPreflight, type TenantRepair } from './runbook.js'

/**
 * SPEC §13 `findings.sla.recalculate`: sets the SLA due date of every open finding of one tenant from
 * its first sighting and a number of days per severity. Like the first runbook, one set-based statement
 * per tenant; the preflight counts over the same plan, so preview and run agree on unchanged data.
 */

const days = (fallback: number) =>
  z.number().int().min(1).max(365).default(fallback).meta({ description: `Days (1–365); default ${fallback}.` })

export const SLA_DAY_DEFAULTS = { critical: 3, high: 7, medium: 30, low: 90 } as const

export const slaRecalculateParameters = z.strictObject({
  slaDays: z
    .strictObject({
      critical: days(SLA_DAY_DEFAULTS.critical).meta({ title: 'Critical' }),
      high: days(SLA_DAY_DEFAULTS.high).meta({ title: 'High' }),
      medium: days(SLA_DAY_DEFAULTS.medium).meta({ title: 'Medium' }),
      low: days(SLA_DAY_DEFAULTS.low).meta({ title: 'Low' }),
    })
    // A start may name any subset of the four: the ones left out take their defaults.
    .default({ ...SLA_DAY_DEFAULTS })
    .meta({ title: 'SLA days per severity', description: 'Days from first sighting to the SLA due date, per severity.' }),
})
export type SlaRecalculateParameters = z.output<typeof slaRecalculateParameters>

/** The hours of the finding's severity, from the days `$2`–`$5` (null for `info` and unknown severities). */
const SLA_HOURS = `24 * case f.severity
        when 'critical' then $2::integer when 'high' then $3::integer
        when 'medium' then $4::integer when 'low' then $5::integer end`

/**
 * The new due date of every finding of tenant `$1` whose clock runs, `$2`–`$5` the days of critical,
 * high, medium and low. A day is 24 hours (`interval '1 hour' * n`): no time zone can move a due date.
 */
const SLA_PLAN = `
  sla_plan as (
    select f.id, f.severity,
      f.status in (${sqlList(SLA_STATUSES)}) and f.first_seen_at is not null
        and f.severity in ('critical', 'high', 'medium', 'low') as recalculated,
      ${dueDate('f.first_seen_at', SLA_HOURS)} as new_sla_due_at,
      ${dueDateOutOfRange('f.first_seen_at', SLA_HOURS)} as out_of_range,
      f.sla_due_at as stored_sla_due_at
    from findings f
    where f.tenant_id = $1
  ),
  sla_changes as (
    select p.id, p.new_sla_due_at from sla_plan p
    where p.recalculated and p.new_sla_due_at is distinct from p.stored_sla_due_at
  )`

/** The lowest finding with an unknown severity, and the lowest whose new due date would be out of range. */
const UNSAFE_FINDINGS = `
    (select min(p.id) from sla_plan p where p.severity not in (${sqlList(KNOWN_SEVERITIES)}))::text as unsafe_finding_id,
    (select min(p.id) from sla_plan p where p.recalculated and p.out_of_range)::text as out_of_range_finding_id`

const PREFLIGHT = `
  with ${SLA_PLAN}
  select (select count(*) from sla_changes)::integer as affected, (select count(*) from sla_plan)::integer as total, ${UNSAFE_FINDINGS}`

/** One statement, one snapshot: an unknown severity anywhere in the tenant leaves every row untouched. */
const EXECUTE = `
  with ${SLA_PLAN},
  unsafe_findings as (
    select ${UNSAFE_FINDINGS}
  ),
  applied as (
    update findings f set sla_due_at = c.new_sla_due_at, updated_at = now()
    from sla_changes c
    where f.id = c.id and (select u.unsafe_finding_id is null and u.out_of_range_finding_id is null from unsafe_findings u)
    returning f.id
  )
  select u.unsafe_finding_id, u.out_of_range_finding_id,
    (select count(*) from applied)::integer as updated,
    (select count(*) from sla_plan)::integer as total
  from unsafe_findings u`

const bound = (tenantId: number, { slaDays }: SlaRecalculateParameters) => [tenantId, slaDays.critical, slaDays.high, slaDays.medium, slaDays.low]

export const findingsSlaRecalculate = defineRunbook({
  key: 'findings.sla.recalculate',
  label: 'Findings SLA recalculation',
  description:
    'Sets the SLA due date of every open finding (new, triaged, in progress) to its first sighting plus ' +
    'the days of its severity. Other findings are left alone. One transaction per tenant.',
  requiredCapability: 'platform.runbooks.findings.sla_recalculate',
  unit: 'findings',
  estimatedDuration: 'about 1 s per 50,000 findings',
  parameters: slaRecalculateParameters,

  async preflightTenant(sql: Sql | TransactionSql, tenantId: number, parameters): Promise<TenantPreflight> {
    const [row] = await sql.unsafe<Array<{ affected: number; total: number } & UnsafeFindings>>(PREFLIGHT, bound(tenantId, parameters), PREPARED)
    return { affected: row?.affected ?? 0, total: row?.total ?? 0, wouldFail: unsafeFinding(row) }
  },

  async executeTenant(tx: TransactionSql, tenantId: number, parameters): Promise<TenantRepair> {
    const [row] = await tx.unsafe<Array<{ updated: number; total: number } & UnsafeFindings>>(
      EXECUTE,
      bound(tenantId, parameters),
      PREPARED,
    )
    if (!row) throw new Error('the recalculation statement returned no row')
    const unsafe = unsafeFindingError(row)
    if (unsafe) throw unsafe
    return { updated: row.updated, total: row.total }
  },
})
