import { describe, expect, it } from 'vitest'
import { ConflictError, ForbiddenError, ValidationError } from '../../../src/commands/errors.js'
import { decideCreateOperator, decideSetPassword, decideUpdateOperator, evolveOperator, passwordProblems, type OperatorState } from '../../../src/commands/operator/operator-decider.js'

const at = '2026-12-01T10:00:00.000Z'
const known = ['platform.ops.view', 'platform.runbooks.view', 'platform.operators.manage']
const manager: OperatorState = { id: 'op-1', email: 'ada@ops.test', name: 'Ada', capabilities: ['platform.operators.manage', 'platform.ops.view'], isBreakGlass: false, disabled: false }
const update = (state: OperatorState, changes: object, actorId = 'op-admin', otherEnabledManagers = 1) =>
  decideUpdateOperator(state, { changes, actorId, knownCapabilities: known, otherEnabledManagers, at })
const thrown = (fn: () => unknown) => {
  try {
    fn()
  } catch (error) {
    return error
  }
  return undefined
}

describe('operator decider (SPEC §10)', () => {
  it('creates an operator with known capabilities, a lower-cased email and no password in the event', () => {
    const [event] = decideCreateOperator({ id: 'op-9', email: ' Bo@Ops.Test ', name: ' Bo ', password: 'a long enough secret', capabilities: ['platform.ops.view', 'platform.ops.view'], isBreakGlass: true, knownCapabilities: known, at })
    expect(event).toEqual({ type: 'OperatorCreated', data: { operatorId: 'op-9', email: 'bo@ops.test', name: 'Bo', capabilities: ['platform.ops.view'], isBreakGlass: true, createdAt: at } })
    expect(JSON.stringify(event)).not.toContain('a long enough secret')
    const bad = thrown(() => decideCreateOperator({ id: 'x', email: 'nope', name: '', password: 'short', capabilities: ['root'], isBreakGlass: false, knownCapabilities: known, at }))
    expect((bad as ValidationError).fields.map((f) => f.field).sort()).toEqual(['capabilities', 'email', 'name', 'password'])
  })

  it('refuses an email or a name with characters that do not show: a lookalike of another operator cannot be made', () => {
    const create = (email: string, name = 'Bo') => () =>
      decideCreateOperator({ id: 'x', email, name, password: 'a long enough secret', capabilities: [], isBreakGlass: false, knownCapabilities: known, at })
    for (const email of ['admin\u200b@demo.local', 'admin\u200d@demo.local', 'adm\u202ein@demo.local', 'esc\u001b[2J@ops.test', 'a\u00ad@ops.test']) {
      expect((thrown(create(email)) as ValidationError).fields, JSON.stringify(email)).toEqual([{ field: 'email', message: 'must not contain control, bidirectional or invisible characters' }])
    }
    for (const name of ['Bootstrap\u200b administrator', 'Esc\u001b[31mRED\u0007', 'Bo\nBo', 'Bo\u2028Bo', 'Bo\u{e0041}']) {
      expect((thrown(create('bo@ops.test', name)) as ValidationError).fields.map((f) => f.field), JSON.stringify(name)).toEqual(['name'])
    }
    expect(create('bo@ops.test', 'Zoë Müller-Łukasz')()).toHaveLength(1)
    expect(create('bo@ops.test', 'Bo\t')()).toHaveLength(1)
  })

  it('judges a name only when it changes: an operator named before the rule keeps it through other changes', () => {
    const named: OperatorState = { ...manager, name: 'Old\u00adName' }
    expect(update(named, { name: 'Old\u00adName', capabilities: ['platform.ops.view', 'platform.operators.manage', 'platform.runbooks.view'] }).map((e) => e.type)).toEqual(['OperatorCapabilitiesChanged'])
    expect((thrown(() => update(named, { name: 'New\u200bName' })) as ValidationError).fields.map((f) => f.field)).toEqual(['name'])
  })

  it('passwords have 12 to 200 characters and are not the email', () => {
    expect(passwordProblems('x'.repeat(11), 'a@b.c')).toHaveLength(1)
    expect(passwordProblems('x'.repeat(201), 'a@b.c')).toHaveLength(1)
    expect(passwordProblems('x'.repeat(12), 'a@b.c')).toEqual([])
    expect(passwordProblems('Longer@Email.test', 'longer@email.test')).toHaveLength(1)
    expect(decideSetPassword(manager, { password: 'a long enough secret', by: 'admin', at })).toEqual([{ type: 'OperatorPasswordChanged', data: { operatorId: 'op-1', by: 'admin', at } }])
  })

  it('records one event per kind of change, nothing for no change', () => {
    const events = update(manager, { name: 'Ada L.', capabilities: ['platform.operators.manage'], disabled: false, isBreakGlass: true })
    expect(events.map((e) => e.type)).toEqual(['OperatorUpdated', 'OperatorCapabilitiesChanged'])
    expect(events.reduce(evolveOperator, manager)).toMatchObject({ name: 'Ada L.', isBreakGlass: true, capabilities: ['platform.operators.manage'] })
    expect(update(manager, { name: 'Ada', capabilities: ['platform.ops.view', 'platform.operators.manage'] })).toEqual([])
    expect(update(manager, { disabled: true }).map((e) => e.type)).toEqual(['OperatorDisabled'])
  })

  it('nobody changes their own capabilities or disables themselves (403)', () => {
    expect(thrown(() => update(manager, { capabilities: ['platform.ops.view'] }, 'op-1'))).toBeInstanceOf(ForbiddenError)
    expect(thrown(() => update(manager, { disabled: true }, 'op-1'))).toBeInstanceOf(ForbiddenError)
    expect(update(manager, { name: 'Me myself' }, 'op-1').map((e) => e.type)).toEqual(['OperatorUpdated'])
  })

  it('the last enabled manager cannot lose the capability or be disabled (409); with another one left, they can', () => {
    expect(thrown(() => update(manager, { capabilities: ['platform.ops.view'] }, 'op-admin', 0))).toBeInstanceOf(ConflictError)
    expect(thrown(() => update(manager, { disabled: true }, 'op-admin', 0))).toBeInstanceOf(ConflictError)
    expect(update(manager, { disabled: true }, 'op-admin', 1).map((e) => e.type)).toEqual(['OperatorDisabled'])
    expect(thrown(() => update(manager, { capabilities: ['platform.unknown'] }))).toBeInstanceOf(ValidationError)
  })
})
