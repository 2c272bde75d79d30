import { capabilities as base } from '../../auth/capabilities.js'
import { hasEmailShape, normalizeEmail } from '../../auth/email.js'
import { hiddenCharacterProblems } from '../visible-text.js'
import type { DomainEvent } from '../../events/index.js'
import { ConflictError, ForbiddenError, ValidationError, type FieldProblem } from '../errors.js'

/**
 * SPEC §10 operator administration, pure. The state is the operator as the operators table holds it
 * (operators created before administration existed have no stream); the handler loads it, and the facts
 * a rule needs beyond it (who acts, which capabilities exist, how many other managers remain).
 */
export interface OperatorState {
  id: string
  email: string
  name: string
  capabilities: readonly string[]
  isBreakGlass: boolean
  disabled: boolean
}

export interface OperatorChanges {
  name?: string | undefined
  capabilities?: readonly string[] | undefined
  isBreakGlass?: boolean | undefined
  disabled?: boolean | undefined
}

export const PASSWORD_MIN = 12
export const PASSWORD_MAX = 200

/** A new password (SPEC §10): 12 to 200 characters and not the operator's email. */
export function passwordProblems(password: string, email: string, field = 'password'): FieldProblem[] {
  const length = [...password].length
  if (length < PASSWORD_MIN || length > PASSWORD_MAX) {
    return [{ field, message: `must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters (got ${length})` }]
  }
  if (password.trim().toLowerCase() === email.trim().toLowerCase()) return [{ field, message: 'must not be the email address' }]
  return []
}

function capabilityProblems(wanted: readonly string[], known: readonly string[]): FieldProblem[] {
  const unknown = wanted.filter((capability) => !known.includes(capability))
  return unknown.length > 0 ? [{ field: 'capabilities', message: `unknown capabilities: ${unknown.join(', ')}` }] : []
}

function nameProblems(name: string | undefined): FieldProblem[] {
  if (name === undefined) return []
  const length = [...name.trim()].length
  if (length < 1 || length > 200) return [{ field: 'name', message: 'must be 1 to 200 characters' }]
  // As stored: trimmed (a blank typed around it is not part of it).
  return hiddenCharacterProblems('name', name.trim(), 'name')
}

export function decideCreateOperator(command: {
  id: string
  email: string
  name: string
  password: string
  capabilities: readonly string[]
  isBreakGlass: boolean
  knownCapabilities: readonly string[]
  at: string
}): DomainEvent[] {
  const email = normalizeEmail(command.email)
  const problems = [
    ...(hasEmailShape(email) ? hiddenCharacterProblems('email', email, 'email') : [{ field: 'email', message: 'must be an email address' }]),
    ...nameProblems(command.name),
    ...passwordProblems(command.password, email),
    ...capabilityProblems(command.capabilities, command.knownCapabilities),
  ]
  if (problems.length > 0) throw new ValidationError(problems)
  return [
    {
      type: 'OperatorCreated',
      data: {
        operatorId: command.id,
        email,
        name: command.name.trim(),
        capabilities: [...new Set(command.capabilities)],
        isBreakGlass: command.isBreakGlass,
        createdAt: command.at,
      },
    },
  ]
}

/**
 * Nobody changes their own capabilities or disables themselves (403); the last enabled operator holding
 * `platform.operators.manage` cannot lose it or be disabled (409); unknown capabilities are 422. Only what
 * changes is recorded, one event per kind of change (each its own audit action).
 */
export function decideUpdateOperator(
  state: OperatorState,
  command: { changes: OperatorChanges; actorId: string; knownCapabilities: readonly string[]; otherEnabledManagers: number; at: string },
): DomainEvent[] {
  const { changes } = command
  const self = command.actorId === state.id
  const problems = [
    // Only a name that changes is judged: a form sends the name whole, and one stored before a rule came is kept.
    ...nameProblems(changes.name !== undefined && changes.name.trim() !== state.name ? changes.name : undefined),
    ...(changes.capabilities ? capabilityProblems(changes.capabilities, command.knownCapabilities) : []),
  ]
  if (problems.length > 0) throw new ValidationError(problems)
  const capabilities = changes.capabilities ? [...new Set(changes.capabilities)] : [...state.capabilities]
  const capabilitiesChange = changes.capabilities !== undefined && !sameSet(capabilities, state.capabilities)
  const disabledChange = changes.disabled !== undefined && changes.disabled !== state.disabled
  if (self && capabilitiesChange) throw new ForbiddenError([], 'nobody changes their own capabilities')
  if (self && disabledChange && changes.disabled) throw new ForbiddenError([], 'nobody disables themselves')

  const wasManager = state.capabilities.includes(base.operatorsManage) && !state.disabled
  const staysManager = capabilities.includes(base.operatorsManage) && !(changes.disabled ?? state.disabled)
  if (wasManager && !staysManager && command.otherEnabledManagers === 0) {
    throw new ConflictError(`the last enabled operator holding ${base.operatorsManage} cannot lose it or be disabled`)
  }

  const events: DomainEvent[] = []
  const { at } = command
  const name = changes.name?.trim()
  const renamed = name !== undefined && name !== state.name
  const breakGlass = changes.isBreakGlass !== undefined && changes.isBreakGlass !== state.isBreakGlass
  if (renamed || breakGlass) {
    events.push({
      type: 'OperatorUpdated',
      data: {
        operatorId: state.id,
        changes: { ...(renamed ? { name } : {}), ...(breakGlass ? { isBreakGlass: changes.isBreakGlass } : {}) },
        at,
      },
    })
  }
  if (capabilitiesChange) {
    events.push({ type: 'OperatorCapabilitiesChanged', data: { operatorId: state.id, capabilities, previous: [...state.capabilities], at } })
  }
  if (disabledChange) events.push({ type: changes.disabled ? 'OperatorDisabled' : 'OperatorEnabled', data: { operatorId: state.id, at } })
  return events
}

export function decideSetPassword(state: OperatorState, command: { password: string; by: 'self' | 'admin'; at: string }): DomainEvent[] {
  const problems = passwordProblems(command.password, state.email)
  if (problems.length > 0) throw new ValidationError(problems)
  return [{ type: 'OperatorPasswordChanged', data: { operatorId: state.id, by: command.by, at: command.at } }]
}

/** The operator after the events (what the operators table is set to in the same transaction). */
export function evolveOperator(state: OperatorState, event: DomainEvent): OperatorState {
  switch (event.type) {
    case 'OperatorUpdated':
      return { ...state, ...(event.data.changes.name !== undefined ? { name: event.data.changes.name } : {}), ...(event.data.changes.isBreakGlass !== undefined ? { isBreakGlass: event.data.changes.isBreakGlass } : {}) }
    case 'OperatorCapabilitiesChanged':
      return { ...state, capabilities: event.data.capabilities }
    case 'OperatorDisabled':
      return { ...state, disabled: true }
    case 'OperatorEnabled':
      return { ...state, disabled: false }
    default:
      return state
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x))
}
