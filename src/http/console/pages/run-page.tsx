import type { FC } from 'hono/jsx'
import type { RunDetail } from '../../../projections/queries.js'
import { Badge } from '../badges.js'
import { consolePaths } from '../console-env.js'
import { Layout, type Viewer } from '../layout.js'
import { describeEta, type RunProgress } from '../run-progress.js'
import { runScript } from '../scripts/run-script.js'
import { tenantLabel, type TenantNames } from '../tenant-reference.js'

export interface RawEvent {
  type: string
  version: number
  revision: number
  recordedAt: string
  data: unknown
  metadata: unknown
}

export interface RunPageProps {
  nonce: string
  viewer: Viewer
  run: RunDetail
  progress: RunProgress
  runbookLabel: string | null
  events: RawEvent[]
  tenantNames: TenantNames
}

/** The summary keys SPEC §3 allows, in reading order. */
const COUNT_KEYS = [
  ['total', 'Findings scanned'],
  ['processed', 'Processed'],
  ['updated', 'Updated'],
  ['skipped', 'Skipped'],
  ['failed', 'Failed tenants'],
  ['tenants', 'Tenants targeted'],
] as const

const Time: FC<{ at: string | null }> = ({ at }) => (at ? <time datetime={at}>{at.replace('T', ' ').slice(0, 19)} UTC</time> : <span>—</span>)

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

export const RunPage: FC<RunPageProps> = ({ nonce, viewer, run, progress, runbookLabel, events, tenantNames }) => {
  const live = run.status !== 'completed'
  return (
    <Layout title={`Run ${run.id}`} nonce={nonce} viewer={viewer} current="runs" script={live ? runScript : undefined}>
      <p>
        <a href={consolePaths.runs}>← All runs</a>
      </p>
      <h1>
        {runbookLabel ?? run.type} <span class="muted">run</span>
      </h1>
      <div class="card" id="run" data-stream-url={consolePaths.runStream(run.id)} data-live={live ? 'true' : 'false'}>
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
          <dt>Started by</dt>
          <dd>{run.initiatorName}</dd>
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
        <progress id="run-progress" max={progress.targeted} value={progress.done} aria-labelledby="progress-title" aria-describedby="run-progress-text">
          {progress.done} of {progress.targeted}
        </progress>
        <p id="run-progress-text" aria-live="polite">
          <span data-progress="done">{progress.done}</span> of <span data-progress="targeted">{progress.targeted}</span> tenants done ·{' '}
          <span data-progress="eta">{describeEta(progress.etaSeconds)}</span>
        </p>
        <p id="run-live-stopped" role="status" hidden>
          Live updates stopped. <a href="">Reload the page</a> (you may need to log in again).
        </p>
      </section>
      <section class="card" aria-labelledby="counts-title">
        <h2 id="counts-title">Summary</h2>
        <dl class="counts">
          {COUNT_KEYS.filter(([key]) => key !== 'tenants' || run.summaryCounts.tenants !== undefined).map(([key, label]) => (
            <div>
              <dt>{label}</dt>
              <dd data-count={key}>{run.summaryCounts[key] ?? 0}</dd>
            </div>
          ))}
        </dl>
      </section>
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
      <details class="card">
        <summary>Context</summary>
        <pre>{JSON.stringify(run.context, null, 2)}</pre>
      </details>
      <details class="card">
        <summary>Raw events ({events.length})</summary>
        {live ? <p class="hint">As of page load; reload to see events recorded since.</p> : null}
        <ol>
          {events.map((event) => (
            <li>
              <p>
                <strong>{event.type}</strong> v{event.version} · revision {event.revision} · <Time at={event.recordedAt} />
              </p>
              <pre>{JSON.stringify({ data: event.data, metadata: event.metadata }, null, 2)}</pre>
            </li>
          ))}
        </ol>
      </details>
    </Layout>
  )
}
