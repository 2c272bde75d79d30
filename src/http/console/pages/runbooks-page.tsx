import type { FC } from 'hono/jsx'
import type { FieldProblem } from '../../../commands/errors.js'
import type { PlanComparison } from '../../../commands/plan/plan-drift.js'
import { REASON_CODES, REASON_TEXT_MAX, REASON_TEXT_MIN } from '../../../commands/run/start-run-policy.js'
import type { UniverseTenant } from '../../../runbooks/tenant-universe.js'
import { MAX_CONCURRENCY_LIMIT } from '../../../events/index.js'
import { consolePaths } from '../console-env.js'
import { CSRF_FIELD } from '../csrf.js'
import { describeProblemAs, fieldLabels, messagesFor, problemSlots, type ProblemSlot } from '../field-problems.js'
import { ErrorAlert, Layout, type Viewer } from '../layout.js'
import { parameterErrorFields, parameterLabels, type ParameterNode } from '../parameter-form.js'
import { runbooksScript } from '../scripts/runbooks-script.js'
import { DEFAULT_DRIFT_FIELD, emptyStartForm, type StartFormValues } from '../start-form.js'
import { formatTenantReference, tenantLabel, type TenantNames } from '../tenant-reference.js'
import { CanaryFields } from './canary-fields.js'
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
  /** SPEC §11: the pinned start found the data moved beyond its tolerance (409 `PLAN_DRIFTED`); nothing started. */
  drift?: DriftReport
}

export interface DriftReport {
  preflightId: string
  /** The tolerance the start was given (percent of the pinned affected count). */
  maxDriftPercent: number
  comparison: PlanComparison
  /** Names of the tenants the report lists, by id (a tenant not found is shown by its id). */
  tenantNames: TenantNames
}


export interface RunbooksPageProps {
  nonce: string
  viewer: Viewer
  isBreakGlass: boolean
  runbooks: CatalogEntry[]
  /** The first tenants of the universe, so the picker lists some before the operator types. */
  tenants: UniverseTenant[]
  attempt?: StartAttempt | null
  /** The run a start began, told to an operator who may not open run pages (no `platform.ops.view`). */
  started?: { runId: string; status: string } | null
}

export const RunbooksPage: FC<RunbooksPageProps> = ({ nonce, viewer, isBreakGlass, runbooks, tenants, attempt, started }) => (
  <Layout title="Runbooks" nonce={nonce} viewer={viewer} current="runbooks" script={runbooksScript}>
    <h1>Runbooks</h1>
    {started ? (
      <div class="alert info" role="status" id="run-started">
        <p>
          Run <code>{started.runId}</code> started ({started.status.replaceAll('_', ' ')}). Following it needs the capability
          platform.ops.view, which you do not hold.
        </p>
      </div>
    ) : null}
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

/** "2.5" and "10", not "2.5000001": a percent as the report shows it. */
function percentText(value: number): string {
  return String(Math.round(value * 10) / 10)
}

/**
 * SPEC §11: why a pinned start was refused (409 `PLAN_DRIFTED`): the affected count of the preview and of
 * today's scan, how far it moved against the allowed drift, the tenants that would now fail, and a table of
 * every tenant whose plan changed. Nothing was started; the operator previews again.
 */
const DriftReportView: FC<{ report: DriftReport; prefix: string; unit: string }> = ({ report, prefix, unit }) => {
  const { pinned, current, tenants, tenantsChanged } = report.comparison
  const moved = current.affectedCount - pinned.affectedCount
  const movedText = moved === 0 ? 'unchanged' : `${moved > 0 ? '+' : '−'}${Math.abs(moved)}`
  const share = pinned.affectedCount === 0 ? null : (Math.abs(moved) * 100) / pinned.affectedCount
  const newlyFailing = tenants.filter((t) => t.current?.wouldFail && !t.pinned?.wouldFail)
  const name = (id: number) => tenantLabel(report.tenantNames, id)
  const titleId = `${prefix}-drift-title`
  const cell = (value: number | undefined) => (value === undefined ? '—' : String(value))
  const fails = (side: { wouldFail: string | null } | null, absent: string) =>
    side === null ? <span class="muted">{absent}</span> : side.wouldFail === null ? 'No' : <span class="badge danger">{side.wouldFail}</span>
  return (
    <section class="drift-report" aria-labelledby={titleId} data-drift-report>
      <div class="alert error" role="alert">
        <h3 id={titleId}>Nothing was started: the data changed since the pinned preview</h3>
        <p>
          Preview <code>{report.preflightId}</code> counted <strong>{pinned.affectedCount}</strong> affected {unit}; the start's own scan counts{' '}
          <strong>{current.affectedCount}</strong> ({movedText}
          {share === null ? '' : `, ${percentText(share)}% of the preview's count`}; allowed drift {percentText(report.maxDriftPercent)}%).
        </p>
        {newlyFailing.length > 0 ? (
          <p>
            {newlyFailing.length === 1 ? '1 tenant' : `${newlyFailing.length} tenants`} would now fail that would not have:{' '}
            {newlyFailing.map((t) => name(t.tenantId)).join(', ')}.
          </p>
        ) : null}
        <p>
          <strong>Run the preflight again</strong> to see the new plan, then start the run pinned to it.
        </p>
      </div>
      <div class="table-wrap">
        <table class="stack drift-table">
          <caption>
            Tenants that changed: {tenantsChanged}
            {tenantsChanged > tenants.length ? ` (the first ${tenants.length} shown)` : ''}
          </caption>
          <thead>
            <tr>
              <th scope="col">Tenant</th>
              <th scope="col">Affected {unit} in the preview</th>
              <th scope="col">Affected {unit} now</th>
              <th scope="col">Scanned in the preview</th>
              <th scope="col">Scanned now</th>
              <th scope="col">Would fail in the preview</th>
              <th scope="col">Would fail now</th>
            </tr>
          </thead>
          <tbody>
            {tenants.map((t) => (
              <tr class={t.current?.wouldFail && !t.pinned?.wouldFail ? 'fails' : undefined}>
                <th scope="row">{name(t.tenantId)}</th>
                <td data-label={`Affected ${unit} in the preview`}>{cell(t.pinned?.affected)}</td>
                <td data-label={`Affected ${unit} now`}>{cell(t.current?.affected)}</td>
                <td data-label="Scanned in the preview">{cell(t.pinned?.total)}</td>
                <td data-label="Scanned now">{cell(t.current?.total)}</td>
                <td data-label="Would fail in the preview">{fails(t.pinned, 'not in the preview')}</td>
                <td data-label="Would fail now">{fails(t.current, 'no longer targeted')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}

/**
 * SPEC §9: the start's limits, both optional (an empty field takes the default; the run page changes them
 * while the run is active).
 */
const LimitFields: FC<{ prefix: string; values: StartFormValues; problems: FieldProblem[] }> = ({ prefix, values, problems }) => {
  const fields = [
    {
      slot: 'maxConcurrency',
      id: `${prefix}-max-concurrency`,
      label: 'Max concurrency',
      min: 1,
      max: MAX_CONCURRENCY_LIMIT,
      hint: `Tenants repaired at once, across every worker: 1 to ${MAX_CONCURRENCY_LIMIT}. Empty: the deployment's worker capacity.`,
    },
    { slot: 'maxFailures', id: `${prefix}-max-failures`, label: 'Max failures', min: 0, max: undefined, hint: 'When more tenants than this fail, the run pauses itself. Empty: no limit.' },
  ] as const
  return (
    <fieldset class="limits">
      <legend>Limits (optional)</legend>
      {fields.map(({ slot, id, label, min, max, hint }) => (
        <>
          <label for={id}>{label}</label>
          <input
            type="number"
            id={id}
            name={slot}
            inputmode="numeric"
            min={min}
            max={max}
            step={1}
            value={values[slot]}
            aria-invalid={messagesFor(problems, slot).length > 0 ? 'true' : undefined}
            aria-describedby={`${id}-hint ${id}-error`}
          />
          <p class="hint" id={`${id}-hint`}>
            {hint}
          </p>
          <FieldError id={`${id}-error`} slot={slot} problems={problems} />
        </>
      ))}
    </fieldset>
  )
}

/**
 * SPEC §11: the start's pin. Hidden until a preflight (the script fills the preview id and shows it, and
 * empties and hides it again when the scope, tenant or parameters change); shown when the page comes back
 * with a pinned start's values. Without a preview id the start is not pinned and the tolerance is not read.
 */
const PinFields: FC<{ prefix: string; values: StartFormValues; problems: FieldProblem[] }> = ({ prefix, values, problems }) => {
  const pinned = values.preflightId !== ''
  return (
    <div class="pin" data-pin hidden={!pinned}>
      <input type="hidden" name="preflightId" value={values.preflightId} data-pin-id />
      <p class="pin-note" id={`${prefix}-pin-note`}>
        This run will be pinned to preview <code data-pin-label>{values.preflightId}</code>.
      </p>
      <FieldError id={`${prefix}-pin-error`} slot="preflightId" problems={problems} />
      <label for={`${prefix}-max-drift`}>Allowed drift (%)</label>
      <input
        type="number"
        id={`${prefix}-max-drift`}
        name="maxDriftPercent"
        min="0"
        max="100"
        step="any"
        inputmode="decimal"
        value={values.maxDriftPercent === '' ? DEFAULT_DRIFT_FIELD : values.maxDriftPercent}
        data-drift-field
        aria-invalid={messagesFor(problems, 'maxDriftPercent').length > 0 ? 'true' : undefined}
        aria-describedby={`${prefix}-max-drift-hint ${prefix}-max-drift-error ${prefix}-pin-error`}
      />
      <p class="hint" id={`${prefix}-max-drift-hint`}>
        0 to 100. The run starts only if the affected count moved by at most this share of the preview's count since, and no tenant
        would now fail that would not have; otherwise nothing starts and the changes are shown.
      </p>
      <FieldError id={`${prefix}-max-drift-error`} slot="maxDriftPercent" problems={problems} />
    </div>
  )
}

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
      {attempt?.drift ? <DriftReportView report={attempt.drift} prefix={prefix} unit={runbook.unit} /> : null}
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
              <LimitFields prefix={prefix} values={values} problems={problems} />
              <CanaryFields prefix={prefix} values={values} problems={problems} />
              <PinFields prefix={prefix} values={values} problems={problems} />
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
