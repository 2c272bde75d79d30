import type { FC } from 'hono/jsx'
import type { OperatorRecord } from '../../../auth/operator-store.js'
import type { ApprovalSettings } from '../../../commands/approvals.js'
import type { FieldProblem } from '../../../commands/errors.js'
import { consolePaths } from '../console-env.js'
import { CSRF_FIELD } from '../csrf.js'
import { messagesBesides, messagesForFields } from '../field-problems.js'
import { ErrorAlert, Layout, Time, type Viewer } from '../layout.js'

/** Which form of the page a refusal belongs to: the create form, one operator's forms, or the approval setting. */
export type OperatorForm =
  | { kind: 'create' }
  | { kind: 'update'; id: string }
  | { kind: 'state'; id: string }
  | { kind: 'password'; id: string }
  | { kind: 'approvals' }

/** The fields of the page's forms, as typed (never a password: those are never shown again). */
export interface OperatorFormValues {
  email: string
  name: string
  capabilities: string[]
  isBreakGlass: boolean
  required: string
}

/** What a refused post left to show: which form, what was typed, why. */
export interface OperatorAttempt {
  form: OperatorForm
  values: OperatorFormValues
  /** 422 field problems, shown beside their fields. */
  problems: FieldProblem[]
  /** A refusal of the whole request (409, 403, 404), shown above the form. */
  message?: string
}

export interface OperatorsPageProps {
  nonce: string
  viewer: Viewer
  operators: OperatorRecord[]
  knownCapabilities: readonly string[]
  approvals: ApprovalSettings
  attempt: OperatorAttempt | null
}

/** SPEC §10 approval settings, as the page explains them. */
export const APPROVAL_CHOICES = [
  ['none', 'None: every start runs at once'],
  ['all_tenants', 'All-tenants runs: a start of scope all tenants waits for a second operator'],
  ['all', 'Every run: each start waits for a second operator'],
] as const

const sameForm = (a: OperatorForm | undefined, b: OperatorForm) =>
  a !== undefined && a.kind === b.kind && ('id' in a ? a.id : '') === ('id' in b ? b.id : '')

const Refusal: FC<{ attempt: OperatorAttempt | null; form: OperatorForm; placed: string[] }> = ({ attempt, form, placed }) =>
  attempt && sameForm(attempt.form, form) ? (
    <ErrorAlert messages={[...(attempt.message ? [attempt.message] : []), ...messagesBesides(attempt.problems, placed)]} />
  ) : null

const FieldError: FC<{ id: string; messages: string[] }> = ({ id, messages }) => (
  <p class="field-error" id={id} aria-live="polite">
    {messages.join(' ')}
  </p>
)

const CapabilityChoices: FC<{ prefix: string; known: readonly string[]; held: readonly string[]; errors: string[] }> = ({ prefix, known, held, errors }) => (
  <fieldset class="choices" aria-describedby={`${prefix}-capabilities-error`}>
    <legend>Capabilities</legend>
    {known.map((capability) => (
      <label>
        <input type="checkbox" name={`cap:${capability}`} value="on" checked={held.includes(capability)} data-capability={capability} />
        <code>{capability}</code>
      </label>
    ))}
    <FieldError id={`${prefix}-capabilities-error`} messages={errors} />
  </fieldset>
)

/**
 * SPEC §10 operator administration for holders of `platform.operators.manage`: every operator (never a
 * password hash), a create form, per operator a change form, disable/enable and set password; and the
 * approval setting. The rules are the commands' (src/commands/operators.ts, approvals.ts).
 */
export const OperatorsPage: FC<OperatorsPageProps> = ({ nonce, viewer, operators, knownCapabilities, approvals, attempt }) => {
  const createForm: OperatorForm = { kind: 'create' }
  const creating = attempt && sameForm(attempt.form, createForm) ? attempt : null
  const createValues = creating?.values ?? { email: '', name: '', capabilities: [], isBreakGlass: false, required: '' }
  const createProblems = creating?.problems ?? []
  const approvalsForm: OperatorForm = { kind: 'approvals' }
  const approvalsAttempt = attempt && sameForm(attempt.form, approvalsForm) ? attempt : null
  const required = approvalsAttempt?.values.required ?? approvals.required
  return (
    <Layout title="Operators" nonce={nonce} viewer={viewer} current="operators">
      <h1>Operators</h1>
      <section class="card" aria-labelledby="operators-title">
        <h2 id="operators-title">Operators ({operators.length})</h2>
        <div class="table-wrap">
          <table class="stack" id="operators">
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Name</th>
                <th scope="col">Capabilities</th>
                <th scope="col">Break-glass</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
                <th scope="col">Last login</th>
              </tr>
            </thead>
            <tbody>
              {operators.map((operator) => (
                <tr data-operator={operator.email}>
                  <td data-label="Email">
                    <a href={`#operator-${operator.id}`}>{operator.email}</a>
                  </td>
                  <td data-label="Name">{operator.name}</td>
                  <td data-label="Capabilities">
                    {operator.capabilities.map((capability) => (
                      <>
                        <code>{capability}</code>{' '}
                      </>
                    ))}
                  </td>
                  <td data-label="Break-glass">{operator.isBreakGlass ? 'yes' : 'no'}</td>
                  <td data-label="State">
                    {operator.disabled ? <span class="badge danger">disabled</span> : <span class="badge ok">enabled</span>}
                  </td>
                  <td data-label="Created">
                    <Time at={operator.createdAt} />
                  </td>
                  <td data-label="Last login">
                    <Time at={operator.lastLoginAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section class="card" aria-labelledby="approvals-title" id="approval-settings">
        <h2 id="approvals-title">Approvals (four eyes)</h2>
        <p>
          Which starts wait for a second operator holding <code>platform.runbooks.approve</code> and the runbook's capability. The operator
          who started a run can never approve it.
          {approvals.by ? (
            <>
              {' '}
              Last set by {approvals.by.name} ({approvals.by.email}) at <Time at={approvals.at} />.
            </>
          ) : null}
        </p>
        <form method="post" action={consolePaths.approvalSettings} novalidate>
          <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
          <Refusal attempt={attempt} form={approvalsForm} placed={[]} />
          <fieldset class="choices">
            <legend>Approval required for</legend>
            {APPROVAL_CHOICES.map(([value, label]) => (
              <label>
                <input type="radio" name="required" value={value} checked={required === value} />
                {label}
              </label>
            ))}
          </fieldset>
          <div class="actions">
            <button type="submit">Save the approval setting</button>
          </div>
        </form>
      </section>

      <section class="card" aria-labelledby="create-title">
        <h2 id="create-title">Create an operator</h2>
        <form method="post" action={consolePaths.operators} novalidate id="create-operator">
          <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
          <Refusal attempt={attempt} form={createForm} placed={['email', 'name', 'password', 'capabilities']} />
          <label for="create-email">Email</label>
          <input id="create-email" name="email" type="email" autocomplete="off" value={createValues.email} maxlength={320} aria-describedby="create-email-error" />
          <FieldError id="create-email-error" messages={messagesForFields(createProblems, ['email'])} />
          <label for="create-name">Name</label>
          <input id="create-name" name="name" type="text" autocomplete="off" value={createValues.name} maxlength={200} aria-describedby="create-name-error" />
          <FieldError id="create-name-error" messages={messagesForFields(createProblems, ['name'])} />
          <label for="create-password">Initial password</label>
          <input id="create-password" name="password" type="password" autocomplete="new-password" aria-describedby="create-password-hint create-password-error" />
          <p class="hint" id="create-password-hint">
            At least 12 characters. Tell it to the operator out of band; it is never shown again.
          </p>
          <FieldError id="create-password-error" messages={messagesForFields(createProblems, ['password'])} />
          <CapabilityChoices prefix="create" known={knownCapabilities} held={createValues.capabilities} errors={messagesForFields(createProblems, ['capabilities'])} />
          <label>
            <input type="checkbox" name="isBreakGlass" value="on" checked={createValues.isBreakGlass} /> Break-glass operator (must give a reason on
            every start; each start raises an alert)
          </label>
          <div class="actions">
            <button type="submit">Create the operator</button>
          </div>
        </form>
      </section>

      <h2>Change an operator</h2>
      {operators.map((operator) => {
        const update: OperatorForm = { kind: 'update', id: operator.id }
        const state: OperatorForm = { kind: 'state', id: operator.id }
        const password: OperatorForm = { kind: 'password', id: operator.id }
        const mine = attempt && 'id' in attempt.form && attempt.form.id === operator.id ? attempt : null
        const updating = mine && sameForm(mine.form, update) ? mine : null
        const values = updating?.values ?? { ...operator, required: '' }
        const prefix = `op-${operator.id}`
        return (
          <details class="card" id={`operator-${operator.id}`} open={mine !== null}>
            <summary>
              {operator.name} ({operator.email}){operator.disabled ? ' · disabled' : ''}
              {operator.email === viewer.email ? ' · you' : ''}
            </summary>
            <form method="post" action={consolePaths.operator(operator.id)} novalidate data-form="update">
              <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
              <Refusal attempt={attempt} form={update} placed={['name', 'capabilities']} />
              <label for={`${prefix}-name`}>Name</label>
              <input id={`${prefix}-name`} name="name" type="text" value={values.name} maxlength={200} aria-describedby={`${prefix}-name-error`} />
              <FieldError id={`${prefix}-name-error`} messages={messagesForFields(updating?.problems ?? [], ['name'])} />
              <CapabilityChoices
                prefix={prefix}
                known={knownCapabilities}
                held={values.capabilities}
                errors={messagesForFields(updating?.problems ?? [], ['capabilities'])}
              />
              <label>
                <input type="checkbox" name="isBreakGlass" value="on" checked={values.isBreakGlass} /> Break-glass operator
              </label>
              {operator.email === viewer.email ? (
                <p class="hint">This is you: nobody changes their own capabilities or disables themselves; another manager must.</p>
              ) : null}
              <div class="actions">
                <button type="submit">Save changes</button>
              </div>
            </form>
            <form method="post" action={consolePaths.operatorAction(operator.id, operator.disabled ? 'enable' : 'disable')} data-form="state">
              <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
              <Refusal attempt={attempt} form={state} placed={[]} />
              <p class="hint">
                {operator.disabled
                  ? 'Enabling lets the operator log in again with their password.'
                  : 'Disabling ends every session and token of the operator at once; they cannot log in until enabled.'}
              </p>
              <div class="actions">
                {operator.disabled ? (
                  <button type="submit">Enable {operator.email}</button>
                ) : (
                  <button type="submit" class="danger">
                    Disable {operator.email}
                  </button>
                )}
              </div>
            </form>
            <form method="post" action={consolePaths.operatorAction(operator.id, 'password')} novalidate data-form="password">
              <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
              <Refusal attempt={attempt} form={password} placed={['password']} />
              <label for={`${prefix}-password`}>New password</label>
              <input
                id={`${prefix}-password`}
                name="password"
                type="password"
                autocomplete="new-password"
                aria-describedby={`${prefix}-password-hint ${prefix}-password-error`}
              />
              <p class="hint" id={`${prefix}-password-hint`}>
                At least 12 characters. Every session and token of the operator ends.
              </p>
              <FieldError
                id={`${prefix}-password-error`}
                messages={mine && sameForm(mine.form, password) ? messagesForFields(mine.problems, ['password']) : []}
              />
              <div class="actions">
                <button type="submit" class="secondary">
                  Set the password
                </button>
              </div>
            </form>
          </details>
        )
      })}
    </Layout>
  )
}
