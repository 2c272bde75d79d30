import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ActiveRunExistsError, ValidationError } from '../../src/commands/errors.js'
import { preflightRunbook } from '../../src/commands/preflight.js'
import { validateParameters } from '../../src/commands/runbook-parameters.js'
import { startRun, type StartRunInput } from '../../src/commands/start-run.js'
import { streams } from '../../src/events/index.js'
import { findingsLifecycleBackfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import { findingsSlaRecalculate } from '../../src/runbooks/findings-sla-recalculate.js'
import { testCatalog } from '../support/catalog.js'
import { databaseFlavours } from '../support/databases.js'
import { openCommandDatabase, operator, TENANTS, type CommandDatabase } from './command-database.js'

const SLA = findingsSlaRecalculate
const DEFAULT_DAYS = { critical: 3, high: 7, medium: 30, low: 90 }

function fieldsOf(thrower: () => unknown): string[] {
  try {
    thrower()
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError)
    return (error as ValidationError).fields.map((f) => f.field)
  }
  throw new Error('expected a ValidationError')
}

describe('validateParameters (SPEC §13)', () => {
  it('fills in every default when nothing, null or {} is given', () => {
    for (const raw of [undefined, null, {}]) expect(validateParameters(SLA, raw)).toEqual({ slaDays: DEFAULT_DAYS })
    expect(validateParameters(findingsLifecycleBackfill, undefined)).toEqual({})
  })

  it('takes any subset of the four day counts, the others default', () => {
    expect(validateParameters(SLA, { slaDays: { critical: 1 } })).toEqual({ slaDays: { ...DEFAULT_DAYS, critical: 1 } })
    expect(validateParameters(SLA, { slaDays: { low: 365, medium: 1 } })).toEqual({ slaDays: { ...DEFAULT_DAYS, low: 365, medium: 1 } })
  })

  it('names each broken value as parameters.<path>', () => {
    expect(fieldsOf(() => validateParameters(SLA, { slaDays: { critical: 0 } }))).toEqual(['parameters.slaDays.critical'])
    expect(fieldsOf(() => validateParameters(SLA, { slaDays: { high: 366 } }))).toEqual(['parameters.slaDays.high'])
    expect(fieldsOf(() => validateParameters(SLA, { slaDays: { medium: 2.5 } }))).toEqual(['parameters.slaDays.medium'])
    expect(fieldsOf(() => validateParameters(SLA, { slaDays: { low: '9' } }))).toEqual(['parameters.slaDays.low'])
    expect(fieldsOf(() => validateParameters(SLA, { slaDays: 3 }))).toEqual(['parameters.slaDays'])
    expect(fieldsOf(() => validateParameters(SLA, { slaDays: { critical: 0, low: 0 } }))).toEqual([
      'parameters.slaDays.critical',
      'parameters.slaDays.low',
    ])
  })

  it('answers a flood of unknown keys with at most 50 problems and a count of the rest', () => {
    const flood = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`p${i}`, i]))
    const fields = fieldsOf(() => validateParameters(SLA, flood))
    expect(fields).toHaveLength(51)
    expect(fields.at(-1)).toBe('parameters')
  })

  it('refuses a parameter the runbook does not have, naming it', () => {
    expect(fieldsOf(() => validateParameters(SLA, { slaDays: { info: 5 } }))).toEqual(['parameters.slaDays.info'])
    expect(fieldsOf(() => validateParameters(SLA, { days: 5 }))).toEqual(['parameters.days'])
    expect(fieldsOf(() => validateParameters(findingsLifecycleBackfill, { dryRun: true }))).toEqual(['parameters.dryRun'])
    expect(fieldsOf(() => validateParameters(SLA, [1]))).toEqual(['parameters'])
  })

  it('says what is wrong in the API’s words', () => {
    expect.assertions(1)
    try {
      validateParameters(SLA, { slaDays: { critical: 0, high: 1.5 } })
    } catch (error) {
      expect((error as ValidationError).fields).toEqual([
        { field: 'parameters.slaDays.critical', message: 'must be at least 1' },
        { field: 'parameters.slaDays.high', message: 'must be a whole number' },
      ])
    }
  })
})

for (const flavour of databaseFlavours()) {
  describe(`runs with parameters on ${flavour.name}`, () => {
    let env: CommandDatabase
    const deps = () => ({ sql: env.db.sql, log: env.log, catalog: testCatalog })
    const slaOperator = () => operator({ capabilities: ['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.run', SLA.requiredCapability] })
    const start = (tenantId: number, parameters: unknown): StartRunInput => ({
      runbookKey: SLA.key,
      scope: 'single_tenant',
      tenantId,
      confirmation: SLA.key,
      reason: null,
      source: 'cli',
      parameters,
    })

    beforeAll(async () => {
      env = await openCommandDatabase(flavour.open)
    })
    afterAll(async () => {
      await env?.close()
    })

    async function requestedParameters(runId: string) {
      const { events } = await env.log.read(streams.run(runId))
      const first = events[0]!.event
      if (first.type !== 'RunRequested') throw new Error('no RunRequested')
      return { parameters: first.data.parameters, hash: first.data.runIdentityHash }
    }

    it('records the parameters as validated, defaults filled in, and preflights with them', async () => {
      const preview = await preflightRunbook(deps(), slaOperator(), {
        runbookKey: SLA.key,
        scope: 'single_tenant',
        tenantId: TENANTS.alpha.id,
        parameters: { slaDays: { critical: 1 } },
      })
      const started = await startRun(deps(), slaOperator(), start(TENANTS.alpha.id, { slaDays: { critical: 1 } }))
      const { parameters } = await requestedParameters(started.runId)
      expect(parameters).toEqual({ slaDays: { ...DEFAULT_DAYS, critical: 1 } })
      const { events } = await env.log.read(streams.run(started.runId))
      const request = events[0]!.event
      expect(request.type === 'RunRequested' && request.data.preflight?.affectedCount).toBe(preview.affectedCount)
    })

    it('makes parameters part of the identity: the same values are 409, other values another run', async () => {
      const first = await startRun(deps(), slaOperator(), start(TENANTS.beta.id, { slaDays: { high: 10, critical: 2 } }))
      // The same values, in another order and with a default spelled out, are the same run.
      const same = await startRun(deps(), slaOperator(), start(TENANTS.beta.id, { slaDays: { critical: 2, high: 10, low: 90 } })).catch((e: unknown) => e)
      expect(same).toBeInstanceOf(ActiveRunExistsError)
      expect((same as ActiveRunExistsError).runId).toBe(first.runId)
      const other = await startRun(deps(), slaOperator(), start(TENANTS.beta.id, { slaDays: { high: 11, critical: 2 } }))
      expect(other.runId).not.toBe(first.runId)
      expect((await requestedParameters(other.runId)).hash).not.toBe((await requestedParameters(first.runId)).hash)
    })

    it('refuses an invalid parameter with parameters.<name> and appends nothing', async () => {
      const before = await env.eventCount()
      const error = await startRun(deps(), slaOperator(), start(TENANTS.gamma.id, { slaDays: { critical: 0 } })).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ValidationError)
      expect((error as ValidationError).fields.map((f) => f.field)).toEqual(['parameters.slaDays.critical'])
      const preview = await preflightRunbook(deps(), slaOperator(), {
        runbookKey: SLA.key,
        scope: 'single_tenant',
        tenantId: TENANTS.gamma.id,
        parameters: { slaDays: { bogus: 1 } },
      }).catch((e: unknown) => e)
      expect((preview as ValidationError).fields.map((f) => f.field)).toEqual(['parameters.slaDays.bogus'])
      expect(await env.eventCount()).toBe(before)
    })
  })
}
