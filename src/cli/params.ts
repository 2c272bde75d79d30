import { readFile } from 'node:fs/promises'
import { UsageError } from './exit-codes.js'
import type { InputStream } from './io.js'

/**
 * A runbook's parameters from the command line (SPEC §13): `--params-file FILE` (a JSON object; `-` is
 * stdin) and `--param name=value` (repeatable), merged over the file by path. Only the shape is checked
 * here — whether the values are valid is the service's call (a 422 naming `parameters.<path>`).
 */

export type Parameters = Record<string, unknown>

export interface ParameterOptions {
  /** Each `--param name=value`, as typed. */
  param?: string[]
  paramsFile?: string
}

/** The API's field names as the options that fill them: `parameters.slaDays.critical` → `--param slaDays.critical`. */
export const parameterFieldFlags: Record<string, string> = {
  parameters: '--param | --params-file',
  // A key ending in a dot names a prefix: the rest of the field is appended to the flag (see error-report.ts).
  'parameters.': '--param',
}

const MAX_PARAMS_FILE_BYTES = 1024 * 1024

/** `1`, `true`, `null`, `{"a":1}`, `[1,2]`, `"x"` are JSON; anything else (`abc`, ``) is the string as typed. */
export function parseParamValue(raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

/** `slaDays.critical=1` → `{path: ['slaDays', 'critical'], value: 1}`; the first `=` ends the name. */
export function parseParamAssignment(text: string): { path: string[]; value: unknown } {
  const equals = text.indexOf('=')
  if (equals < 0) throw new UsageError(`--param ${quoted(text)}: expected name=value (e.g. --param slaDays.critical=1)`)
  const name = text.slice(0, equals).trim()
  if (name === '') throw new UsageError(`--param ${quoted(text)}: the name before = is empty`)
  const path = name.split('.')
  if (path.some((segment) => segment === '')) {
    throw new UsageError(`--param ${quoted(text)}: "${name}" has an empty part (a dotted path is like slaDays.critical)`)
  }
  return { path, value: parseParamValue(text.slice(equals + 1)) }
}

function quoted(text: string): string {
  return JSON.stringify(text)
}

export function isPlainObject(value: unknown): value is Parameters {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** An own property, whatever its name (`__proto__` included): input never reaches a prototype. */
function setOwn(target: Parameters, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

function getOwn(target: Parameters, key: string): unknown {
  return Object.hasOwn(target, key) ? target[key] : undefined
}

/** `overlay` over `base`, recursively for objects on both sides; anything else in `overlay` replaces. Neither is changed. */
export function deepMerge(base: Parameters, overlay: Parameters): Parameters {
  const merged: Parameters = {}
  for (const [key, value] of Object.entries(base)) setOwn(merged, key, value)
  for (const [key, value] of Object.entries(overlay)) {
    const existing = getOwn(merged, key)
    setOwn(merged, key, isPlainObject(existing) && isPlainObject(value) ? deepMerge(existing, value) : value)
  }
  return merged
}

/** `value` at `path` in `target` (a copy), objects on the way created — or replaced when they are not objects. */
export function setPath(target: Parameters, path: readonly string[], value: unknown): Parameters {
  const [head, ...rest] = path
  if (head === undefined) return isPlainObject(value) ? deepMerge(target, value) : target
  const existing = getOwn(target, head)
  const next =
    rest.length === 0
      ? isPlainObject(existing) && isPlainObject(value)
        ? deepMerge(existing, value)
        : value
      : setPath(isPlainObject(existing) ? existing : {}, rest, value)
  const copy = deepMerge(target, {})
  setOwn(copy, head, next)
  return copy
}

/** Every `--param`, in order, over `base`: a later one wins where they overlap. */
export function applyParamAssignments(base: Parameters, assignments: readonly string[]): Parameters {
  let parameters = base
  for (const text of assignments) {
    const { path, value } = parseParamAssignment(text)
    parameters = setPath(parameters, path, value)
  }
  return parameters
}

/** The file's text as a JSON object, or a usage error naming the file. */
export function parseParamsFileText(text: string, file: string): Parameters {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new UsageError(`--params-file ${file}: not JSON (${error instanceof Error ? error.message : String(error)})`)
  }
  if (!isPlainObject(parsed)) {
    throw new UsageError(`--params-file ${file}: must hold a JSON object, e.g. {"slaDays": {"critical": 1}}`)
  }
  return deepMerge({}, parsed)
}

async function readStdin(stdin: InputStream): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += buffer.length
    if (size > MAX_PARAMS_FILE_BYTES) throw new UsageError('--params-file -: stdin holds more than 1 MiB')
    chunks.push(buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export async function readParamsFile(file: string, stdin: InputStream): Promise<Parameters> {
  if (file === '-') return parseParamsFileText(await readStdin(stdin), '- (stdin)')
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const code = (error as { code?: unknown }).code
    throw new UsageError(`--params-file ${file}: cannot read it (${typeof code === 'string' ? code : String(error)})`)
  }
  if (Buffer.byteLength(text) > MAX_PARAMS_FILE_BYTES) throw new UsageError(`--params-file ${file}: larger than 1 MiB`)
  return parseParamsFileText(text, file)
}

/**
 * The `parameters` to send, or `undefined` when neither option was given (the service then applies the
 * defaults). Any mistake in them is a usage error, raised before any request.
 */
export async function parametersOf(options: ParameterOptions, stdin: InputStream): Promise<Parameters | undefined> {
  const assignments = options.param ?? []
  if (options.paramsFile === undefined && assignments.length === 0) return undefined
  // Check every --param before reading the file (a bad one fails fast, stdin stays unread).
  for (const text of assignments) parseParamAssignment(text)
  const base = options.paramsFile === undefined ? {} : await readParamsFile(options.paramsFile, stdin)
  return applyParamAssignments(base, assignments)
}
