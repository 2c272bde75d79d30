import type { FieldProblem } from '../../commands/errors.js'
import type { Runbook } from '../../runbooks/runbook.js'
import { parametersJsonSchema } from '../schemas/runbook-schemas.js'

/**
 * SPEC §13: the console's parameters form, generated from a runbook's JSON Schema (the catalog's
 * `parameters`, `io: input`). Objects become groups, integer/number/string/boolean/enum leaves become
 * inputs; anything else (unions, arrays) is not offered here and keeps its default. Each field is named
 * `param.<path>` and explained by the command's `parameters.<path>` problems.
 */

type JsonSchema = Record<string, unknown>

interface NodeBase {
  /** Property names from the root, e.g. ['slaDays', 'critical']. */
  path: string[]
  /** `slaDays.critical` */
  key: string
  /** `parameters.slaDays.critical`: how the command names its problems. */
  errorField: string
  label: string
  description: string | null
}

export interface ParameterGroup extends NodeBase {
  kind: 'group'
  children: ParameterNode[]
}

export interface ParameterLeaf extends NodeBase {
  kind: 'integer' | 'number' | 'string' | 'boolean' | 'enum'
  /** `param.slaDays.critical`: the form field. */
  name: string
  /** The default as the field shows it ('' for none). */
  defaultValue: string
  required: boolean
  min?: number
  max?: number
  /** `step` of a number input. */
  step?: string
  minLength?: number
  maxLength?: number
  /** The choices of an enum, as the select shows (and sends) them. */
  options?: string[]
  /** The enum's values, by the option text that stands for them. */
  optionValues?: unknown[]
}

export interface ParameterUnsupported extends NodeBase {
  kind: 'unsupported'
}

export type ParameterNode = ParameterGroup | ParameterLeaf | ParameterUnsupported

export const PARAMETER_FIELD_PREFIX = 'param.'

const isObject = (value: unknown): value is JsonSchema => value !== null && typeof value === 'object' && !Array.isArray(value)
const text = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value : null)
const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined)

/** The fields of a runbook's parameters schema, in schema order; none for a runbook without parameters. */
export function parameterForm(schema: unknown): ParameterNode[] {
  return isObject(schema) ? childrenOf(schema, [], undefined) : []
}

function childrenOf(schema: JsonSchema, path: string[], inheritedDefault: unknown): ParameterNode[] {
  const properties = isObject(schema.properties) ? schema.properties : {}
  const required = Array.isArray(schema.required) ? (schema.required as unknown[]) : []
  const parentDefault = isObject(schema.default) ? schema.default : isObject(inheritedDefault) ? inheritedDefault : {}
  return Object.entries(properties)
    .filter(([, property]) => isObject(property))
    .map(([name, property]) => nodeOf(property as JsonSchema, [...path, name], parentDefault[name], required.includes(name)))
}

function nodeOf(schema: JsonSchema, path: string[], inheritedDefault: unknown, required: boolean): ParameterNode {
  const key = path.join('.')
  const base: NodeBase = {
    path,
    key,
    errorField: `parameters.${key}`,
    label: text(schema.title) ?? path[path.length - 1]!,
    description: text(schema.description),
  }
  const fallback = 'default' in schema ? schema.default : inheritedDefault
  const leaf = (kind: ParameterLeaf['kind'], extra: Partial<ParameterLeaf> = {}): ParameterLeaf => ({
    ...base,
    kind,
    name: PARAMETER_FIELD_PREFIX + key,
    defaultValue: fallback === undefined || fallback === null ? '' : typeof fallback === 'object' ? JSON.stringify(fallback) : String(fallback),
    required,
    ...extra,
  })
  if (Array.isArray(schema.enum) && schema.enum.length > 0 && schema.enum.every((v) => ['string', 'number', 'boolean'].includes(typeof v))) {
    return leaf('enum', { options: schema.enum.map(String), optionValues: [...schema.enum] })
  }
  switch (schema.type) {
    case 'object':
      return { ...base, kind: 'group', children: childrenOf(schema, path, fallback) }
    case 'integer':
    case 'number': {
      const integer = schema.type === 'integer'
      const exclusiveMin = num(schema.exclusiveMinimum)
      const exclusiveMax = num(schema.exclusiveMaximum)
      const min = num(schema.minimum) ?? (exclusiveMin === undefined ? undefined : integer ? Math.floor(exclusiveMin) + 1 : exclusiveMin)
      const max = num(schema.maximum) ?? (exclusiveMax === undefined ? undefined : integer ? Math.ceil(exclusiveMax) - 1 : exclusiveMax)
      const multipleOf = num(schema.multipleOf)
      return leaf(integer ? 'integer' : 'number', {
        ...(min === undefined ? {} : { min }),
        ...(max === undefined ? {} : { max }),
        step: multipleOf !== undefined ? String(multipleOf) : integer ? '1' : 'any',
      })
    }
    case 'string': {
      const minLength = num(schema.minLength)
      const maxLength = num(schema.maxLength)
      return leaf('string', { ...(minLength === undefined ? {} : { minLength }), ...(maxLength === undefined ? {} : { maxLength }) })
    }
    case 'boolean':
      return leaf('boolean')
    default:
      return { ...base, kind: 'unsupported' }
  }
}

const forms = new WeakMap<Runbook, ParameterNode[]>()

/** A runbook's parameters form, generated from the JSON Schema the catalog publishes (once per runbook). */
export function parameterFormOf(runbook: Runbook): ParameterNode[] {
  let form = forms.get(runbook)
  if (!form) {
    form = parameterForm(parametersJsonSchema(runbook.parameters))
    forms.set(runbook, form)
  }
  return form
}

/** Every node, depth first (groups before their fields). */
export function allParameterNodes(nodes: readonly ParameterNode[]): ParameterNode[] {
  return nodes.flatMap((node) => (node.kind === 'group' ? [node, ...allParameterNodes(node.children)] : [node]))
}

export function parameterLeaves(nodes: readonly ParameterNode[]): ParameterLeaf[] {
  return allParameterNodes(nodes).filter((node): node is ParameterLeaf => node.kind !== 'group' && node.kind !== 'unsupported')
}

/** The problems' fields the form explains beside a field or group (`parameters.<path>`). */
export function parameterErrorFields(nodes: readonly ParameterNode[]): string[] {
  return allParameterNodes(nodes).map((node) => node.errorField)
}

/** Human names of the `parameters.<path>` problems: the field's title ("Critical must be at least 1"). */
export function parameterLabels(nodes: readonly ParameterNode[]): Record<string, string> {
  return Object.fromEntries(allParameterNodes(nodes).map((node) => [node.errorField, node.label]))
}

/** The `param.<path>` fields of a posted form, by path (`slaDays.critical`), as typed. */
export function readParameterFields(body: Record<string, unknown>, limits = { fields: 100, length: 400 }): Record<string, string> {
  const values: Record<string, string> = {}
  let count = 0
  for (const [name, raw] of Object.entries(body)) {
    if (!name.startsWith(PARAMETER_FIELD_PREFIX) || name.length > 200) continue
    // A checkbox posts its hidden "false" and, when checked, "true" after it: the last one counts.
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw
    if (typeof value !== 'string') continue
    if (++count > limits.fields) break
    values[name.slice(PARAMETER_FIELD_PREFIX.length)] = value.slice(0, limits.length)
  }
  return values
}

const WHOLE_NUMBER = /^[+-]?\d+$/

/**
 * The parameters the typed fields stand for, or why a field cannot be sent: an empty field is left out
 * (its default applies), a number field must hold a number ("must be a whole number" for an integer).
 * Ranges and everything else are the command's to check. A field the form does not have is refused as
 * `parameters.<path>`, as the API refuses a parameter the schema does not have: nothing sent is dropped in silence.
 */
export function parametersFromFields(
  nodes: readonly ParameterNode[],
  typed: Readonly<Record<string, string>>,
): { parameters: Record<string, unknown>; problems: FieldProblem[] } {
  const parameters: Record<string, unknown> = {}
  const problems: FieldProblem[] = []
  const leaves = parameterLeaves(nodes)
  const offered = new Set(leaves.map((field) => field.key))
  for (const key of Object.keys(typed)) {
    if (!offered.has(key)) problems.push({ field: `parameters.${key}`, message: 'is not a field of this form' })
  }
  for (const field of leaves) {
    if (!Object.hasOwn(typed, field.key)) continue
    const raw = typed[field.key]!
    const trimmed = raw.trim()
    if (field.kind !== 'string' && trimmed === '') continue
    if (field.kind === 'string' && raw === '') continue
    let value: unknown
    switch (field.kind) {
      case 'integer':
        if (!WHOLE_NUMBER.test(trimmed)) {
          problems.push({ field: field.errorField, message: 'must be a whole number' })
          continue
        }
        value = Number(trimmed)
        break
      case 'number':
        value = Number(trimmed)
        if (!Number.isFinite(value)) {
          problems.push({ field: field.errorField, message: 'must be a number' })
          continue
        }
        break
      case 'boolean':
        value = trimmed === 'true' || trimmed === 'on'
        break
      case 'enum': {
        const index = field.options!.indexOf(raw)
        value = index >= 0 ? field.optionValues![index] : raw
        break
      }
      default:
        value = raw
    }
    setAt(parameters, field.path, value)
  }
  return { parameters, problems }
}

function setAt(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target
  for (const name of path.slice(0, -1)) {
    const next = Object.hasOwn(node, name) ? node[name] : undefined
    if (!isObject(next)) {
      const created: Record<string, unknown> = {}
      Object.defineProperty(node, name, { value: created, enumerable: true, writable: true, configurable: true })
      node = created
    } else node = next
  }
  Object.defineProperty(node, path[path.length - 1]!, { value, enumerable: true, writable: true, configurable: true })
}

/**
 * A run's recorded parameters as lines to show, labelled by the schema's titles where it has them
 * ("SLA days per severity › Critical": "3") and in the schema's order (jsonb keeps its own); nested
 * objects are walked, other values written as JSON.
 */
export function describeParameters(nodes: readonly ParameterNode[], parameters: Record<string, unknown>): Array<{ label: string; value: string }> {
  const lines: Array<{ label: string; value: string }> = []
  const walk = (value: unknown, labels: string[], children: readonly ParameterNode[]) => {
    if (!isObject(value) || Object.keys(value).length === 0) {
      lines.push({ label: labels.join(' › '), value: typeof value === 'string' ? value : JSON.stringify(value) })
      return
    }
    const known = children.map((node) => node.path[node.path.length - 1]!).filter((name) => Object.hasOwn(value, name))
    const names = [...known, ...Object.keys(value).filter((name) => !known.includes(name))]
    for (const name of names) {
      const node = children.find((child) => child.path[child.path.length - 1] === name)
      walk(value[name], [...labels, node?.label ?? name], node?.kind === 'group' ? node.children : [])
    }
  }
  if (Object.keys(parameters).length > 0) walk(parameters, [], nodes)
  return lines
}

/**
 * The run page's parameter lines, from the run's `context.parameters` (as validated, defaults filled in),
 * labelled by the runbook's schema when the catalog still has it; null when the context records none.
 */
export function runParameters(runbook: Runbook | undefined, context: Record<string, unknown>): Array<{ label: string; value: string }> | null {
  const parameters = context.parameters
  if (!isObject(parameters)) return null
  return describeParameters(runbook ? parameterFormOf(runbook) : [], parameters)
}
