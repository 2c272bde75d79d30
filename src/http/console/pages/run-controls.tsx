import { ReasonFields } from './reason-fields.js'
import type { FC } from 'hono/jsx'
import type { FieldProblem } from '../../../commands/errors.js'
import { REASON_TEXT_MAX, REASON_TEXT_MIN } from '../../../commands/run/start-run-policy.js'
import { MAX_CONCURRENCY_LIMIT } from '../../../events/index.js'
import type { RunDetail } from '../../../projections/queries.js'
import { consolePaths, RUN_ACTIONS, type RunAction } from '../console-env.js'
import { CSRF_FIELD } from '../csrf.js'
import { messagesBesides, messagesForFields } from '../field-problems.js'
import { ErrorAlert } from '../layout.js'
import { CANCEL_CONFIRMATION, emptyControlForm, type ControlAttempt, type ControlFormValues } from '../run-controls.js'

/** Where each reported field is explained in a control form; anything else goes to the form's top. */
const slots = {
  reasonCode: ['reason.code'],
  reasonText: ['reason', 'reason.text'],
  confirmation: ['confirmation'],
  maxConcurrency: ['limits.maxConcurrency', 'maxConcurrency', 'limits'],
  maxFailures: ['limits.maxFailures', 'maxFailures'],
} as const
type Slot = keyof typeof slots
const placed: string[] = Object.values(slots).flat()

interface FormState {
  action: RunAction
  values: ControlFormValues
  problems: FieldProblem[]
}

const FieldError: FC<{ form: FormState; slot: Slot }> = ({ form, slot }) => (
  <p class="field-error" id={`${form.action}-${slot}-error`} aria-live="polite">
    {messagesForFields(form.problems, slots[slot]).join(' ')}
  </p>
)

const invalid = (form: FormState, slot: Slot) => (messagesForFields(form.problems, slots[slot]).length > 0 ? 'true' : undefined)

/** Reason code and text; the errors keep this page's ids (`<action>-reasonCode-error`). */
const ControlReasonFields: FC<{ form: FormState; required: boolean; hint: string }> = ({ form, required, hint }) => (
  <ReasonFields
    ids={{
      code: `${form.action}-reason-code`,
      text: `${form.action}-reason-text`,
      hint: `${form.action}-reason-hint`,
      codeError: `${form.action}-reasonCode-error`,
      textError: `${form.action}-reasonText-error`,
    }}
    values={form.values}
    codeErrors={messagesForFields(form.problems, slots.reasonCode)}
    textErrors={messagesForFields(form.problems, slots.reasonText)}
    required={required}
    hint={hint}
  />
)

const reasonRule = `a reason code and ${REASON_TEXT_MIN} to ${REASON_TEXT_MAX} characters of reason.`

const ConfirmationField: FC<{ form: FormState; expected: string; what: string }> = ({ form, expected, what }) => (
  <>
    <label for={`${form.action}-confirmation`}>
      Confirmation: type <code>{expected}</code> {what}
    </label>
    <input
      type="text"
      id={`${form.action}-confirmation`}
      name="confirmation"
      autocomplete="off"
      spellcheck={false}
      value={form.values.confirmation}
      aria-invalid={invalid(form, 'confirmation')}
      aria-describedby={`${form.action}-confirmation-error`}
    />
    <FieldError form={form} slot="confirmation" />
  </>
)

export interface RunControlsProps {
  run: RunDetail
  csrfToken: string
  /** The forms to render; those not in `available` are rendered hidden (a live page shows them as the run changes). */
  rendered: RunAction[]
  available: RunAction[]
  attempt: ControlAttempt | null
  /** Whether the deployment is halted (a resume is refused then). */
  halted: boolean
  isBreakGlass: boolean
}

const summaries: Record<RunAction, string> = {
  pause: 'Pause',
  resume: 'Resume',
  cancel: 'Cancel',
  limits: 'Limits',
  retry: 'Retry failed tenants',
}

/**
 * SPEC §9 run control on the run page: one form per control, each behind its own disclosure so the page
 * stays short; a refused form comes back open with what was typed and why.
 */
export const RunControls: FC<RunControlsProps> = ({ run, csrfToken, rendered, available, attempt, halted, isBreakGlass }) => {
  const formState = (action: RunAction): FormState =>
    attempt?.action === action ? { action, values: attempt.values, problems: attempt.problems } : { action, values: emptyControlForm, problems: [] }
  const shown = rendered.filter((action) => available.includes(action))
  return (
    <section class="card" id="run-controls" aria-labelledby="run-controls-title" hidden={shown.length === 0}>
      <h2 id="run-controls-title">Run control</h2>
      <div class="controls">
        {RUN_ACTIONS.filter((action) => rendered.includes(action)).map((action) => {
          const form = formState(action)
          const open = attempt?.action === action && attempt.problems.length > 0
          return (
            <details class={`control control-${action}`} data-control={action} hidden={!available.includes(action)} open={open}>
              <summary>{summaries[action]}</summary>
              <form method="post" action={consolePaths.runControl(run.id, action)} novalidate>
                <input type="hidden" name={CSRF_FIELD} value={csrfToken} />
                <ErrorAlert messages={messagesBesides(form.problems, placed)} />
                <ControlBody action={action} form={form} run={run} halted={halted} isBreakGlass={isBreakGlass} />
              </form>
            </details>
          )
        })}
      </div>
    </section>
  )
}

const ControlBody: FC<{ action: RunAction; form: FormState; run: RunDetail; halted: boolean; isBreakGlass: boolean }> = ({
  action,
  form,
  run,
  halted,
  isBreakGlass,
}) => {
  switch (action) {
    case 'pause':
      return (
        <>
          <p class="hint">From the moment it is paused no tenant repair of the run starts; tenants being repaired finish and are counted.</p>
          <ControlReasonFields form={form} required hint={`Required: ${reasonRule}`} />
          <div class="actions">
            <button type="submit">Pause run</button>
          </div>
        </>
      )
    case 'resume':
      return (
        <>
          <p class="hint">The run continues with the tenants not yet processed.</p>
          {halted ? <p class="hint warn-text">The deployment is halted: a resume is refused until the halt is lifted.</p> : null}
          <ControlReasonFields form={form} required={false} hint={`Optional; when given: ${reasonRule}`} />
          <div class="actions">
            <button type="submit">Resume run</button>
          </div>
        </>
      )
    case 'cancel':
      return (
        <>
          <p class="hint">
            No tenant repair of the run starts after this; tenants being repaired finish and are counted, then the run completes{' '}
            <strong>cancelled</strong>. The tenants never started keep their findings untouched. This cannot be undone.
          </p>
          <ControlReasonFields form={form} required hint={`Required: ${reasonRule}`} />
          <ConfirmationField form={form} expected={CANCEL_CONFIRMATION} what="to confirm" />
          <div class="actions">
            <button type="submit" class="danger">
              Cancel run
            </button>
          </div>
        </>
      )
    case 'limits':
      return <LimitsBody form={form} run={run} />
    case 'retry': {
      const reasonRequired = run.tenantId === null || isBreakGlass
      return (
        <>
          <p class="hint">
            Starts a new run of the same runbook over this run's {run.tenantCounts.failed} failed tenant
            {run.tenantCounts.failed === 1 ? '' : 's'} still in the universe.
          </p>
          <ConfirmationField form={form} expected={run.type} what="(the runbook key)" />
          <ControlReasonFields
            form={form}
            required={reasonRequired}
            hint={
              reasonRequired
                ? `Required ${isBreakGlass ? 'for every run by a break-glass operator' : 'for an all-tenants run'}: ${reasonRule}`
                : `Optional for a single tenant; when given: ${reasonRule}`
            }
          />
          <div class="actions">
            <button type="submit">Retry failed tenants</button>
          </div>
        </>
      )
    }
  }
}

const LimitsBody: FC<{ form: FormState; run: RunDetail }> = ({ form, run }) => {
  const touched = form.values !== emptyControlForm
  const concurrency = touched ? form.values.maxConcurrency : String(run.limits.maxConcurrency)
  const failures = touched ? form.values.maxFailures : run.limits.maxFailures === null ? '' : String(run.limits.maxFailures)
  return (
    <>
      <p class="hint">Applies at once to the tenants not yet started.</p>
      <label for="limits-max-concurrency">Max concurrency</label>
      <input
        type="number"
        id="limits-max-concurrency"
        name="maxConcurrency"
        inputmode="numeric"
        min={1}
        max={MAX_CONCURRENCY_LIMIT}
        step={1}
        value={concurrency}
        aria-invalid={invalid(form, 'maxConcurrency')}
        aria-describedby="limits-max-concurrency-hint limits-maxConcurrency-error"
      />
      <p class="hint" id="limits-max-concurrency-hint">
        Tenants repaired at once, across every worker: 1 to {MAX_CONCURRENCY_LIMIT}. Now {run.limits.maxConcurrency}.
      </p>
      <FieldError form={form} slot="maxConcurrency" />
      <label for="limits-max-failures">Max failures</label>
      <input
        type="number"
        id="limits-max-failures"
        name="maxFailures"
        inputmode="numeric"
        min={0}
        step={1}
        value={failures}
        aria-invalid={invalid(form, 'maxFailures')}
        aria-describedby="limits-max-failures-hint limits-maxFailures-error"
      />
      <p class="hint" id="limits-max-failures-hint">
        When more tenants than this fail, the run pauses itself. Empty for no limit. Now{' '}
        {run.limits.maxFailures === null ? 'no limit' : run.limits.maxFailures}.
      </p>
      <FieldError form={form} slot="maxFailures" />
      <div class="actions">
        <button type="submit">Change limits</button>
      </div>
    </>
  )
}
