import { revertMayBeAskedAgain } from '../../commands/run/run-decider.js'
import type { FieldProblem } from '../../commands/errors.js'
import { findUnsafeText } from '../../events/safe-text.js'
import type { RunDetail } from '../../projections/queries.js'

/**
 * The run page's revert form (SPEC §11 "Before-images and revert") as the console reads it. The rules are
 * revertRun's (src/commands/revert-run.ts): this module turns the form into its input and says when the
 * page offers the form at all — the command refuses the rest whatever the page showed.
 */

/** The revert form's fields as typed, kept to show a refused form again. */
export interface RevertFormValues {
  confirmation: string
  reasonCode: string
  reasonText: string
}

export const emptyRevertForm: RevertFormValues = { confirmation: '', reasonCode: '', reasonText: '' }

const FIELD_LIMITS: Record<keyof RevertFormValues, number> = { confirmation: 200, reasonCode: 50, reasonText: 2000 }

/** What a refused revert left to show: what was typed and why it was refused. */
export interface RevertAttempt {
  values: RevertFormValues
  /** Field problems (422), shown beside their fields; `runId` ones (changed nothing, expired) above them. */
  problems: FieldProblem[]
  /** A refusal of the whole request (409 state, 423 halted). */
  message?: string
  /** An identical run that is already active (409). */
  activeRunId?: string
}

export function readRevertForm(body: Record<string, unknown>): RevertFormValues {
  const text = (name: keyof RevertFormValues) => {
    const value = body[name]
    return typeof value === 'string' ? value.slice(0, FIELD_LIMITS[name]) : ''
  }
  return { confirmation: text('confirmation'), reasonCode: text('reasonCode'), reasonText: text('reasonText') }
}

/** Text the database could not store, refused before the command (as the other forms do). */
export function unsafeRevertProblems(values: RevertFormValues): FieldProblem[] {
  const fields: Record<string, string> = { reasonCode: 'reason.code', reasonText: 'reason.text' }
  return findUnsafeText(values).map((field) => ({ field: fields[field] ?? field, message: 'contains characters that cannot be stored' }))
}

/**
 * The form as revertRun's input: no reason when both fields are empty (the command says it is required); the
 * typed confirmation without the blanks a form field picks up, as the console's cancel and retry forms send theirs.
 */
export function revertInputOf(values: RevertFormValues) {
  const reason = values.reasonCode === '' && values.reasonText.trim() === '' ? null : { code: values.reasonCode, text: values.reasonText }
  return { confirmation: values.confirmation.trim(), reason, source: 'system_ui' as const }
}

/**
 * Whether the page offers the revert: a completed run that updated something, to an operator who may run
 * its runbook, and not reverted yet — or its last revert did not happen (the command's own rule,
 * `revertMayBeAskedAgain`; `lastRevert` is that revert's outcome once completed, else null). A revert run
 * too: it kept before-images of what it put back. Expiry is left to the command's 422 (one rule, there).
 */
export function offersRevert(
  run: Pick<RunDetail, 'status' | 'summaryCounts'>,
  revertedBy: string | null,
  lastRevert: { outcome: string } | null,
  mayRun: boolean,
): boolean {
  const revertable = revertedBy === null || revertMayBeAskedAgain(lastRevert)
  return mayRun && run.status === 'completed' && (run.summaryCounts.updated ?? 0) > 0 && revertable
}

