import type { OperatorInitiator } from '../events/index.js'

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
