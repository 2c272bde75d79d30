import type { FieldProblem } from './errors.js'

/*
 * Text an operator types that others read as the operator's word (an email, a name, a reason, a comment)
 * holds only characters that show: no control characters (a reason or comment may break lines and tab),
 * no bidirectional controls nor zero-width characters. With them, `admin\u200b@…` passes for `admin@…` in
 * every list and audit entry, and a right-to-left override makes a reason read backwards. Joiners stay
 * allowed in names and texts (emoji sequences, Persian script), never in an email.
 */

/** Control characters (Cc) and format characters (Cf: bidirectional controls, zero-width and tag characters, …). */
const HIDDEN = /[\p{Cc}\p{Cf}\u034F\u115F\u1160\u180B-\u180D\u3164\uFFA0]/u
/** What a reason or comment may hold of them: its line breaks and tabs. */
const LINE_BREAKS_AND_TABS = /[\t\n\r]/g
/** Zero-width joiners: part of emoji sequences and of Persian and Indic writing. */
const JOINERS = /[\u200C\u200D]/g
/** Line and paragraph separators: a one-line field shows them as a break. */
const SEPARATORS = /[\p{Zl}\p{Zp}]/u

export type VisibleTextKind = 'email' | 'name' | 'text'

export function hasHiddenCharacters(text: string, kind: VisibleTextKind): boolean {
  let judged = kind === 'email' ? text : text.replace(JOINERS, '')
  if (kind === 'text') judged = judged.replace(LINE_BREAKS_AND_TABS, '')
  else if (SEPARATORS.test(judged)) return true
  return HIDDEN.test(judged)
}

/** The field's problem when its text holds characters that do not show (see above), else none. */
export function hiddenCharacterProblems(field: string, text: string | null | undefined, kind: VisibleTextKind): FieldProblem[] {
  if (!text || !hasHiddenCharacters(text, kind)) return []
  return [{ field, message: 'must not contain control, bidirectional or invisible characters' }]
}
