import { capabilities } from '../../auth/capabilities.js'
import type { ConsoleSession } from '../../auth/console-sessions.js'
import type { Actor } from '../../commands/actor.js'

/** What the console's middleware puts on a request: the operator as an actor, and their session. */
export type ConsoleEnv = {
  Variables: {
    actor: Actor
    session: ConsoleSession
    /** Set by the CSP middleware (hono's secure-headers NONCE): the nonce of this response's inline script and style. */
    secureHeadersNonce?: string
  }
}

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
  preflight: (key: string) => `${CONSOLE_BASE}/ops/runbooks/${encodeURIComponent(key)}/preflight`,
  start: (key: string) => `${CONSOLE_BASE}/ops/runbooks/${encodeURIComponent(key)}/runs`,
} as const

/** Where an operator lands (after login, or from an error page): the first page their capabilities open. */
export function landingPathFor(operatorCapabilities: readonly string[]): string {
  if (operatorCapabilities.includes(capabilities.runbooksView)) return consolePaths.runbooks
  if (operatorCapabilities.includes(capabilities.opsView)) return consolePaths.runs
  return consolePaths.runbooks
}
