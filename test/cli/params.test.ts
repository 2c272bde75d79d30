import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { flagFor } from '../../src/cli/error-report.js'
import { UsageError } from '../../src/cli/exit-codes.js'
import { formatPreflight, formatRunbooks, parameterRows } from '../../src/cli/format.js'
import {
  applyParamAssignments,
  deepMerge,
  parameterFieldFlags,
  parametersOf,
  parseParamAssignment,
  parseParamValue,
  parseParamsFileText,
  setPath,
} from '../../src/cli/params.js'

const stdinOf = (text?: string) => Readable.from(text === undefined ? [] : [Buffer.from(text)])

/** The catalog's schema of `findings.sla.recalculate`, as the service generates it. */
const slaSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: {
    slaDays: {
      default: { critical: 3, high: 7, medium: 30, low: 90 },
      title: 'SLA days per severity',
      type: 'object',
      properties: {
        critical: { default: 3, title: 'Critical', type: 'integer', minimum: 1, maximum: 365 },
        high: { default: 7, title: 'High', type: 'integer', minimum: 1, maximum: 365 },
        medium: { default: 30, title: 'Medium', type: 'integer', minimum: 1, maximum: 365 },
        low: { default: 90, title: 'Low', type: 'integer', minimum: 1, maximum: 365 },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
}

describe('--param values', () => {
  it('are JSON when they parse as JSON, else the string as typed', () => {
    expect(parseParamValue('1')).toBe(1)
    expect(parseParamValue('-2.5')).toBe(-2.5)
    expect(parseParamValue('true')).toBe(true)
    expect(parseParamValue('false')).toBe(false)
    expect(parseParamValue('null')).toBe(null)
    expect(parseParamValue('{"critical":1}')).toEqual({ critical: 1 })
    expect(parseParamValue('[1,2]')).toEqual([1, 2])
    expect(parseParamValue('"7"')).toBe('7')
    expect(parseParamValue('abc')).toBe('abc')
    expect(parseParamValue('01')).toBe('01')
    expect(parseParamValue('')).toBe('')
    expect(parseParamValue('{not json')).toBe('{not json')
  })

  it('name=value: a dotted name is a path, the first = ends the name', () => {
    expect(parseParamAssignment('slaDays.critical=1')).toEqual({ path: ['slaDays', 'critical'], value: 1 })
    expect(parseParamAssignment('note=a=b')).toEqual({ path: ['note'], value: 'a=b' })
    expect(parseParamAssignment('empty=')).toEqual({ path: ['empty'], value: '' })
  })

  it.each([
    ['slaDays.critical', /expected name=value/],
    ['=1', /name before = is empty/],
    [' =1', /name before = is empty/],
    ['slaDays..critical=1', /empty part/],
    ['.critical=1', /empty part/],
    ['slaDays.=1', /empty part/],
  ])('%j is a usage error', (text, message) => {
    expect(() => parseParamAssignment(text)).toThrow(UsageError)
    expect(() => parseParamAssignment(text)).toThrow(message)
  })
})

describe('merging', () => {
  it('builds nested objects from paths; later entries win where they overlap', () => {
    expect(applyParamAssignments({}, ['slaDays.critical=1'])).toEqual({ slaDays: { critical: 1 } })
    expect(applyParamAssignments({}, ['slaDays.critical=1', 'slaDays.high=2', 'slaDays.critical=5'])).toEqual({
      slaDays: { critical: 5, high: 2 },
    })
    expect(applyParamAssignments({}, ['slaDays={"critical":1,"low":60}', 'slaDays.high=2'])).toEqual({
      slaDays: { critical: 1, low: 60, high: 2 },
    })
  })

  it('--param entries are deep-merged over the file by path', () => {
    const file = { slaDays: { critical: 2, high: 5 }, other: 'x' }
    expect(applyParamAssignments(file, ['slaDays.critical=1'])).toEqual({ slaDays: { critical: 1, high: 5 }, other: 'x' })
    // An object value merges too; a non-object in the way is replaced.
    expect(applyParamAssignments(file, ['slaDays={"low":60}'])).toEqual({ slaDays: { critical: 2, high: 5, low: 60 }, other: 'x' })
    expect(applyParamAssignments(file, ['other.deep=1'])).toEqual({ slaDays: { critical: 2, high: 5 }, other: { deep: 1 } })
    expect(applyParamAssignments(file, ['slaDays=3'])).toEqual({ slaDays: 3, other: 'x' })
    expect(file).toEqual({ slaDays: { critical: 2, high: 5 }, other: 'x' })
  })

  it('arrays replace rather than merge; the inputs are not changed', () => {
    const base = { list: [1, 2], nested: { a: 1 } }
    expect(deepMerge(base, { list: [3] })).toEqual({ list: [3], nested: { a: 1 } })
    expect(setPath(base, ['nested', 'b'], 2)).toEqual({ list: [1, 2], nested: { a: 1, b: 2 } })
    expect(base).toEqual({ list: [1, 2], nested: { a: 1 } })
  })

  it('a name such as __proto__ is an own property, never the prototype', () => {
    const merged = applyParamAssignments({}, ['__proto__.polluted=1'])
    expect(Object.hasOwn(merged, '__proto__')).toBe(true)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(JSON.parse(JSON.stringify(merged))).toEqual(JSON.parse('{"__proto__":{"polluted":1}}'))
    const fromFile = parseParamsFileText('{"__proto__":{"polluted":1}}', 'f.json')
    expect(Object.getPrototypeOf(fromFile)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

describe('--params-file and parametersOf', () => {
  let folder: string
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'rcp-params-'))
  })
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true })
  })

  it('nothing given: no parameters at all (the service applies the defaults)', async () => {
    expect(await parametersOf({}, stdinOf())).toBeUndefined()
    expect(await parametersOf({ param: [] }, stdinOf())).toBeUndefined()
  })

  it('reads a JSON object from a file or from stdin (-), and merges --param over it', async () => {
    const file = join(folder, 'sla.json')
    await writeFile(file, JSON.stringify({ slaDays: { critical: 2, high: 5 } }))
    expect(await parametersOf({ paramsFile: file }, stdinOf())).toEqual({ slaDays: { critical: 2, high: 5 } })
    expect(await parametersOf({ paramsFile: file, param: ['slaDays.critical=1'] }, stdinOf())).toEqual({ slaDays: { critical: 1, high: 5 } })
    expect(await parametersOf({ paramsFile: '-', param: ['slaDays.low=60'] }, stdinOf('{"slaDays":{"medium":20}}\n'))).toEqual({
      slaDays: { medium: 20, low: 60 },
    })
  })

  it('an unreadable file, one that is not JSON or not an object, and a bad --param are usage errors', async () => {
    const missing = join(folder, 'missing.json')
    await expect(parametersOf({ paramsFile: missing }, stdinOf())).rejects.toThrow(/--params-file .*missing\.json: cannot read it \(ENOENT\)/)
    await expect(parametersOf({ paramsFile: folder }, stdinOf())).rejects.toThrow(UsageError)

    const notJson = join(folder, 'bad.json')
    await writeFile(notJson, '{slaDays: 1}')
    await expect(parametersOf({ paramsFile: notJson }, stdinOf())).rejects.toThrow(/bad\.json: not JSON/)

    for (const text of ['[1]', 'null', '3', '"x"']) {
      await expect(parametersOf({ paramsFile: '-' }, stdinOf(text))).rejects.toThrow(/must hold a JSON object/)
    }
    await expect(parametersOf({ paramsFile: '-' }, stdinOf(''))).rejects.toThrow(/not JSON/)
    await expect(parametersOf({ param: ['slaDays.critical'] }, stdinOf())).rejects.toThrow(UsageError)
  })
})

describe('field errors and catalog text', () => {
  it('a field under parameters. names the --param to fix', () => {
    const flags = { scope: '--all-tenants | --tenant', ...parameterFieldFlags }
    expect(flagFor('parameters.slaDays.critical', flags)).toBe('--param slaDays.critical')
    expect(flagFor('parameters.urgent', flags)).toBe('--param urgent')
    expect(flagFor('parameters', flags)).toBe('--param | --params-file')
    expect(flagFor('scope', flags)).toBe('--all-tenants | --tenant')
    expect(flagFor('confirmation', flags)).toBeUndefined()
    expect(flagFor('parameters.x', undefined)).toBeUndefined()
  })

  it("a runbook's parameters as --param names: type, default, bounds, titles", () => {
    expect(parameterRows(slaSchema)).toEqual([
      { name: 'slaDays.critical', type: 'integer', default: '3', bounds: '1..365', title: 'SLA days per severity: Critical' },
      { name: 'slaDays.high', type: 'integer', default: '7', bounds: '1..365', title: 'SLA days per severity: High' },
      { name: 'slaDays.medium', type: 'integer', default: '30', bounds: '1..365', title: 'SLA days per severity: Medium' },
      { name: 'slaDays.low', type: 'integer', default: '90', bounds: '1..365', title: 'SLA days per severity: Low' },
    ])
    expect(parameterRows({ type: 'object', properties: {}, additionalProperties: false })).toEqual([])
    expect(
      parameterRows({
        type: 'object',
        required: ['mode'],
        properties: {
          mode: { enum: ['fast', 'safe'] },
          name: { type: 'string', minLength: 1, maxLength: 20 },
          limit: { type: ['integer', 'null'], minimum: 0 },
        },
      }),
    ).toEqual([
      { name: 'mode', type: 'enum', default: '(required)', bounds: '"fast" | "safe"', title: '' },
      { name: 'name', type: 'string', default: '-', bounds: 'length 1..20', title: '' },
      { name: 'limit', type: 'integer|null', default: '-', bounds: '>= 0', title: '' },
    ])
  })

  it('rcp runbooks shows each unit and the parameters; a runbook without any says none', () => {
    const text = formatRunbooks([
      {
        key: 'findings.lifecycle.backfill',
        label: 'Findings lifecycle backfill',
        description: '',
        requiredCapability: 'platform.runbooks.findings.lifecycle_backfill',
        unit: 'findings',
        estimatedDuration: 'about 1 s',
        parameters: { type: 'object', properties: {}, additionalProperties: false },
      },
      {
        key: 'findings.sla.recalculate',
        label: 'Findings SLA recalculation',
        description: '',
        requiredCapability: 'platform.runbooks.findings.sla_recalculate',
        unit: 'findings',
        estimatedDuration: 'about 1 s',
        parameters: slaSchema,
      },
    ])
    expect(text).toMatch(/^KEY\s+LABEL\s+UNIT\s+ESTIMATED DURATION\s+CAPABILITY$/m)
    expect(text).toMatch(/^findings\.sla\.recalculate\s+Findings SLA recalculation\s+findings\s+/m)
    expect(text).toContain('Parameters of findings.lifecycle.backfill: none')
    expect(text).toContain('Parameters of findings.sla.recalculate (--param NAME=VALUE):')
    expect(text).toMatch(/^ {2}NAME\s+TYPE\s+DEFAULT\s+BOUNDS\s+TITLE$/m)
    expect(text).toMatch(/^ {2}slaDays\.critical\s+integer\s+3\s+1\.\.365\s+SLA days per severity: Critical$/m)
    expect(text).toMatch(/^ {2}slaDays\.low\s+integer\s+90\s+1\.\.365\s+SLA days per severity: Low$/m)
  })

  it("preflight counts in the runbook's unit, rows when unknown", () => {
    const counts = { affectedCount: 2, totalCount: 10, estimatedTenants: 1 }
    expect(formatPreflight('k.x', 'tenant #1', counts, 'findings')).toMatch(/findings to update\s+2\n\s+findings scanned\s+10/)
    expect(formatPreflight('k.x', 'tenant #1', counts)).toMatch(/rows to update\s+2\n\s+rows scanned\s+10/)
  })
})
