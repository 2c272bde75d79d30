import type { Child, FC } from 'hono/jsx'
import type { RunDetail } from '../../../projections/queries.js'
import { verificationExpected } from '../../../commands/run/run-decider.js'
import { awaitsApproval } from '../../../commands/run/run-state.js'
import { Badge, badgeTones } from '../badges.js'
import { consolePaths, RUN_ACTIONS, type RunAction } from '../console-env.js'
import { describeProblem } from '../field-problems.js'
import { Layout, Time, type Viewer } from '../layout.js'
import type { ControlAttempt } from '../run-controls.js'
import { describeEta, type ControlNote, type RunProgress } from '../run-progress.js'
import { runScript } from '../scripts/run-script.js'
import { tenantLabel, type TenantNames } from '../tenant-reference.js'
import type { RevertAttempt } from '../run-revert.js'
import { RunApproval, type RunApprovalProps } from './run-approval.js'
import { RunCanary } from './run-canary.js'
import { RunControls } from './run-controls.js'
import { RunRevert } from './run-revert.js'
import { RunTenants, type RunTenantsProps } from './run-tenants.js'
import { RunTimeline } from './run-timeline.js'
import type { TimelineWindow } from '../run-timeline.js'
import { RunVerification } from './run-verification.js'

export interface RunPageProps {
  nonce: string
  viewer: Viewer
  run: RunDetail
  progress: RunProgress
  runbookLabel: string | null
  /** What the runbook's counts count, plural (`findings`; `rows` for a runbook the catalog no longer has). */
  unit: string
  /** The parameters the run was started with (its `context.parameters`), labelled; null when not recorded. */
  parameters: Array<{ label: string; value: string }> | null
  /** SPEC §12: the run's events as a timeline (the latest window follows the run live). */
  timeline: TimelineWindow
  tenantNames: TenantNames
  /** The tenant table: filter, page and any error about its query. */
  tenants: Omit<RunTenantsProps, 'run'>
  /** Whether the viewer holds the capabilities run control needs (SPEC §9); no control is shown otherwise. */
  mayControl: boolean
  isBreakGlass: boolean
  /** A refused control to show again (409/422/423). */
  attempt: ControlAttempt | null
  /** How a run that completed `cancelled` was cancelled (from its RunCancelled event). */
  cancelled: ControlNote | null
  /** SPEC §10 four eyes: the notice and forms of a run awaiting approval, or how it was decided. */
  approval: Omit<RunApprovalProps, 'runId' | 'awaiting' | 'csrfToken'>
  /** SPEC §11 revert: whether the form is offered, a refused attempt, and the run that reverted this one (its RunReverted). */
  revert: { offered: boolean; attempt: RevertAttempt | null; revertedBy: string | null }
}

/** The summary keys SPEC §3 allows, in reading order; `total` counts the runbook's unit. */
const countKeys = (unit: string) => [
  ['total', `${unit.charAt(0).toUpperCase()}${unit.slice(1)} scanned`],
  ['processed', 'Processed'],
  ['updated', 'Updated'],
  ['skipped', 'Skipped'],
  ['failed', 'Failed tenants'],
  ['tenants', 'Tenants targeted'],
] as const

/** SPEC §9 `tenantCounts`, in reading order. */
const TENANT_COUNT_KEYS = [
  ['targeted', 'Targeted'],
  ['pending', 'Pending'],
  ['succeeded', 'Succeeded'],
  ['failed', 'Failed'],
  ['cancelled', 'Cancelled'],
] as const

export const FailureRows: FC<{ failures: RunProgress['failures'] }> = ({ failures }) => (
  <>
    {failures.map((failure) => (
      <tr>
        <td data-label="Tenant">{failure.tenant}</td>
        <td data-label="Reason code">
          <code>{failure.reasonCode}</code>
        </td>
        <td data-label="Message">{failure.message}</td>
      </tr>
    ))}
  </>
)

/** A pause or cancel notice; its parts carry data-* names so the live script can fill them in. */
const ControlNotice: FC<{ id: string; kind: 'pause' | 'cancel'; note: ControlNote | null; title: string; children?: Child }> = ({
  id,
  kind,
  note,
  title,
  children,
}) => (
  <div class={`alert ${kind === 'pause' ? 'warn' : 'info'} notice`} id={id} role="status" hidden={note === null}>
    <p>
      <strong>{title}</strong> {children}
    </p>
    <p>
      <code data-note="code">{note?.reasonCode ?? ''}</code> <span data-note="text">{note?.reasonText ?? ''}</span>
    </p>
    <p class="muted">
      By <span data-note="by">{note?.by ?? ''}</span> at{' '}
      <span data-note="at">
        <Time at={note?.at ?? null} />
      </span>
    </p>
  </div>
)

export const RunPage: FC<RunPageProps> = (props) => {
  const { nonce, viewer, run, progress, runbookLabel, unit, parameters, timeline, tenantNames, tenants, mayControl, isBreakGlass, attempt, cancelled, approval, revert } =
    props
  const revertOf = run.revertOf
  const live = run.status !== 'completed'
  // SPEC §11: a completed run whose verification is still to come is followed until it is recorded.
  const awaitingVerification = !live && run.verification === null && verificationExpected(run, new Date())
  const cancelling = progress.cancellation !== null && live
  // A live page carries every control the operator may use, hidden unless the state admits it: the script
  // shows them as the run changes. A completed page carries only what it admits (at most the retry).
  const rendered: RunAction[] = !mayControl ? [] : live ? [...RUN_ACTIONS] : progress.actions
  // A refusal whose form the page no longer shows (the run moved on) is told above everything else.
  const refusal = attempt
    ? [
        ...(attempt.message ? [attempt.message] : []),
        ...(rendered.includes(attempt.action) && progress.actions.includes(attempt.action) ? [] : attempt.problems.map(describeProblem)),
      ]
    : // A refused revert is told in its form; here only when the page no longer offers it (e.g. reverted meanwhile).
      revert.attempt && !revert.offered
      ? [...(revert.attempt.message ? [revert.attempt.message] : []), ...revert.attempt.problems.map(describeProblem)]
      : []
  const activeRunId = attempt?.activeRunId ?? revert.attempt?.activeRunId
  return (
    <Layout title={`Run ${run.id}`} nonce={nonce} viewer={viewer} current="runs" script={live || awaitingVerification ? runScript : undefined}>
      <p>
        <a href={consolePaths.runs}>← All runs</a>
      </p>
      <h1>
        {runbookLabel ?? run.type} <span class="muted">run</span>
      </h1>
      {refusal.length > 0 ? (
        <div class="alert error" role="alert" id="run-control-refused">
          {refusal.map((message) => (
            <p>{message}</p>
          ))}
          {activeRunId ? (
            <p>
              <a href={consolePaths.run(activeRunId)}>
                Open the active {attempt ? 'retry' : 'run'} {activeRunId}
              </a>
            </p>
          ) : null}
        </div>
      ) : null}
      <RunApproval runId={run.id} awaiting={run.status === 'awaiting_approval'} csrfToken={viewer.csrfToken} {...approval} />
      {run.status === 'awaiting_approval' ? <p class="alert info" id="run-approval-decided" role="status" hidden /> : null}
      <ControlNotice id="run-pause" kind="pause" note={progress.pause} title="This run is paused.">
        No tenant repair of it starts until it is resumed.
        {/* A run the halt paused while it awaited its approval awaits it again once resumed (the decider's rule). */}
        {awaitsApproval({ request: { approvalRequired: run.approval?.required ?? false }, approvedAt: run.approval?.approvedAt ?? null })
          ? ' It is not approved yet: once resumed, it awaits a second operator’s approval again.' : null}
      </ControlNotice>
      <ControlNotice id="run-cancelling" kind="cancel" note={cancelling ? progress.cancellation : null} title="This run is being cancelled.">
        Tenants being repaired finish and are counted; then it completes cancelled.
      </ControlNotice>
      {cancelled ? (
        <ControlNotice id="run-cancelled" kind="cancel" note={cancelled} title="This run was cancelled.">
          The tenants it never started were left untouched.
        </ControlNotice>
      ) : null}
      <div
        class="card"
        id="run"
        data-stream-url={consolePaths.runStream(run.id)}
        data-live={live ? 'true' : awaitingVerification ? 'verifying' : 'false'}
        data-badge-tones={JSON.stringify(badgeTones)}
      >
        <dl class="facts">
          <dt>Run id</dt>
          <dd>
            <code>{run.id}</code>
          </dd>
          <dt>Status</dt>
          <dd>
            <Badge kind="status" id="run-status" value={run.status} />
          </dd>
          <dt>Outcome</dt>
          <dd>
            <Badge kind="outcome" id="run-outcome" value={run.outcome} />
          </dd>
          <dt>Runbook</dt>
          <dd>
            <code>{run.type}</code>
          </dd>
          <dt>Scope</dt>
          <dd>{run.tenantId === null ? 'All tenants' : `Single tenant ${tenantLabel(tenantNames, run.tenantId)}`}</dd>
          {parameters ? (
            <>
              <dt>Parameters</dt>
              <dd id="run-parameters">
                {parameters.length === 0 ? (
                  'none'
                ) : (
                  <ul class="parameters">
                    {parameters.map((parameter) => (
                      <li>
                        {parameter.label}: <code>{parameter.value}</code>
                      </li>
                    ))}
                  </ul>
                )}
              </dd>
            </>
          ) : null}
          {run.retryOf ? (
            <>
              <dt>Retry of</dt>
              <dd>
                <a href={consolePaths.run(run.retryOf)} id="run-retry-of">
                  <code>{run.retryOf}</code>
                </a>
              </dd>
            </>
          ) : null}
          {revertOf ? (
            <>
              <dt>Revert of</dt>
              <dd id="run-revert-of">
                Revert of run{' '}
                <a href={consolePaths.run(revertOf)}>
                  <code>{revertOf}</code>
                </a>
              </dd>
            </>
          ) : null}
          {revert.revertedBy ? (
            <>
              <dt>Reverted by</dt>
              <dd id="run-reverted-by">
                Reverted by run{' '}
                <a href={consolePaths.run(revert.revertedBy)}>
                  <code>{revert.revertedBy}</code>
                </a>
              </dd>
            </>
          ) : null}
          <dt>Plan</dt>
          <dd id="run-plan">{progress.plan}</dd>
          <dt>Started by</dt>
          <dd>{run.initiatorName}</dd>
          <dt>Limits</dt>
          <dd>
            at most <span data-limit="maxConcurrency">{run.limits.maxConcurrency}</span> tenants at once ·{' '}
            <span data-limit="maxFailures">{run.limits.maxFailures === null ? 'no failure limit' : `pauses after ${run.limits.maxFailures} failed`}</span>
          </dd>
          <dt>Created</dt>
          <dd>
            <Time at={run.createdAt} />
          </dd>
          <dt>Started</dt>
          <dd id="run-started-at">
            <Time at={run.startedAt} />
          </dd>
          <dt>Completed</dt>
          <dd id="run-completed-at">
            <Time at={run.completedAt} />
          </dd>
        </dl>
      </div>
      <section class="card" aria-labelledby="progress-title" id="run-progress-section" hidden={!live}>
        <h2 id="progress-title">Progress</h2>
        <progress id="run-progress" max={Math.max(progress.targeted, 1)} value={progress.done} aria-labelledby="progress-title" aria-describedby="run-progress-text">
          {progress.done} of {progress.targeted}
        </progress>
        <p id="run-progress-text" aria-live="polite">
          <span data-progress="done">{progress.done}</span> of <span data-progress="targeted">{progress.targeted}</span> tenants done ·{' '}
          <span data-progress="eta">{describeEta(progress.etaSeconds, progress.status)}</span>
        </p>
        <p id="run-live-stopped" role="status" hidden>
          Live updates stopped. <a href="">Reload the page</a> (you may need to log in again).
        </p>
      </section>
      <RunCanary run={run} tenantNames={tenantNames} />
      {rendered.length > 0 ? (
        <RunControls
          run={run}
          csrfToken={viewer.csrfToken}
          rendered={rendered}
          available={progress.actions}
          attempt={attempt}
          halted={viewer.halt?.halted ?? false}
          isBreakGlass={isBreakGlass}
        />
      ) : null}
      {live && mayControl ? (
        // Shown by the live script once the run completes having changed something: the revert form comes with a reload.
        <p class="alert info" id="run-revert-available" role="status" hidden>
          This run changed {unit}. <a href="">Reload the page</a> to revert it.
        </p>
      ) : null}
      {revert.offered ? (
        <RunRevert
          runId={run.id}
          csrfToken={viewer.csrfToken}
          updated={run.summaryCounts.updated ?? 0}
          unit={unit}
          attempt={revert.attempt}
          halted={viewer.halt?.halted ?? false}
        />
      ) : null}
      <section class="card" aria-labelledby="counts-title">
        <h2 id="counts-title">Summary</h2>
        <dl class="counts">
          {countKeys(unit).filter(([key]) => key !== 'tenants' || run.summaryCounts.tenants !== undefined).map(([key, label]) => (
            <div>
              <dt>{label}</dt>
              <dd data-count={key}>{run.summaryCounts[key] ?? 0}</dd>
            </div>
          ))}
        </dl>
        <h3 id="tenant-counts-title">Tenants by status</h3>
        <dl class="counts" aria-labelledby="tenant-counts-title">
          {TENANT_COUNT_KEYS.map(([key, label]) => (
            <div>
              <dt>{label}</dt>
              <dd data-tenant-count={key}>{run.tenantCounts[key]}</dd>
            </div>
          ))}
        </dl>
      </section>
      <RunVerification run={run} unit={unit} tenantNames={tenantNames} />
      <section class="card" aria-labelledby="failures-title">
        <h2 id="failures-title">Failures</h2>
        <p id="run-no-failures" hidden={progress.failures.length > 0}>
          No tenant failed.
        </p>
        <div class="table-wrap" id="run-failures" hidden={progress.failures.length === 0}>
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Tenant</th>
                <th scope="col">Reason code</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody id="run-failure-rows">
              <FailureRows failures={progress.failures} />
            </tbody>
          </table>
        </div>
      </section>
      <RunTenants run={run} {...tenants} />
      <details class="card">
        <summary>Context</summary>
        <pre>{JSON.stringify(run.context, null, 2)}</pre>
      </details>
      <RunTimeline runId={run.id} window={timeline} live={live || awaitingVerification} />
    </Layout>
  )
}
