import type { FC } from 'hono/jsx'
import type { FieldProblem } from '../../../commands/errors.js'
import { REASON_CODES, REASON_TEXT_MAX, REASON_TEXT_MIN } from '../../../commands/run/start-run-policy.js'
import type { UniverseTenant } from '../../../runbooks/tenant-universe.js'
import { consolePaths } from '../console-env.js'
import { CSRF_FIELD } from '../csrf.js'
import { describeProblemAs, fieldLabels, messagesFor, problemSlots, type ProblemSlot } from '../field-problems.js'
import { ErrorAlert, Layout, type Viewer } from '../layout.js'
import { parameterErrorFields, parameterLabels, type ParameterNode } from '../parameter-form.js'
import { runbooksScript } from '../scripts/runbooks-script.js'
import { emptyStartForm, type StartFormValues } from '../start-form.js'
import { formatTenantReference } from '../tenant-reference.js'
import { ParameterFields } from './parameter-fields.js'

/** Rows per page of a preview's per-tenant plan (the "More" button asks for the next). */
const PLAN_PAGE_SIZE = 50
/** Stands for the preview id in the plan's URL, which the script fills in after a preflight. */
const PLAN_ID_PLACEHOLDER = 'PREFLIGHT_ID'

export interface CatalogEntry {
  key: string
  label: string
  description: string
  estimatedDuration: string
  /** What its counts count, plural (`findings`). */
  unit: string
  /** Its parameters form, from the JSON Schema of its parameters (SPEC §13); empty when it takes none. */
  parameters: ParameterNode[]
  /** The operator may preview it (view + the runbook's capability). */
  canPreflight: boolean
  /** The operator may start it (run + the runbook's capability). */
  canStart: boolean
}

/** What the last start attempt of one runbook left to show: the typed values and why they were refused. */
export interface StartAttempt {
  runbookKey: string
  values: StartFormValues
  problems: FieldProblem[]
  /** The identical run that is already active (409). */
  activeRunId?: string
  /** A refusal of the whole start (423: the deployment is halted). */
  message?: string
}

export interface RunbooksPageProps {
  nonce: string
  viewer: Viewer
  isBreakGlass: boolean
  runbooks: CatalogEntry[]
  /** The first tenants of the universe, so the picker lists some before the operator types. */
  tenants: UniverseTenant[]
  attempt?: StartAttempt | null
}

export const RunbooksPage: FC<RunbooksPageProps> = ({ nonce, viewer, isBreakGlass, runbooks, tenants, attempt }) => (
  <Layout title="Runbooks" nonce={nonce} viewer={viewer} current="runbooks" script={runbooksScript}>
    <h1>Runbooks</h1>
    {runbooks.length === 0 ? <p>No runbooks are available.</p> : null}
    {runbooks.map((runbook, index) => (
      <RunbookCard
        runbook={runbook}
        prefix={`rb${index}`}
        viewer={viewer}
        isBreakGlass={isBreakGlass}
        tenants={tenants}
        attempt={attempt && attempt.runbookKey === runbook.key ? attempt : null}
      />
    ))}
  </Layout>
)

interface RunbookCardProps {
  runbook: CatalogEntry
  prefix: string
  viewer: Viewer
  isBreakGlass: boolean
  tenants: UniverseTenant[]
  attempt: StartAttempt | null
}

const FieldError: FC<{ id: string; slot: ProblemSlot; problems: FieldProblem[] }> = ({ id, slot, problems }) => (
  <p class="field-error" id={id} data-error-for={problemSlots[slot].join(' ')} aria-live="polite">
    {messagesFor(problems, slot).join(' ')}
  </p>
)

const RunbookCard: FC<RunbookCardProps> = ({ runbook, prefix, viewer, isBreakGlass, tenants, attempt }) => {
  const values = attempt?.values ?? emptyStartForm
  const problems = attempt?.problems ?? []
  const invalid = (slot: ProblemSlot) => (messagesFor(problems, slot).length > 0 ? 'true' : undefined)
  const single = values.scope === 'single_tenant'
  const interactive = runbook.canPreflight || runbook.canStart
  const labels = { ...fieldLabels, ...parameterLabels(runbook.parameters) }
  // Problems with no place beside a field (nor beside a parameter) are told at the top of the form.
  const placed = new Set<string>([...Object.values(problemSlots).flat(), 'parameters', ...parameterErrorFields(runbook.parameters)])
  const unplaced = problems.filter((problem) => !placed.has(problem.field)).map((problem) => describeProblemAs(problem, labels))
  return (
    <section class="card" aria-labelledby={`${prefix}-title`}>
      <h2 id={`${prefix}-title`}>{runbook.label}</h2>
      <p>
        <code>{runbook.key}</code>
      </p>
      <p>{runbook.description}</p>
      <p class="muted">Estimated duration: {runbook.estimatedDuration}</p>
      {attempt?.activeRunId ? (
        <div class="alert error" role="alert">
          <p>
            An identical run is already active.{' '}
            <a href={consolePaths.run(attempt.activeRunId)}>Open the active run {attempt.activeRunId}</a>
          </p>
        </div>
      ) : null}
      {attempt?.message ? (
        <div class="alert error" role="alert">
          <p>{attempt.message}</p>
        </div>
      ) : null}
      {!interactive ? (
        <p class="muted">You can see this runbook but not preview or start it.</p>
      ) : (
        <form
          class="runbook"
          method="post"
          action={consolePaths.start(runbook.key)}
          data-can-start={runbook.canStart ? 'true' : 'false'}
          data-preflight-url={consolePaths.preflight(runbook.key)}
          data-tenants-url={consolePaths.tenants}
          data-field-labels={JSON.stringify(labels)}
          data-unit={runbook.unit}
          data-prefix={prefix}
          data-plan-url={consolePaths.preflightTenants(PLAN_ID_PLACEHOLDER)}
          data-plan-page-size={String(PLAN_PAGE_SIZE)}
          data-plan-id-placeholder={PLAN_ID_PLACEHOLDER}
          novalidate
        >
          <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
          <div data-error-for="(form)" class="form-errors" aria-live="polite">
            <ErrorAlert messages={unplaced} />
          </div>
          <fieldset class="choices" aria-describedby={`${prefix}-scope-error`}>
            <legend>Scope</legend>
            <label>
              <input type="radio" name="scope" value="all_tenants" checked={!single} /> All tenants
            </label>
            <label>
              <input type="radio" name="scope" value="single_tenant" checked={single} /> Single tenant
            </label>
            <FieldError id={`${prefix}-scope-error`} slot="scope" problems={problems} />
          </fieldset>
          {/* Shown and hidden by the stylesheet (:has on the checked scope), so it follows the choice at once, script or not. */}
          <div class="tenant-picker">
            <label for={`${prefix}-tenant`}>Tenant</label>
            <input
              type="text"
              id={`${prefix}-tenant`}
              name="tenant"
              list={`${prefix}-tenants`}
              autocomplete="off"
              placeholder="Type a tenant name to search"
              value={values.tenant}
              required={single}
              aria-invalid={invalid('tenantId')}
              aria-describedby={`${prefix}-tenant-hint ${prefix}-tenant-error`}
            />
            <datalist id={`${prefix}-tenants`}>
              {tenants.map((tenant) => (
                <option value={formatTenantReference(tenant)} />
              ))}
            </datalist>
            <p class="hint" id={`${prefix}-tenant-hint`}>
              Only tenants that can be targeted are listed: not the platform tenant, not archived ones.
            </p>
            <FieldError id={`${prefix}-tenant-error`} slot="tenantId" problems={problems} />
          </div>
          <ParameterFields prefix={prefix} nodes={runbook.parameters} values={values.parameters} problems={problems} />
          {runbook.canPreflight ? (
            <div class="actions">
              <button type="button" class="secondary" data-action="preflight">
                Preflight
              </button>
            </div>
          ) : null}
          <output class="preflight-result" data-preflight-result for={`${prefix}-tenant`} aria-live="polite"></output>
          {/* SPEC §11: the preview's per-tenant plan, behind a disclosure the script adds after a preflight (not live: pages of rows are not announced). */}
          <div class="preflight-plan" data-preflight-plan></div>
          {runbook.canStart ? (
            <fieldset>
              <legend>Start a run</legend>
              <label for={`${prefix}-confirmation`}>
                Confirmation: type <code>{runbook.key}</code>
              </label>
              <input
                type="text"
                id={`${prefix}-confirmation`}
                name="confirmation"
                autocomplete="off"
                spellcheck={false}
                required
                value={values.confirmation}
                aria-invalid={invalid('confirmation')}
                aria-describedby={`${prefix}-confirmation-error`}
              />
              <FieldError id={`${prefix}-confirmation-error`} slot="confirmation" problems={problems} />
              <label for={`${prefix}-reason-code`}>Reason code</label>
              <select
                id={`${prefix}-reason-code`}
                name="reasonCode"
                aria-invalid={invalid('reasonCode') ?? (problems.some((p) => p.field === 'reason') ? 'true' : undefined)}
                aria-describedby={`${prefix}-reason-hint ${prefix}-reason-code-error ${prefix}-reason-text-error`}
              >
                <option value="" selected={values.reasonCode === ''}>
                  (no reason)
                </option>
                {REASON_CODES.map((code) => (
                  <option value={code} selected={values.reasonCode === code}>
                    {code}
                  </option>
                ))}
              </select>
              <FieldError id={`${prefix}-reason-code-error`} slot="reasonCode" problems={problems} />
              <label for={`${prefix}-reason-text`}>Reason</label>
              <textarea
                id={`${prefix}-reason-text`}
                name="reasonText"
                maxlength={REASON_TEXT_MAX}
                aria-invalid={invalid('reasonText')}
                aria-describedby={`${prefix}-reason-hint ${prefix}-reason-text-error`}
              >
                {values.reasonText}
              </textarea>
              <p class="hint" id={`${prefix}-reason-hint`}>
                {isBreakGlass
                  ? `You are a break-glass operator: every run needs a reason code and ${REASON_TEXT_MIN} to ${REASON_TEXT_MAX} characters of reason.`
                  : `Required for all-tenants runs: a reason code and ${REASON_TEXT_MIN} to ${REASON_TEXT_MAX} characters of reason. Optional for a single tenant.`}
              </p>
              <FieldError id={`${prefix}-reason-text-error`} slot="reasonText" problems={problems} />
              <div class="actions">
                <button type="submit">Start run</button>
              </div>
            </fieldset>
          ) : (
            <p class="muted">You can preview this runbook but not start it.</p>
          )}
        </form>
      )}
    </section>
  )
}
