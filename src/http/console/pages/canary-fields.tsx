import type { FC } from 'hono/jsx'
import type { FieldProblem } from '../../../commands/errors.js'
import { messagesFor, problemSlots, type ProblemSlot } from '../field-problems.js'
import type { StartFormValues } from '../start-form.js'

const CanaryError: FC<{ id: string; slot: ProblemSlot; problems: FieldProblem[] }> = ({ id, slot, problems }) => (
  // data-error-for: the runbooks page's script puts the server's answers for these fields here too
  <p class="field-error" id={id} data-error-for={problemSlots[slot].join(' ')} aria-live="polite">
    {messagesFor(problems, slot).join(' ')}
  </p>
)

/**
 * SPEC §11 canary of a start: none, the n smallest tenants (fewest findings), or tenants by id; and whether
 * the run goes on by itself once they succeeded. The stylesheet shows only the field of the chosen kind
 * (:has on the checked choice), so it follows the choice without the script; every field is posted, the
 * start form reads only the chosen one.
 */
export const CanaryFields: FC<{ prefix: string; values: StartFormValues; problems: FieldProblem[] }> = ({ prefix, values, problems }) => {
  const mode = values.canaryMode
  const invalid = (slot: ProblemSlot) => (messagesFor(problems, slot).length > 0 ? 'true' : undefined)
  return (
    <fieldset class="choices canary" aria-describedby={`${prefix}-canary-hint ${prefix}-canary-error`}>
      <legend>Canary (optional)</legend>
      <p class="hint" id={`${prefix}-canary-hint`}>
        Repairs a few tenants first, alone. Once they all succeeded the run waits for you to look at their results and resume it, unless
        it goes on by itself; if one fails, the run pauses.
      </p>
      <label>
        <input type="radio" name="canaryMode" value="none" checked={mode !== 'count' && mode !== 'tenants'} /> No canary
      </label>
      <label>
        <input type="radio" name="canaryMode" value="count" checked={mode === 'count'} /> The N smallest tenants
      </label>
      <label>
        <input type="radio" name="canaryMode" value="tenants" checked={mode === 'tenants'} /> These tenant ids
      </label>
      <CanaryError id={`${prefix}-canary-error`} slot="canary" problems={problems} />
      <div class="canary-count">
        <label for={`${prefix}-canary-count`}>Number of smallest tenants (fewest findings)</label>
        <input
          type="number"
          id={`${prefix}-canary-count`}
          name="canaryCount"
          min="1"
          step="1"
          inputmode="numeric"
          value={values.canaryCount}
          aria-invalid={invalid('canaryCount')}
          aria-describedby={`${prefix}-canary-count-error`}
        />
        <CanaryError id={`${prefix}-canary-count-error`} slot="canaryCount" problems={problems} />
      </div>
      <div class="canary-tenants">
        <label for={`${prefix}-canary-tenants`}>Tenant ids, separated by commas</label>
        <input
          type="text"
          id={`${prefix}-canary-tenants`}
          name="canaryTenants"
          autocomplete="off"
          spellcheck={false}
          placeholder="e.g. 2, 5"
          value={values.canaryTenants}
          aria-invalid={invalid('canaryTenants')}
          aria-describedby={`${prefix}-canary-tenants-error`}
        />
        <CanaryError id={`${prefix}-canary-tenants-error`} slot="canaryTenants" problems={problems} />
      </div>
      <label class="checkbox canary-auto">
        <input type="checkbox" name="canaryAutoPromote" value="on" checked={values.canaryAutoPromote !== ''} /> Go on by itself once the canary
        succeeded (auto-promote)
      </label>
    </fieldset>
  )
}
