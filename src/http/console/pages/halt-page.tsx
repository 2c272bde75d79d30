import { ReasonFields, reasonFieldIds } from './reason-fields.js'
import type { FC } from 'hono/jsx'
import type { FieldProblem } from '../../../commands/errors.js'
import type { HaltView } from '../../../commands/halt.js'
import { REASON_TEXT_MAX, REASON_TEXT_MIN } from '../../../commands/run/start-run-policy.js'
import { consolePaths } from '../console-env.js'
import { CSRF_FIELD } from '../csrf.js'
import { messagesBesides, messagesForFields } from '../field-problems.js'
import { ErrorAlert, Layout, Time, type Viewer } from '../layout.js'
import { runsPageHref } from './runs-page.js'

/** What a refused halt or lift left to show. */
export interface HaltAttempt {
  values: { reasonCode: string; reasonText: string }
  problems: FieldProblem[]
  /** A refusal of the whole request (409: already halted, or not halted). */
  message?: string
}

export interface HaltPageProps {
  nonce: string
  viewer: Viewer
  halt: HaltView
  attempt: HaltAttempt | null
}

const CODE_FIELDS = ['reason.code']
const TEXT_FIELDS = ['reason', 'reason.text']

/**
 * SPEC §9 "Halt (the kill switch)" for holders of `platform.ops.halt`: the halt as it is, and the one form
 * that changes it — halt while not halted, lift while halted. Both need a reason.
 */
export const HaltPage: FC<HaltPageProps> = ({ nonce, viewer, halt, attempt }) => {
  const values = attempt?.values ?? { reasonCode: '', reasonText: '' }
  const problems = attempt?.problems ?? []
  const codeErrors = messagesForFields(problems, CODE_FIELDS)
  const textErrors = messagesForFields(problems, TEXT_FIELDS)
  return (
    <Layout title="Halt" nonce={nonce} viewer={viewer} current="halt">
      <h1>Halt (the kill switch)</h1>
      {attempt?.message ? (
        <div class="alert error" role="alert">
          <p>{attempt.message}</p>
        </div>
      ) : null}
      <section class="card" aria-labelledby="halt-state-title">
        <h2 id="halt-state-title">Now</h2>
        {halt.halted ? (
          <dl class="facts" id="halt-state" data-halted="true">
            <dt>State</dt>
            <dd>
              <span class="badge danger">halted</span>
            </dd>
            <dt>Reason</dt>
            <dd>
              {halt.reason ? (
                <>
                  <code>{halt.reason.code}</code> {halt.reason.text}
                </>
              ) : (
                '—'
              )}
            </dd>
            <dt>By</dt>
            <dd>{halt.by ? `${halt.by.name} (${halt.by.email})` : 'the service'}</dd>
            <dt>Since</dt>
            <dd>
              <Time at={halt.at} />
            </dd>
          </dl>
        ) : (
          <p id="halt-state" data-halted="false">
            <span class="badge ok">not halted</span> The deployment is not halted: runs start, run and resume as usual.
          </p>
        )}
      </section>
      <section class="card" aria-labelledby="halt-form-title">
        <h2 id="halt-form-title">{halt.halted ? 'Lift the halt' : 'Halt the deployment'}</h2>
        {halt.halted ? (
          <p>
            Starts and resumes are accepted again once lifted. <strong>Lifting does not resume any run:</strong> the runs the halt paused
            stay paused until an operator resumes each of them from its run page.{' '}
            <a href={runsPageHref({ status: 'paused', outcome: '', runbook: '', tenant: '' })}>Paused runs</a>
          </p>
        ) : (
          <p>
            Pauses every active run at once (pause reason <code>HALTED</code>): no tenant repair starts; repairs in flight finish and are
            counted. Until the halt is lifted every start, resume and approval is refused.
          </p>
        )}
        <form method="post" action={halt.halted ? consolePaths.liftHalt : consolePaths.halt} novalidate>
          <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
          <ErrorAlert messages={messagesBesides(problems, [...CODE_FIELDS, ...TEXT_FIELDS])} />
          <ReasonFields
            ids={reasonFieldIds('halt')}
            values={values}
            codeErrors={codeErrors}
            textErrors={textErrors}
            required
            hint={
              <>
                Required: a reason code and {REASON_TEXT_MIN} to {REASON_TEXT_MAX} characters of reason.{' '}
                {halt.halted ? 'It is recorded in the audit log.' : 'It is recorded, and shown on every console page while halted.'}
              </>
            }
          />
          <div class="actions">
            {halt.halted ? (
              <button type="submit">Lift the halt</button>
            ) : (
              <button type="submit" class="danger">
                Halt the deployment
              </button>
            )}
          </div>
        </form>
      </section>
    </Layout>
  )
}
