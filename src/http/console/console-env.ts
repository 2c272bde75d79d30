import { capabilities } from '../../auth/capabilities.js'
import type { ConsoleSession } from '../../auth/console-sessions.js'
import type { Actor } from '../../commands/actor.js'
import type { HaltView } from '../../commands/halt.js'

/** What the console's middleware puts on a request: the operator as an actor, and their session. */
export type ConsoleEnv = {
  Variables: {
    actor: Actor
    session: ConsoleSession
    /** Set by the CSP middleware (hono's secure-headers NONCE): the nonce of this response's inline script and style. */
    secureHeadersNonce?: string
    /** The deployment's halt, read once per page request (see console-routes.tsx); unset for script endpoints. */
    halt?: HaltView
    /** Set by `holdLiveStreamSlot` (live-stream-slots.ts): gives the session's live stream slot back; idempotent. */
    releaseStreamSlot: () => void
  }
}

/** The run page's control forms (SPEC §9), in the order the page shows them: the run controls themselves. */
export { RUN_CONTROLS as RUN_ACTIONS, type RunControl as RunAction } from '../../commands/run/allowed-controls.js'
import type { RunControl as RunAction } from '../../commands/run/allowed-controls.js'

/** The console's mount point; every console path and cookie lives under it. */
export const CONSOLE_BASE = '/system'
export const consolePaths = {
  login: `${CONSOLE_BASE}/login`,
  logout: `${CONSOLE_BASE}/logout`,
  runbooks: `${CONSOLE_BASE}/ops/runbooks`,
  tenants: `${CONSOLE_BASE}/ops/tenants`,
  runs: `${CONSOLE_BASE}/ops/runs`,
  run: (id: string) => `${CONSOLE_BASE}/ops/runs/${encodeURIComponent(id)}`,
  runStream: (id: string) => `${CONSOLE_BASE}/ops/runs/${encodeURIComponent(id)}/events/stream`,
  /** SPEC §9 run control: one form post each (`pause`, `resume`, `cancel`, `limits`, `retry`). */
  runControl: (id: string, action: RunAction) => `${CONSOLE_BASE}/ops/runs/${encodeURIComponent(id)}/${action}`,
  /** SPEC §11: revert a completed run (a new run puts back what it changed). */
  revertRun: (id: string) => `${CONSOLE_BASE}/ops/runs/${encodeURIComponent(id)}/revert`,
  /** SPEC §10 four eyes: approve or reject a run awaiting approval. */
  approveRun: (id: string) => `${CONSOLE_BASE}/ops/runs/${encodeURIComponent(id)}/approve`,
  rejectRun: (id: string) => `${CONSOLE_BASE}/ops/runs/${encodeURIComponent(id)}/reject`,
  /** SPEC §10 operator administration (`platform.operators.manage`). */
  operators: `${CONSOLE_BASE}/ops/operators`,
  operator: (id: string) => `${CONSOLE_BASE}/ops/operators/${encodeURIComponent(id)}`,
  operatorAction: (id: string, action: 'disable' | 'enable' | 'password') => `${CONSOLE_BASE}/ops/operators/${encodeURIComponent(id)}/${action}`,
  approvalSettings: `${CONSOLE_BASE}/ops/operators/approvals`,
  /** The signed-in operator's own account: who they are, their own password. */
  account: `${CONSOLE_BASE}/ops/me`,
  accountPassword: `${CONSOLE_BASE}/ops/me/password`,
  halt: `${CONSOLE_BASE}/ops/halt`,
  /** SPEC §12: the audit log and its hash chain's state (`platform.ops.view`). */
  audit: `${CONSOLE_BASE}/ops/audit`,
  /** SPEC §5/§12: alerts raised, their deliveries, the console's inbox and the destinations. */
  alerts: `${CONSOLE_BASE}/ops/alerts`,
  alertDestinations: `${CONSOLE_BASE}/ops/alerts/destinations`,
  alertDestinationRemove: (id: string) => `${CONSOLE_BASE}/ops/alerts/destinations/${encodeURIComponent(id)}/remove`,
  liftHalt: `${CONSOLE_BASE}/ops/halt/lift`,
  preflight: (key: string) => `${CONSOLE_BASE}/ops/runbooks/${encodeURIComponent(key)}/preflight`,
  /** SPEC §11: a preview's per-tenant plan (JSON, for the runbooks page's script); `{preflightId}` is filled in by the script. */
  preflightTenants: (preflightId: string) => `${CONSOLE_BASE}/ops/preflights/${encodeURIComponent(preflightId)}/tenants`,
  start: (key: string) => `${CONSOLE_BASE}/ops/runbooks/${encodeURIComponent(key)}/runs`,
} as const

/** Where an operator lands (after login, or from an error page): the first page their capabilities open. */
export function landingPathFor(operatorCapabilities: readonly string[]): string {
  if (operatorCapabilities.includes(capabilities.runbooksView)) return consolePaths.runbooks
  if (operatorCapabilities.includes(capabilities.opsView)) return consolePaths.runs
  return consolePaths.runbooks
}
