import type { FieldProblem } from './errors.js'

/**
 * Text an operator types that others read as the operator's word (an email, a name, a reason, a comment)
 * holds only characters that show: no control characters (a reason or comment may break lines and tab),
 * no bidirectional controls nor zero-width characters. With them, `admin\u200b@…` passes for `admin@…` in
 * every list and audit entry, and a right-to-left override makes a reason read backwards. Joiners stay
 * allowed in names and texts (emoji sequences, Persian script), never in an email.
 */
const CONTROLS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/
const LINE_BREAKS_AND_TABS = /[\t\n\r]/
const INVISIBLE = /[\u00AD\u061C\u115F\u1160\u180E\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\u3164\uFEFF\uFFA0]/
const JOINERS = /[\u200C\u200D]/

export type VisibleTextKind = 'email' | 'name' | 'text'

export function hasHiddenCharacters(text: string, kind: VisibleTextKind): boolean {
  if (CONTROLS.test(text) || INVISIBLE.test(text)) return true
  if (kind !== 'text' && LINE_BREAKS_AND_TABS.test(text)) return true
  return kind === 'email' && JOINERS.test(text)
}

/** The field's problem when its text holds characters that do not show (see above), else none. */
export function hiddenCharacterProblems(field: string, text: string | null | undefined, kind: VisibleTextKind): FieldProblem[] {
  if (!text || !hasHiddenCharacters(text, kind)) return []
  return [{ field, message: 'must not contain control, bidirectional or invisible characters' }]
}
