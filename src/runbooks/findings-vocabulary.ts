import { dueDateOutOfRangeMessage, invalidSeverityMessage, timesSeenOverflowMessage } from '../commands/run/failure-message.js'
import { RunbookDataError } from './runbook.js'

/** The platform's finding vocabulary (SPEC §1–§2), shared by the runbooks that repair findings. */

/** Severities a repair knows; anything else makes a tenant's repair unsafe. `info` has no SLA. */
export const KNOWN_SEVERITIES: readonly string[] = ['critical', 'high', 'medium', 'low', 'info']
/** The severities that have an SLA, in order. */
export const SLA_SEVERITIES = ['critical', 'high', 'medium', 'low'] as const
export type SlaSeverity = (typeof SLA_SEVERITIES)[number]
/** Statuses whose SLA clock runs. */
export const SLA_STATUSES: readonly string[] = ['new', 'triaged', 'in_progress']

/** The latest `timestamptz` PostgreSQL holds: a due date past it cannot be computed, let alone stored. */
const LATEST_TIMESTAMP = `timestamptz '294276-12-31 23:59:59.999999+00'`

/**
 * SQL: whether `start + hours` (both SQL expressions) would pass the latest timestamp PostgreSQL holds.
 * An infinite start stays infinite, and a null start or number of hours gives null, both without error.
 */
export function dueDateOutOfRange(start: string, hours: string): string {
  return `coalesce(isfinite(${start}) and ${start} > ${LATEST_TIMESTAMP} - interval '1 hour' * (${hours}), false)`
}

/** SQL: `start + hours` as a due date (a day is 24 hours), null where it would be out of range (see above). */
export function dueDate(start: string, hours: string): string {
  return `case when not ${dueDateOutOfRange(start, hours)} then ${start} + interval '1 hour' * (${hours}) end`
}

/** A SQL string literal of a constant of this module (never of input: those are bound parameters). */
export const sqlLiteral = (value: string): string => `'${value.replaceAll("'", "''")}'`
export const sqlList = (values: readonly string[]): string => values.map(sqlLiteral).join(', ')

/**
 * The findings (ids as the statements return them, text) that make a tenant's repair unsafe, by what: a
 * severity the repair does not know, a `times_seen` sum the column cannot hold, a due date past the latest
 * timestamp. The statements' column names.
 */
export interface UnsafeFindings {
  unsafe_finding_id: string | null
  overflowing_finding_id?: string | null
  out_of_range_finding_id?: string | null
}

/** The first reason `found` names, as the sentence of a failed repair and its finding id; null when safe. */
function firstUnsafe(found: UnsafeFindings | undefined): { findingId: number; sentence: string } | null {
  if (!found) return null
  const reasons: Array<[string | null | undefined, (id: number) => string]> = [
    [found.unsafe_finding_id, invalidSeverityMessage],
    [found.overflowing_finding_id, timesSeenOverflowMessage],
    [found.out_of_range_finding_id, dueDateOutOfRangeMessage],
  ]
  for (const [id, sentence] of reasons) if (id !== null && id !== undefined) return { findingId: Number(id), sentence: sentence(Number(id)) }
  return null
}

/** What a preview says of a tenant whose finding makes the repair unsafe (the run's failure, in the conditional). */
export function unsafeFinding(found: UnsafeFindings | undefined): { reasonCode: 'INVALID_DATA'; message: string } | null {
  const unsafe = firstUnsafe(found)
  if (!unsafe) return null
  return { reasonCode: 'INVALID_DATA', message: unsafe.sentence.replace(/; the tenant was not repaired$/, '; the repair of this tenant would fail') }
}

/** The error a repair throws for a finding that makes it unsafe (the same first reason as the preview's). */
export function unsafeFindingError(found: UnsafeFindings): RunbookDataError | null {
  const unsafe = firstUnsafe(found)
  return unsafe ? new RunbookDataError(unsafe.sentence, unsafe.findingId) : null
}
