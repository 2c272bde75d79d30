import type { Decider } from '../handle-command.js'
import { decideRun, type RunCommand } from './run-decider.js'
import { evolveRun, initialRunState, type RunState } from './run-state.js'

export const runDecider: Decider<RunState, RunCommand> = {
  initialState: initialRunState,
  evolve: evolveRun,
  decide: decideRun,
}
