import type { DomainEvent } from '../../events/index.js'
import type { LoggedEvent } from '../../store/event-log.js'

/**
 * SPEC §10: the bootstrap admin holds every capability — also the capability of a runbook a later release
 * adds. Each capability is introduced once per deployment: at that moment the bootstrap admin is granted
 * it (an operator change like any other, audited), and never again, so an administrator who later takes
 * it away is not overruled by the next start.
 */

/**
 * What the deployment knew before introductions were recorded: the release before this one offered the
 * base capabilities and the first runbook's. Fixed: it describes that release, not today's catalog.
 */
export const CAPABILITIES_BEFORE_INTRODUCTIONS: readonly string[] = Object.freeze([
  'platform.ops.view',
  'platform.runbooks.view',
  'platform.runbooks.run',
  'platform.ops.halt',
  'platform.operators.manage',
  'platform.runbooks.approve',
  'platform.runbooks.findings.lifecycle_backfill',
])

export interface CapabilityIntroductionState {
  /** null: nothing recorded yet, i.e. the capabilities the earlier release knew. */
  introduced: readonly string[] | null
}

export const initialCapabilityIntroductionState: CapabilityIntroductionState = { introduced: null }

export function evolveCapabilityIntroduction(state: CapabilityIntroductionState, logged: Pick<LoggedEvent, 'event'>): CapabilityIntroductionState {
  if (logged.event.type !== 'CapabilitiesIntroduced') return state
  const known = state.introduced ?? CAPABILITIES_BEFORE_INTRODUCTIONS
  return { introduced: [...new Set([...known, ...logged.event.data.capabilities])] }
}

export interface IntroductionDecision {
  /** For the deployment's capabilities stream (empty: nothing new). */
  events: DomainEvent[]
  /** The bootstrap admin's capabilities afterwards, when they change. */
  bootstrapAdminCapabilities: string[] | null
}

export function decideCapabilityIntroduction(
  state: CapabilityIntroductionState,
  command: { known: readonly string[]; bootstrapAdmin: { id: string; capabilities: readonly string[] } | null; at: string },
): IntroductionDecision {
  const introduced = state.introduced ?? CAPABILITIES_BEFORE_INTRODUCTIONS
  const fresh = command.known.filter((capability) => !introduced.includes(capability))
  if (fresh.length === 0) return { events: [], bootstrapAdminCapabilities: null }
  const admin = command.bootstrapAdmin
  const granted = admin ? fresh.filter((capability) => !admin.capabilities.includes(capability)) : []
  return {
    events: [{ type: 'CapabilitiesIntroduced', data: { capabilities: fresh, grantedTo: granted.length > 0 ? admin!.id : null, at: command.at } }],
    bootstrapAdminCapabilities: granted.length > 0 ? [...admin!.capabilities, ...granted] : null,
  }
}
