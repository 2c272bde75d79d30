import type { DomainEvent, RunReason } from '../../events/index.js'
import type { LoggedEvent } from '../../store/event-log.js'
import { InvalidTransitionError } from '../errors.js'
import type { Decider } from '../handle-command.js'

export type HaltEvent = Extract<DomainEvent, { type: 'HaltEngaged' | 'HaltLifted' }>

export type HaltState = { halted: false } | { halted: true; reason: RunReason; at: string }

export type HaltCommand = { type: 'EngageHalt'; reason: RunReason; at: string } | { type: 'LiftHalt'; reason: RunReason; at: string }

export const initialHaltState = (): HaltState => ({ halted: false })

export function evolveHalt(state: HaltState, logged: Pick<LoggedEvent, 'event'>): HaltState {
  const event = logged.event
  switch (event.type) {
    case 'HaltEngaged':
      return { halted: true, reason: event.data.reason, at: event.data.engagedAt }
    case 'HaltLifted':
      return { halted: false }
    default:
      throw new Error(`the halt stream holds ${event.type}: the stream is corrupt`)
  }
}

/** SPEC §9: halting a halted deployment, or lifting a halt that is not there, is a conflict. */
export function decideHalt(command: HaltCommand, state: HaltState): DomainEvent[] {
  switch (command.type) {
    case 'EngageHalt':
      if (state.halted) throw new InvalidTransitionError('halt', 'halted', 'the deployment')
      return [{ type: 'HaltEngaged', data: { reason: command.reason, engagedAt: command.at } }]
    case 'LiftHalt':
      if (!state.halted) throw new InvalidTransitionError('lifting the halt', 'not halted', 'the deployment')
      return [{ type: 'HaltLifted', data: { reason: command.reason, liftedAt: command.at } }]
  }
}

export const haltDecider: Decider<HaltState, HaltCommand> = {
  initialState: initialHaltState,
  evolve: evolveHalt,
  decide: decideHalt,
}
