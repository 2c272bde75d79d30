import type { FC } from 'hono/jsx'
import { revertConfirmation } from '../../../commands/revert-run.js'
import { REASON_TEXT_MAX, REASON_TEXT_MIN } from '../../../commands/run/start-run-policy.js'
import { consolePaths } from '../console-env.js'
import { CSRF_FIELD } from '../csrf.js'
import { messagesBesides, messagesForFields } from '../field-problems.js'
import { ErrorAlert } from '../layout.js'
import { emptyRevertForm, type RevertAttempt } from '../run-revert.js'
import { ReasonFields, reasonFieldIds } from './reason-fields.js'

/** Where each reported field is explained in the revert form; anything else goes to the form's top. */
const slots = {
  confirmation: ['confirmation'],
  reasonCode: ['reason.code'],
  reasonText: ['reason', 'reason.text'],
} as const
const placed: string[] = Object.values(slots).flat()

export interface RunRevertProps {
  runId: string
  csrfToken: string
  /** What the run updated, in the runbook's unit: what a revert would put back at most. */
  updated: number
  unit: string
  attempt: RevertAttempt | null
  /** Whether the deployment is halted (a revert is refused then). */
  halted: boolean
}

/**
 * SPEC §11 revert on the run page of a completed run that changed something: behind a disclosure, as the
 * run controls; the operator types `revert <runId>` and a reason. A refused form comes back open with what
 * was typed and why. The revert is a new run: on success the browser lands on its page.
 */
export const RunRevert: FC<RunRevertProps> = ({ runId, csrfToken, updated, unit, attempt, halted }) => {
  const values = attempt?.values ?? emptyRevertForm
  const problems = attempt?.problems ?? []
  const expected = revertConfirmation(runId)
  const confirmationErrors = messagesForFields(problems, slots.confirmation)
  return (
    <section class="card" id="run-revert" aria-labelledby="run-revert-title">
      <h2 id="run-revert-title">Revert</h2>
      <details class="control control-revert" data-revert open={attempt !== null}>
        <summary>Revert this run</summary>
        <form method="post" action={consolePaths.revertRun(runId)} novalidate>
          <input type="hidden" name={CSRF_FIELD} value={csrfToken} />
          <ErrorAlert messages={[...(attempt?.message ? [attempt.message] : []), ...messagesBesides(problems, placed)]} />
          <p class="hint">
            Starts a new run that puts back, tenant by tenant, what this run changed ({updated} {unit}) as it was before. A finding someone
            changed since is left alone and counted as skipped.
          </p>
          {halted ? <p class="hint warn-text">The deployment is halted: a revert is refused until the halt is lifted.</p> : null}
          <label for="revert-confirmation">
            Confirmation: type <code>{expected}</code>
          </label>
          <input
            type="text"
            id="revert-confirmation"
            name="confirmation"
            autocomplete="off"
            spellcheck={false}
            value={values.confirmation}
            aria-invalid={confirmationErrors.length > 0 ? 'true' : undefined}
            aria-describedby="revert-confirmation-error"
          />
          <p class="field-error" id="revert-confirmation-error" aria-live="polite">
            {confirmationErrors.join(' ')}
          </p>
          <ReasonFields
            ids={reasonFieldIds('revert')}
            values={values}
            codeErrors={messagesForFields(problems, slots.reasonCode)}
            textErrors={messagesForFields(problems, slots.reasonText)}
            required
            hint={`Required: a reason code and ${REASON_TEXT_MIN} to ${REASON_TEXT_MAX} characters of reason.`}
          />
          <div class="actions">
            <button type="submit" class="danger">
              Revert run
            </button>
          </div>
        </form>
      </details>
    </section>
  )
}
