import { isDeepStrictEqual } from 'node:util'
import { z } from 'zod'
import { allCapabilities } from '../auth/capabilities.js'
import { isRepairableTableName } from '../db/before-images.js'
import type { Runbook } from './runbook.js'

/**
 * The runbooks this deployment offers. Built once by the composition root from a list of runbook
 * modules (`builtInRunbooks`, or a test's own) and passed to whatever needs it: there is no module-level
 * catalog, so a process serves exactly the runbooks it was composed with.
 */
export interface RunbookCatalog {
  /** In catalog order. */
  readonly runbooks: readonly Runbook[]
  find(key: string): Runbook | undefined
  /** Every capability an operator can hold in this deployment: the base ones and each runbook's own. */
  readonly knownCapabilities: readonly string[]
}

const runbookKeySchema = z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'dotted lower-case words, e.g. findings.sla.recalculate')
const capabilitySchema = z.string().regex(/^platform\.runbooks\.[a-z0-9_.]+$/, 'platform.runbooks.<name>')

/**
 * The platform tables a runbook's repair updates (SPEC §11 before-images are kept of their changed rows):
 * `findings`, SPEC §1's table, unless the runbook names others.
 */
export function repairedTables(runbook: Pick<Runbook, 'repairs'>): readonly string[] {
  return runbook.repairs ?? DEFAULT_REPAIRED_TABLES
}

const DEFAULT_REPAIRED_TABLES: readonly string[] = Object.freeze(['findings'])

/** Checks the runbooks' keys and capabilities once, at composition, so a bad module fails the start. */
export function createRunbookCatalog(runbooks: readonly Runbook[]): RunbookCatalog {
  const byKey = new Map<string, Runbook>()
  for (const runbook of runbooks) {
    const key = runbookKeySchema.safeParse(runbook.key)
    if (!key.success) throw new Error(`runbook key "${runbook.key}": ${key.error.issues[0]!.message}`)
    const capability = capabilitySchema.safeParse(runbook.requiredCapability)
    if (!capability.success) throw new Error(`runbook ${runbook.key}: requiredCapability must be ${capability.error.issues[0]!.message}`)
    const tables = repairedTables(runbook)
    const badTable = tables.find((table) => !isRepairableTableName(table))
    if (badTable !== undefined) throw new Error(`runbook ${runbook.key}: repairs must name tables in lower case (got "${badTable}")`)
    // One snapshot cursor per table and repair (src/db/before-images.ts): a table named twice would be declared twice.
    const twice = tables.find((table, index) => tables.indexOf(table) !== index)
    if (twice !== undefined) throw new Error(`runbook ${runbook.key}: repairs names "${twice}" twice`)
    if (byKey.has(runbook.key)) throw new Error(`runbook ${runbook.key} is in the catalog twice`)
    // Every field with a default: a start that names no parameters must be valid.
    const empty = runbook.parameters.safeParse({})
    if (!empty.success) throw new Error(`runbook ${runbook.key}: every parameter needs a default ({} must be valid)`)
    // A misspelt parameter must be refused, not silently dropped: the schema must be strict.
    if (runbook.parameters.safeParse({ 'not-a-parameter': 1 }).success) {
      throw new Error(`runbook ${runbook.key}: parameters must refuse unknown keys (use z.strictObject)`)
    }
    // What is validated is stored in events and hashed into the identity: it must be plain JSON.
    if (!isPlainJson(empty.data)) {
      throw new Error(`runbook ${runbook.key}: validated parameters must be plain JSON`)
    }
    byKey.set(runbook.key, runbook)
  }
  const list = Object.freeze([...runbooks])
  return Object.freeze({
    runbooks: list,
    find: (key: string) => byKey.get(key),
    knownCapabilities: Object.freeze(allCapabilities(list.map((runbook) => runbook.requiredCapability))),
  })
}

function isPlainJson(value: unknown): boolean {
  try {
    return isDeepStrictEqual(JSON.parse(JSON.stringify(value)), value)
  } catch {
    return false
  }
}
