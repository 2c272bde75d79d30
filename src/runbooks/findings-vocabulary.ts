import { timesSeenOverflowMessage } from '../commands/run/failure-message.js'
import { RunbookDataError } from './runbook.js'

/** The platform's finding vocabulary (SPEC §1–§2), shared by the runbooks that repair findings. */

/** Severities a repair knows; anything else makes a tenant's repair unsafe. `info` has no SLA. */
export const KNOWN_SEVERITIES: readonly string[] = ['critical', 'high', 'medium', 'low', 'info']
/** The severities that have an SLA, in order. */
export const SLA_SEVERITIES = ['critical', 'high', 'medium', 'low'] as const
export type SlaSeverity = (typeof SLA_SEVERITIES)[number]
/** Statuses whose SLA clock runs. */
export const SLA_STATUSES: readonly string[] = ['new', 'triaged', 'in_progress']

/** A SQL string literal of a constant of this module (never of input: those are bound parameters). */
export const sqlLiteral = (value: string): string => `'${value.replaceAll("'", "''")}'`
export const sqlList = (values: readonly string[]): string => values.map(sqlLiteral).join(', ')

/** The operator-facing sentence of an unknown severity (it ends up in the run's failure summary). */
export function unknownSeverityMessage(findingId: number): string {
  return `finding ${findingId} has a severity outside ${KNOWN_SEVERITIES.join('|')}; the tenant was not repaired`
}

/**
 * What a preview says of a tenant whose finding makes the repair unsafe: `unknownSeverity` (if any) has a
 * severity the repair does not know, `overflowing` (if any) would get a `times_seen` the column cannot hold.
 */
export function unsafeFinding(
  unknownSeverity: string | null,
  overflowing: string | null = null,
): { reasonCode: 'INVALID_DATA'; message: string } | null {
  if (unknownSeverity !== null) {
    return { reasonCode: 'INVALID_DATA', message: `finding ${unknownSeverity} has a severity outside ${KNOWN_SEVERITIES.join('|')}; the repair of this tenant would fail` }
  }
  if (overflowing !== null) {
    return { reasonCode: 'INVALID_DATA', message: `finding ${overflowing} would get a times_seen sum over its duplicates beyond the integer range; the repair of this tenant would fail` }
  }
  return null
}

/** The error a repair throws for a finding that makes it unsafe (the severity's first, as the preview). */
export function unsafeFindingError(unknownSeverity: string | null, overflowing: string | null): RunbookDataError | null {
  if (unknownSeverity !== null) return new RunbookDataError(unknownSeverityMessage(Number(unknownSeverity)), Number(unknownSeverity))
  if (overflowing !== null) return new RunbookDataError(timesSeenOverflowMessage(Number(overflowing)), Number(overflowing))
  return null
}
