import { ReasonFields, reasonFieldIds } from './reason-fields.js'
import type { FC } from 'hono/jsx'
import type { FieldProblem } from '../../../commands/errors.js'
import { REASON_TEXT_MAX, REASON_TEXT_MIN } from '../../../commands/run/start-run-policy.js'
import { consolePaths } from '../console-env.js'
import { CSRF_FIELD } from '../csrf.js'
import { messagesBesides, messagesForFields } from '../field-problems.js'
import { ErrorAlert, Time } from '../layout.js'

/** What the viewer may do with a run awaiting approval (display only: the commands decide). */
export type ApprovalRole = 'decide' | 'starter' | 'none'

export interface ApprovalAttempt {
  form: 'approve' | 'reject'
  values: { comment: string; reasonCode: string; reasonText: string }
  problems: FieldProblem[]
  /** A refusal of the whole request (409 no longer awaiting, 423 halted). */
  message?: string
}

/** An approval or a rejection as the page tells it (from the run's RunApproved / RunRejected event). */
export interface ApprovalNote {
  by: string
  at: string
  /** The approval's comment, or the rejection's reason text. */
  text: string | null
  /** The rejection's reason code. */
  code?: string
}

export interface RunApprovalProps {
  runId: string
  awaiting: boolean
  role: ApprovalRole
  csrfToken: string
  attempt: ApprovalAttempt | null
  approved: ApprovalNote | null
  rejected: ApprovalNote | null
}

const CODE_FIELDS = ['reason.code']
const TEXT_FIELDS = ['reason', 'reason.text']

/**
 * SPEC §10 four eyes on the run page: while a run awaits approval, a notice and — for holders of
 * `platform.runbooks.approve` and the runbook's capability who did not start it — the approve and reject
 * forms; the starter reads a note instead. Once decided, who approved or rejected it and why.
 */
export const RunApproval: FC<RunApprovalProps> = (props) =>
  !props.awaiting && props.attempt?.message ? (
    <>
      <div class="alert error" role="alert" id="run-approval-refused">
        <p>{props.attempt.message}</p>
      </div>
      <ApprovalState {...props} />
    </>
  ) : (
    <ApprovalState {...props} />
  )

const ApprovalState: FC<RunApprovalProps> = ({ runId, awaiting, role, csrfToken, attempt, approved, rejected }) => {
  if (!awaiting) {
    if (rejected) {
      return (
        <div class="alert error notice" id="run-rejected" role="status">
          <p>
            <strong>This run was rejected</strong> and never repaired a tenant.
          </p>
          <p>
            {rejected.code ? <code>{rejected.code}</code> : null} {rejected.text ?? ''}
          </p>
          <p class="muted">
            By {rejected.by} at <Time at={rejected.at} />
          </p>
        </div>
      )
    }
    if (approved) {
      return (
        <p class="muted" id="run-approved">
          Approved by {approved.by} at <Time at={approved.at} />
          {approved.text ? `: ${approved.text}` : '.'}
        </p>
      )
    }
    return null
  }
  const values = attempt?.values ?? { comment: '', reasonCode: '', reasonText: '' }
  const rejectProblems = attempt?.form === 'reject' ? attempt.problems : []
  const approveProblems = attempt?.form === 'approve' ? attempt.problems : []
  const codeErrors = messagesForFields(rejectProblems, CODE_FIELDS)
  const textErrors = messagesForFields(rejectProblems, TEXT_FIELDS)
  return (
    <section class="alert warn notice" id="run-approval" role="status" aria-labelledby="run-approval-title">
      <p>
        <strong id="run-approval-title">This run is waiting for a second operator.</strong> Nothing has been dispatched: no tenant is
        repaired until another operator approves it. Unapproved runs are rejected after 24 hours.
      </p>
      {attempt?.message ? <ErrorAlert messages={[attempt.message]} /> : null}
      {role === 'starter' ? (
        <p id="run-approval-starter">You started this run, so you cannot approve or reject it: another operator must.</p>
      ) : null}
      {role === 'none' ? (
        <p class="muted">Approving needs platform.runbooks.approve and the runbook's capability.</p>
      ) : null}
      {role === 'decide' ? (
        <div class="approval-forms">
          <form method="post" action={consolePaths.approveRun(runId)} novalidate id="approve-form">
            <input type="hidden" name={CSRF_FIELD} value={csrfToken} />
            <ErrorAlert messages={messagesBesides(approveProblems, ['comment'])} />
            <label for="approve-comment">Comment (optional)</label>
            <textarea id="approve-comment" name="comment" maxlength={500} aria-describedby="approve-comment-error">
              {attempt?.form === 'approve' ? values.comment : ''}
            </textarea>
            <p class="field-error" id="approve-comment-error" aria-live="polite">
              {messagesForFields(approveProblems, ['comment']).join(' ')}
            </p>
            <div class="actions">
              <button type="submit">Approve the run</button>
            </div>
          </form>
          <details class="control" open={attempt?.form === 'reject'}>
            <summary>Reject the run</summary>
            <form method="post" action={consolePaths.rejectRun(runId)} novalidate id="reject-form">
              <input type="hidden" name={CSRF_FIELD} value={csrfToken} />
              <ErrorAlert messages={messagesBesides(rejectProblems, [...CODE_FIELDS, ...TEXT_FIELDS])} />
              <ReasonFields
                ids={reasonFieldIds('reject')}
                values={attempt?.form === 'reject' ? values : { reasonCode: '', reasonText: '' }}
                codeErrors={codeErrors}
                textErrors={textErrors}
                required
                hint={`Required: a reason code and ${REASON_TEXT_MIN} to ${REASON_TEXT_MAX} characters. The run completes rejected.`}
              />
              <div class="actions">
                <button type="submit" class="danger">
                  Reject the run
                </button>
              </div>
            </form>
          </details>
        </div>
      ) : null}
    </section>
  )
}
