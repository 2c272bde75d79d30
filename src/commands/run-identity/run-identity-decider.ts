import type { Decider } from '../handle-command.js'
import { decideRunIdentity, evolveRunIdentity, type ClaimCommand, type RunIdentityState } from './run-identity.js'

export const runIdentityDecider: Decider<RunIdentityState, ClaimCommand> = {
  initialState: () => ({ lastClaim: null }),
  evolve: evolveRunIdentity,
  decide: decideRunIdentity,
}
