import type { FindingRow } from './findings-fixture.js'

/**
 * A plain TypeScript reading of SPEC §13 `findings.sla.recalculate`, written from the spec text and
 * independently of the SQL (it imports nothing from `src/`), as the oracle of the unit and property
 * tests:
 *
 * - every finding with status `new`, `triaged` or `in_progress`, a severity among `critical`, `high`,
 *   `medium`, `low` and a non-null `first_seen_at` gets `sla_due_at := first_seen_at + slaDays[severity]
 *   days`, a day being 24 hours (millisecond arithmetic: no time zone, no calendar);
 * - every other finding is left alone;
 * - a finding counts as updated iff its `sla_due_at` changes, and only then `updated_at := now()`;
 * - a severity outside `critical|high|medium|low|info` anywhere in the tenant fails the whole tenant
 *   (`INVALID_DATA`): nothing changes, and the lowest offending finding id is reported.
 */

export interface SlaDays {
  critical: number
  high: number
  medium: number
  low: number
}

/** SPEC §13: the days of each severity when the parameters leave it out. */
export const SPEC_SLA_DAY_DEFAULTS: Readonly<SlaDays> = { critical: 3, high: 7, medium: 30, low: 90 }

const MS_PER_DAY = 24 * 60 * 60 * 1000
const CLOCK_STATUSES: ReadonlySet<string> = new Set(['new', 'triaged', 'in_progress'])
const SEVERITIES_WITH_DAYS: ReadonlySet<string> = new Set(['critical', 'high', 'medium', 'low'])
const KNOWN: ReadonlySet<string> = new Set(['critical', 'high', 'medium', 'low', 'info'])

export interface SlaReferenceRow {
  id: number
  /** The finding's `sla_due_at` after the rule (equal to the stored one when it is left alone). */
  slaDueAt: number | null
  /** Whether the rule touches this finding at all (status, severity and first_seen_at qualify). */
  recalculated: boolean
  /** Whether `sla_due_at` differs from the stored value, i.e. the finding counts as updated. */
  changed: boolean
}

export interface SlaReferenceResult {
  /** The lowest id of a finding whose severity is unknown; set means the tenant fails and nothing changes. */
  invalidFindingId: number | null
  /** The plan per finding, in the order given (ignoring any failure). */
  rows: SlaReferenceRow[]
  /** Findings of the tenant. */
  total: number
  /** Findings that would be updated if the tenant were safe. */
  wouldUpdate: number
}

/** The days of a run given any subset of the four (the rest take the defaults of SPEC §13). */
export function referenceSlaDays(given: Partial<SlaDays> = {}): SlaDays {
  return {
    critical: given.critical ?? SPEC_SLA_DAY_DEFAULTS.critical,
    high: given.high ?? SPEC_SLA_DAY_DEFAULTS.high,
    medium: given.medium ?? SPEC_SLA_DAY_DEFAULTS.medium,
    low: given.low ?? SPEC_SLA_DAY_DEFAULTS.low,
  }
}

/** The rule of SPEC §13 over one tenant's findings (as stored), with the given subset of days. */
export function referenceSlaRecalculation(findings: readonly FindingRow[], given: Partial<SlaDays> = {}): SlaReferenceResult {
  const days = referenceSlaDays(given)
  let invalidFindingId: number | null = null
  for (const finding of findings) {
    if (!KNOWN.has(finding.severity) && (invalidFindingId === null || finding.id < invalidFindingId)) {
      invalidFindingId = finding.id
    }
  }

  const rows = findings.map((finding): SlaReferenceRow => {
    const recalculated =
      CLOCK_STATUSES.has(finding.status) && SEVERITIES_WITH_DAYS.has(finding.severity) && finding.firstSeenAt !== null
    if (!recalculated) return { id: finding.id, slaDueAt: finding.slaDueAt, recalculated, changed: false }
    const severityDays = days[finding.severity as keyof SlaDays]
    const slaDueAt = finding.firstSeenAt! + severityDays * MS_PER_DAY
    return { id: finding.id, slaDueAt, recalculated, changed: slaDueAt !== finding.slaDueAt }
  })

  return {
    invalidFindingId,
    rows,
    total: findings.length,
    wouldUpdate: rows.filter((row) => row.changed).length,
  }
}

/**
 * The tenant's rows after an execution at transaction time `now`: unchanged when the tenant is
 * unsafe; otherwise changed rows carry their new `sla_due_at` and `updated_at = now`, and every other
 * column (and every other row) is exactly as stored.
 */
export function referenceSlaRows(findings: readonly FindingRow[], given: Partial<SlaDays>, now: number): FindingRow[] {
  const result = referenceSlaRecalculation(findings, given)
  if (result.invalidFindingId !== null) return findings.map((finding) => ({ ...finding }))
  return findings.map((finding, index) => {
    const planned = result.rows[index]!
    return planned.changed ? { ...finding, slaDueAt: planned.slaDueAt, updatedAt: now } : { ...finding }
  })
}
