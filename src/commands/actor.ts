import { missingCapabilities } from '../auth/capabilities.js'
import type { OperatorInitiator } from '../events/index.js'
import { ForbiddenError } from './errors.js'

/** The authenticated operator behind a command, with where the request came from (for the audit log). */
export interface Actor {
  operatorId: string
  email: string
  name: string
  capabilities: readonly string[]
  isBreakGlass: boolean
  ip: string | null
  userAgent: string | null
}

/** SPEC §6: a command the actor lacks a capability for is refused (403) and changes nothing. */
export function requireCapabilities(actor: Pick<Actor, 'capabilities'>, needed: readonly string[]): void {
  const missing = missingCapabilities(actor.capabilities, needed)
  if (missing.length > 0) throw new ForbiddenError(missing)
}

export function initiatorOf(actor: Actor): OperatorInitiator {
  return {
    kind: 'operator',
    platformUserId: actor.operatorId,
    email: actor.email,
    name: actor.name,
    isBreakGlass: actor.isBreakGlass,
    ip: actor.ip,
    userAgent: actor.userAgent,
  }
}
