import type { RunStatus } from '../../events/index.js'

export const RUN_CONTROLS = ['pause', 'resume', 'cancel', 'limits', 'retry'] as const
export type RunControl = (typeof RUN_CONTROLS)[number]

/**
 * The controls a run in this state accepts, as the decider decides them (test/commands/run pins the two
 * together): pause while queued or running, resume while paused, cancel and limits while active and not
 * being cancelled, retry once completed with failed tenants. What a console or client offers; the
 * commands still decide, and a stale offer gets their 409.
 */
export function allowedControls(run: { status: RunStatus; cancelling: boolean; failedTenants: number }): RunControl[] {
  if (run.status === 'completed') return run.failedTenants > 0 ? ['retry'] : []
  if (run.cancelling) return []
  const controls: RunControl[] = []
  if (run.status === 'queued' || run.status === 'running') controls.push('pause')
  if (run.status === 'paused') controls.push('resume')
  controls.push('cancel', 'limits')
  return controls
}
