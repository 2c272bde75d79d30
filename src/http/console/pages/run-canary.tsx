import type { FC } from 'hono/jsx'
import type { RunDetail } from '../../../projections/queries.js'
import { Badge } from '../badges.js'
import { tenantLabel, type TenantNames } from '../tenant-reference.js'

export interface RunCanaryProps {
  run: Pick<RunDetail, 'status' | 'pause' | 'canary'>
  tenantNames: TenantNames
}

/** Whether the run is paused now for this reason (the service's own canary pauses, SPEC §11). */
function pausedFor(run: RunCanaryProps['run'], reasonCode: 'CANARY_COMPLETE' | 'CANARY_FAILED'): boolean {
  return run.status === 'paused' && run.pause?.reasonCode === reasonCode
}

/**
 * SPEC §11: a run's canary tenants, whether it goes on by itself once they succeeded, and how they fared.
 * The run pauses itself when the canary is done (CANARY_COMPLETE) or a canary tenant failed
 * (CANARY_FAILED); both notes are always rendered, hidden unless the run is paused so, for the live script
 * to show them when the pause happens while the page is open. Nothing for a run without a canary.
 */
export const RunCanary: FC<RunCanaryProps> = ({ run, tenantNames }) => {
  const canary = run.canary
  if (!canary) return null
  return (
    <section class="card" aria-labelledby="canary-title" id="run-canary">
      <h2 id="canary-title">Canary</h2>
      <p class="alert info" id="run-canary-complete" role="status" hidden={!pausedFor(run, 'CANARY_COMPLETE')}>
        <strong>The canary tenants succeeded</strong> — look at their results below, then Resume to repair the rest.
      </p>
      <p class="alert warn" id="run-canary-failed" role="alert" hidden={!pausedFor(run, 'CANARY_FAILED')}>
        <strong>A canary tenant failed</strong>, so the run paused before repairing the rest. Look at the failures below: resume only if
        the rest is safe to repair, otherwise cancel the run.
      </p>
      <dl class="facts">
        <dt>State</dt>
        <dd>
          <Badge kind="canary" id="run-canary-state" value={canary.state} />
        </dd>
        <dt>Canary tenants</dt>
        <dd>
          <ul class="parameters" id="run-canary-tenants">
            {canary.tenantIds.map((id) => (
              <li>{tenantLabel(tenantNames, id)}</li>
            ))}
          </ul>
        </dd>
        <dt>Auto-promote</dt>
        <dd id="run-canary-auto-promote">
          {canary.autoPromote ? 'Yes: the run goes on by itself once the canary succeeded' : 'No: the run waits for an operator to resume it once the canary succeeded'}
        </dd>
      </dl>
    </section>
  )
}
