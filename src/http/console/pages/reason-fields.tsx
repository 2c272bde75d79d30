import type { Child, FC } from 'hono/jsx'
import { REASON_CODES, REASON_TEXT_MAX } from '../../../commands/run/start-run-policy.js'

/** The element ids of one form's reason fields (each form on a page has its own). */
export interface ReasonFieldIds {
  code: string
  text: string
  hint: string
  codeError: string
  textError: string
}

/** `<prefix>-reason-code`, `<prefix>-reason-code-error`, …: the ids of the halt, approval and start forms. */
export function reasonFieldIds(prefix: string): ReasonFieldIds {
  return {
    code: `${prefix}-reason-code`,
    text: `${prefix}-reason-text`,
    hint: `${prefix}-reason-hint`,
    codeError: `${prefix}-reason-code-error`,
    textError: `${prefix}-reason-text-error`,
  }
}

export interface ReasonFieldsProps {
  ids: ReasonFieldIds
  values: { reasonCode: string; reasonText: string }
  codeErrors: string[]
  textErrors: string[]
  /** False: "(optional)" labels and an empty choice "(no reason)". */
  required: boolean
  hint: Child
}

/** Reason code and text, as every console form that records a reason asks them (SPEC §3 reason rules). */
export const ReasonFields: FC<ReasonFieldsProps> = ({ ids, values, codeErrors, textErrors, required, hint }) => (
  <>
    <label for={ids.code}>Reason code{required ? '' : ' (optional)'}</label>
    <select
      id={ids.code}
      name="reasonCode"
      aria-invalid={codeErrors.length > 0 ? 'true' : undefined}
      aria-describedby={`${ids.hint} ${ids.codeError}`}
    >
      <option value="" selected={values.reasonCode === ''}>
        {required ? 'Choose a reason code' : '(no reason)'}
      </option>
      {REASON_CODES.map((code) => (
        <option value={code} selected={values.reasonCode === code}>
          {code}
        </option>
      ))}
    </select>
    <p class="field-error" id={ids.codeError} aria-live="polite">
      {codeErrors.join(' ')}
    </p>
    <label for={ids.text}>Reason{required ? '' : ' (optional)'}</label>
    <textarea
      id={ids.text}
      name="reasonText"
      maxlength={REASON_TEXT_MAX}
      aria-invalid={textErrors.length > 0 ? 'true' : undefined}
      aria-describedby={`${ids.hint} ${ids.textError}`}
    >
      {values.reasonText}
    </textarea>
    <p class="hint" id={ids.hint}>
      {hint}
    </p>
    <p class="field-error" id={ids.textError} aria-live="polite">
      {textErrors.join(' ')}
    </p>
  </>
)
