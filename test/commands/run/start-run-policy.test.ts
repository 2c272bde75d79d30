import { describe, expect, it } from 'vitest'
import { ForbiddenError, ValidationError } from '../../../src/commands/errors.js'
import {
  checkStartRunPolicy,
  REASON_CODES,
  RUN_CAPABILITY,
  type StartRunRequest,
} from '../../../src/commands/run/start-run-policy.js'
import { thrown } from './run-fixtures.js'

const KEY = 'findings.lifecycle.backfill'
const RUNBOOK_CAPABILITY = 'platform.runbooks.findings.lifecycle_backfill'
const GOOD_REASON = { code: 'DATA_REPAIR', text: 'repair lifecycle fields after import' }

function request(overrides: Partial<StartRunRequest> = {}): StartRunRequest {
  return {
    runbookKey: KEY,
    runbookCapability: RUNBOOK_CAPABILITY,
    scope: 'single_tenant',
    tenantId: 101,
    confirmation: KEY,
    reason: null,
    operatorCapabilities: [RUN_CAPABILITY, RUNBOOK_CAPABILITY],
    operatorIsBreakGlass: false,
    ...overrides,
  }
}

/** The fields of the ValidationError the policy throws (fails the test when it throws something else). */
function problemFields(overrides: Partial<StartRunRequest>): string[] {
  const error = thrown(() => checkStartRunPolicy(request(overrides)))
  if (error === undefined) return []
  expect(error).toBeInstanceOf(ValidationError)
  return (error as ValidationError).fields.map((f) => f.field)
}

describe('start-run policy: capabilities (403)', () => {
  it('requires platform.runbooks.run and the runbook capability, naming what is missing', () => {
    const cases: Array<[string[], string[]]> = [
      [[RUNBOOK_CAPABILITY], [RUN_CAPABILITY]],
      [[RUN_CAPABILITY, 'platform.runbooks.view'], [RUNBOOK_CAPABILITY]],
      [[], [RUN_CAPABILITY, RUNBOOK_CAPABILITY]],
    ]
    for (const [held, missing] of cases) {
      const error = thrown(() => checkStartRunPolicy(request({ operatorCapabilities: held })))
      expect(error).toBeInstanceOf(ForbiddenError)
      expect((error as ForbiddenError).missingCapabilities).toEqual(missing)
    }
  })

  it('answers 403 before looking at the values (a forbidden request learns nothing about them)', () => {
    const error = thrown(() => checkStartRunPolicy(request({ operatorCapabilities: [], confirmation: 'nope', tenantId: null })))
    expect(error).toBeInstanceOf(ForbiddenError)
  })

  it('accepts a complete request', () => {
    expect(thrown(() => checkStartRunPolicy(request()))).toBeUndefined()
  })
})

describe('start-run policy: typed confirmation', () => {
  it('must equal the runbook key exactly', () => {
    for (const confirmation of ['', 'findings', KEY.toUpperCase(), ` ${KEY}`, `${KEY} `, 'platform.runbooks.findings.lifecycle_backfill']) {
      expect(problemFields({ confirmation })).toEqual(['confirmation'])
    }
  })
})

describe('start-run policy: reason', () => {
  it('is optional for a single-tenant run by a normal operator', () => {
    expect(problemFields({ reason: null })).toEqual([])
  })

  it('is required for all_tenants runs and for break-glass operators', () => {
    expect(problemFields({ scope: 'all_tenants', tenantId: null, reason: null })).toEqual(['reason'])
    expect(problemFields({ operatorIsBreakGlass: true, reason: null })).toEqual(['reason'])
    expect(problemFields({ scope: 'all_tenants', tenantId: null, reason: GOOD_REASON })).toEqual([])
    expect(problemFields({ operatorIsBreakGlass: true, reason: GOOD_REASON })).toEqual([])
  })

  it('has a code from the enum, also when the reason was optional', () => {
    for (const code of REASON_CODES) expect(problemFields({ reason: { ...GOOD_REASON, code } })).toEqual([])
    expect([...REASON_CODES].sort()).toEqual(['DATA_REPAIR', 'INCIDENT', 'SECURITY', 'SUPPORT'])
    for (const code of ['OTHER', 'data_repair', '', 'DATA_REPAIR ']) {
      expect(problemFields({ reason: { ...GOOD_REASON, code } })).toEqual(['reason.code'])
    }
  })

  it('has a text of 10 to 500 characters (boundaries 9, 10, 500, 501)', () => {
    const withText = (length: number) => problemFields({ scope: 'all_tenants', tenantId: null, reason: { code: 'INCIDENT', text: 'x'.repeat(length) } })
    expect(withText(9)).toEqual(['reason.text'])
    expect(withText(10)).toEqual([])
    expect(withText(500)).toEqual([])
    expect(withText(501)).toEqual(['reason.text'])
    expect(withText(0)).toEqual(['reason.text'])
  })

  it('shows what it says: no control, bidirectional or zero-width character; line breaks and tabs allowed', () => {
    const withText = (text: string) => problemFields({ reason: { code: 'INCIDENT', text } })
    for (const hidden of ['\u202e', '\u200b', '\u2066', '\u200f', '\u001b', '\u0007', '\u0085', '\ufeff', '\u{e0041}', '\u034f']) {
      expect(withText(`restore the ${hidden}findings`), JSON.stringify(hidden)).toEqual(['reason.text'])
    }
    expect(withText('restore the findings\nafter the import\tfailed\r\n')).toEqual([])
    expect(withText('restore the findings 👩‍👩‍👧 (joiners are fine)')).toEqual([])
  })

  it('does not let blanks make up the minimum length', () => {
    expect(problemFields({ reason: { code: 'INCIDENT', text: '   abc    ' } })).toEqual(['reason.text'])
  })
})

describe('start-run policy: target by scope', () => {
  it('requires a tenantId for single_tenant and forbids one for all_tenants', () => {
    expect(problemFields({ scope: 'single_tenant', tenantId: null })).toEqual(['tenantId'])
    expect(problemFields({ scope: 'all_tenants', tenantId: 101, reason: GOOD_REASON })).toEqual(['tenantId'])
    expect(problemFields({ scope: 'all_tenants', tenantId: null, reason: GOOD_REASON })).toEqual([])
  })

  it('reports every problem of a request at once', () => {
    const fields = problemFields({
      scope: 'all_tenants',
      tenantId: 7,
      confirmation: 'yes',
      reason: { code: 'BECAUSE', text: 'short' },
    })
    expect(fields.sort()).toEqual(['confirmation', 'reason.code', 'reason.text', 'tenantId'])
  })
})
