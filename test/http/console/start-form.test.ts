import { z } from 'zod'
import { describe, expect, it } from 'vitest'
import { findingsSlaRecalculate } from '../../../src/runbooks/findings-sla-recalculate.js'
import { findingsLifecycleBackfill } from '../../../src/runbooks/findings-lifecycle-backfill.js'
import { parameterForm, parameterFormOf, parameterLeaves, runParameters } from '../../../src/http/console/parameter-form.js'
import { parametersJsonSchema } from '../../../src/http/schemas/runbook-schemas.js'
import { emptyStartForm, readStartForm, toStartRunInput } from '../../../src/http/console/start-form.js'

const startFields = { scope: 'all_tenants', confirmation: 'findings.sla.recalculate', reasonCode: '', reasonText: '' }
const slaForm = parameterFormOf(findingsSlaRecalculate)

function start(body: Record<string, unknown>, form = slaForm) {
  return toStartRunInput('findings.sla.recalculate', readStartForm({ ...startFields, ...body }), form)
}

describe('console start form: runbook parameters (SPEC §13)', () => {
  it('generates the SLA form from the JSON Schema: a group titled as the schema, four integer fields 1–365 with their defaults', () => {
    expect(slaForm).toHaveLength(1)
    const [group] = slaForm
    expect(group).toMatchObject({ kind: 'group', label: 'SLA days per severity', errorField: 'parameters.slaDays' })
    expect(parameterLeaves(slaForm).map(({ name, label, kind, min, max, step, defaultValue, errorField }) => ({ name, label, kind, min, max, step, defaultValue, errorField }))).toEqual([
      { name: 'param.slaDays.critical', label: 'Critical', kind: 'integer', min: 1, max: 365, step: '1', defaultValue: '3', errorField: 'parameters.slaDays.critical' },
      { name: 'param.slaDays.high', label: 'High', kind: 'integer', min: 1, max: 365, step: '1', defaultValue: '7', errorField: 'parameters.slaDays.high' },
      { name: 'param.slaDays.medium', label: 'Medium', kind: 'integer', min: 1, max: 365, step: '1', defaultValue: '30', errorField: 'parameters.slaDays.medium' },
      { name: 'param.slaDays.low', label: 'Low', kind: 'integer', min: 1, max: 365, step: '1', defaultValue: '90', errorField: 'parameters.slaDays.low' },
    ])
    expect(parameterFormOf(findingsLifecycleBackfill)).toEqual([])
  })

  it('sends what was typed as nested parameters; an empty field is left out (its default applies)', () => {
    const parsed = start({ 'param.slaDays.critical': ' 1 ', 'param.slaDays.high': '', 'param.slaDays.low': '120' })
    expect(parsed).toEqual({
      input: expect.objectContaining({ runbookKey: 'findings.sla.recalculate', scope: 'all_tenants', parameters: { slaDays: { critical: 1, low: 120 } } }),
    })
    expect(start({})).toEqual({ input: expect.objectContaining({ parameters: {} }) })
    // What the command then validates: the subset is completed with the defaults.
    expect(findingsSlaRecalculate.parameters.parse({ slaDays: { critical: 1, low: 120 } })).toEqual({ slaDays: { critical: 1, high: 7, medium: 30, low: 120 } })
  })

  it('keeps the typed values, by path, to show the form again', () => {
    const values = readStartForm({ ...startFields, 'param.slaDays.critical': 'soon', 'param.slaDays.high': ['x', '8'], other: 'ignored' })
    expect(values.parameters).toEqual({ 'slaDays.critical': 'soon', 'slaDays.high': '8' })
  })

  it('refuses a field that is not a whole number as parameters.<path>, before the command, with the other form problems', () => {
    for (const typed of ['soon', '1.5', '1e2', '0x10']) {
      expect(start({ 'param.slaDays.critical': typed }), typed).toEqual({
        problems: [{ field: 'parameters.slaDays.critical', message: 'must be a whole number' }],
      })
    }
    expect(start({ scope: 'single_tenant', tenant: 'nobody', 'param.slaDays.medium': 'x' })).toEqual({
      problems: [
        { field: 'tenantId', message: 'must be picked from the list of tenants' },
        { field: 'parameters.slaDays.medium', message: 'must be a whole number' },
      ],
    })
    // Out of range is the command's to say (the form only reads numbers).
    expect(start({ 'param.slaDays.critical': '0' })).toEqual({ input: expect.objectContaining({ parameters: { slaDays: { critical: 0 } } }) })
    expect(start({ 'param.slaDays.critical': 'a\u0000' })).toMatchObject({
      problems: expect.arrayContaining([{ field: 'parameters.slaDays.critical', message: 'contains characters that cannot be stored' }]),
    })
  })

  it('refuses param fields the form does not have, as parameters.<path>, as the API refuses unknown parameters', () => {
    expect(start({ 'param.slaDays.urgent': '5', 'param.slaDays.critical.bogus': '4', 'param.__proto__.polluted': '1' })).toEqual({
      problems: [
        { field: 'parameters.slaDays.urgent', message: 'is not a field of this form' },
        { field: 'parameters.slaDays.critical.bogus', message: 'is not a field of this form' },
        { field: 'parameters.__proto__.polluted', message: 'is not a field of this form' },
      ],
    })
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('reads strings, booleans, numbers and enums of other schemas; unions are not offered', () => {
    const schema = z.object({
      label: z.string().max(20).default('nightly'),
      dryRun: z.boolean().default(true),
      ratio: z.number().min(0).max(1).default(0.5),
      mode: z.enum(['fast', 'careful']).default('careful'),
      when: z.union([z.string(), z.number()]).default(1),
    })
    const form = parameterForm(parametersJsonSchema(schema))
    expect(form.map((node) => [node.key, node.kind])).toEqual([
      ['label', 'string'],
      ['dryRun', 'boolean'],
      ['ratio', 'number'],
      ['mode', 'enum'],
      ['when', 'unsupported'],
    ])
    expect(parameterLeaves(form).map((leaf) => leaf.defaultValue)).toEqual(['nightly', 'true', '0.5', 'careful'])
    // An unchecked box posts only its hidden "false"; a checked one "false" then "true".
    expect(start({ 'param.label': 'x', 'param.dryRun': 'false', 'param.ratio': '0.25', 'param.mode': 'fast' }, form)).toEqual({
      input: expect.objectContaining({ parameters: { label: 'x', dryRun: false, ratio: 0.25, mode: 'fast' } }),
    })
    expect(start({ 'param.dryRun': ['false', 'true'], 'param.ratio': 'half' }, form)).toEqual({
      problems: [{ field: 'parameters.ratio', message: 'must be a number' }],
    })
  })

  it('labels a run’s recorded parameters with the schema’s titles, in the schema’s order (not jsonb’s)', () => {
    expect(runParameters(findingsSlaRecalculate, { parameters: { slaDays: { low: 90, high: 7, medium: 30, critical: 1 } } })).toEqual([
      { label: 'SLA days per severity › Critical', value: '1' },
      { label: 'SLA days per severity › High', value: '7' },
      { label: 'SLA days per severity › Medium', value: '30' },
      { label: 'SLA days per severity › Low', value: '90' },
    ])
    expect(runParameters(findingsLifecycleBackfill, { parameters: {} })).toEqual([])
    expect(runParameters(undefined, {})).toBeNull()
    expect(runParameters(undefined, { parameters: { slaDays: { high: 7 }, extra: [1] } })).toEqual([
      { label: 'slaDays › high', value: '7' },
      { label: 'extra', value: '[1]' },
    ])
  })
})

describe('console start form: a start pinned to a preview (SPEC §11)', () => {
  const backfill = 'findings.lifecycle.backfill'
  const pinned = (body: Record<string, unknown>) =>
    toStartRunInput(backfill, readStartForm({ scope: 'all_tenants', confirmation: backfill, reasonCode: '', reasonText: '', ...body }))
  const previewId = '01JABCDEFGHJKMNPQRSTVWXYZ0'

  it('keeps the preview id and the typed tolerance to show the form again; an empty form shows the default 10', () => {
    expect(readStartForm({ preflightId: previewId, maxDriftPercent: 'lots' })).toMatchObject({ preflightId: previewId, maxDriftPercent: 'lots' })
    expect(readStartForm({})).toMatchObject({ preflightId: '', maxDriftPercent: '' })
    expect(emptyStartForm).toMatchObject({ preflightId: '', maxDriftPercent: '10' })
    expect(readStartForm({ preflightId: 'x'.repeat(500) }).preflightId).toHaveLength(64)
  })

  it('passes the preview id and the tolerance as numbers; an empty tolerance is left to the command’s default', () => {
    expect(pinned({ preflightId: ` ${previewId} `, maxDriftPercent: '0' })).toEqual({ input: expect.objectContaining({ preflightId: previewId, maxDriftPercent: 0 }) })
    for (const [typed, value] of [['10', 10], [' 2.5 ', 2.5], ['100', 100], ['.5', 0.5], ['150', 150], ['-1', -1]] as const) {
      // Out of range is the command's to say (422 on maxDriftPercent): the form only reads numbers.
      expect(pinned({ preflightId: previewId, maxDriftPercent: typed }), typed).toEqual({ input: expect.objectContaining({ maxDriftPercent: value }) })
    }
    const defaulted = pinned({ preflightId: previewId, maxDriftPercent: '  ' })
    expect(defaulted).toEqual({ input: expect.objectContaining({ preflightId: previewId }) })
    expect('input' in defaulted && 'maxDriftPercent' in defaulted.input).toBe(false)
  })

  it('refuses a tolerance that is not a number as a problem of maxDriftPercent, with the other form problems', () => {
    for (const typed of ['ten', '1e2', '0x10', 'Infinity', 'NaN', '5%', '1,5']) {
      expect(pinned({ preflightId: previewId, maxDriftPercent: typed }), typed).toEqual({
        problems: [{ field: 'maxDriftPercent', message: 'must be a number from 0 to 100' }],
      })
    }
    expect(pinned({ scope: 'single_tenant', tenant: 'nobody', preflightId: previewId, maxDriftPercent: 'x' })).toEqual({
      problems: [
        { field: 'tenantId', message: 'must be picked from the list of tenants' },
        { field: 'maxDriftPercent', message: 'must be a number from 0 to 100' },
      ],
    })
  })

  it('starts unpinned without a preview id, whatever the (hidden) tolerance field holds', () => {
    for (const maxDriftPercent of ['10', 'ten', '']) {
      const parsed = pinned({ preflightId: '', maxDriftPercent })
      expect(parsed, maxDriftPercent).toEqual({ input: expect.objectContaining({ runbookKey: backfill }) })
      expect('input' in parsed && ('preflightId' in parsed.input || 'maxDriftPercent' in parsed.input)).toBe(false)
    }
    expect(pinned({ preflightId: '   ' })).toEqual({ input: expect.not.objectContaining({ preflightId: expect.anything() }) })
  })
})

describe('console start form: limits (SPEC §9)', () => {
  it('sends the limits typed, none when both fields are empty (the defaults apply), and an empty max failures as no limit', () => {
    expect(start({})).toEqual({ input: expect.not.objectContaining({ limits: expect.anything() }) })
    expect(start({ maxConcurrency: ' 2 ', maxFailures: '0' })).toEqual({ input: expect.objectContaining({ limits: { maxConcurrency: 2, maxFailures: 0 } }) })
    expect(start({ maxConcurrency: '', maxFailures: '3' })).toEqual({ input: expect.objectContaining({ limits: { maxFailures: 3 } }) })
    expect(start({ maxConcurrency: '7', maxFailures: '' })).toEqual({ input: expect.objectContaining({ limits: { maxConcurrency: 7, maxFailures: null } }) })
  })

  it('refuses a limit that is not a whole number, naming it as the API does; the range is the command\'s', () => {
    expect(start({ maxConcurrency: 'many', maxFailures: '1.5' })).toEqual({
      problems: [
        { field: 'limits.maxConcurrency', message: 'must be a whole number' },
        { field: 'limits.maxFailures', message: 'must be a whole number, or empty for no limit' },
      ],
    })
    expect(start({ maxConcurrency: '0' })).toEqual({ input: expect.objectContaining({ limits: { maxConcurrency: 0, maxFailures: null } }) })
    expect(readStartForm({ ...startFields, maxConcurrency: '12', maxFailures: '4' })).toMatchObject({ maxConcurrency: '12', maxFailures: '4' })
    expect(emptyStartForm).toMatchObject({ maxConcurrency: '', maxFailures: '' })
  })
})
