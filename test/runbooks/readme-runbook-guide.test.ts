import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ValidationError } from '../../src/commands/errors.js'
import { validateParameters } from '../../src/commands/runbook-parameters.js'
import type { Database } from '../../src/db/database.js'
import { builtInRunbooks } from '../../src/runbooks/built-in-runbooks.js'
import { createRunbookCatalog } from '../../src/runbooks/catalog.js'
import type { Runbook } from '../../src/runbooks/runbook.js'
import { migrateService } from '../../src/service-migrations.js'
import { parametersJsonSchema } from '../../src/http/schemas/runbook-schemas.js'
import { freshEmbeddedDatabase } from '../support/databases.js'
import { finding, insertFindings, insertTenant, readFindings } from './findings-fixture.js'

/**
 * The README's "write your own runbook" example, taken from the README itself, type-checked with the
 * project's compiler settings and then run: a maintainer following the guide gets a runbook that works.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const generatedDir = join(root, 'test/.generated')
const generatedFile = join(generatedDir, 'readme-runbook.ts')

function readmeExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const block = /<!-- readme-runbook-example:start -->\s*```ts\n([\s\S]*?)```\s*<!-- readme-runbook-example:end -->/.exec(readme)
  if (!block) throw new Error('README.md has no runbook example between its markers')
  // Written as a module of src/runbooks; placed under test/, its imports point back there.
  return block[1]!.replaceAll("from '../", "from '../../src/").replaceAll("from './", "from '../../src/runbooks/")
}

function typeErrors(file: string): string[] {
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), (path) => ts.sys.readFile(path))
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root)
  const program = ts.createProgram([file], { ...parsed.options, noEmit: true })
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === file || d.file === undefined)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
}

describe('the README’s runbook guide', () => {
  let example: Runbook
  let db: Database

  beforeAll(async () => {
    mkdirSync(generatedDir, { recursive: true })
    writeFileSync(generatedFile, readmeExample())
    const module = (await import(generatedFile)) as { severityRemap: Runbook }
    example = module.severityRemap
    db = await freshEmbeddedDatabase()
  }, 60_000)
  afterAll(async () => {
    await db?.close()
    rmSync(generatedDir, { recursive: true, force: true })
  })

  it('compiles with the project’s compiler settings', () => {
    expect(typeErrors(generatedFile)).toEqual([])
  }, 60_000)

  it('joins the catalog beside the built-in runbooks, its capability grantable', () => {
    const catalog = createRunbookCatalog([...builtInRunbooks, example])
    expect(catalog.runbooks.map((r) => r.key)).toEqual(['findings.lifecycle.backfill', 'findings.sla.recalculate', 'findings.severity.remap'])
    expect(catalog.knownCapabilities).toContain('platform.runbooks.findings.severity_remap')
    const schema = parametersJsonSchema(example.parameters) as { properties: Record<string, { default: unknown }> }
    expect(schema.properties.from!.default).toBe('urgent')
    expect(schema.properties.to!.default).toBe('critical')
    expect(() => validateParameters(example, { to: 'urgent' })).toThrow(ValidationError)
  })

  it('gets its table from its migration on start, and repairs a tenant idempotently', async () => {
    const applied = await migrateService(db.sql, { postgresEventStore: true, runbooks: [...builtInRunbooks, example] })
    expect(applied).toContainEqual({ owner: 'runbook:findings.severity.remap', version: 1, name: 'severity remap log' })
    await insertTenant(db.sql, { id: 7 })
    await insertFindings(db.sql, [finding(70, 7, { severity: 'urgent' }), finding(71, 7, { severity: 'low' }), finding(72, 7, { severity: 'urgent' })])
    const parameters = validateParameters(example, {})

    expect(await example.preflightTenant(db.sql, 7, parameters)).toEqual({ affected: 2, total: 3 })
    expect(await db.sql.begin((tx) => example.executeTenant(tx, 7, parameters))).toEqual({ updated: 2, total: 3 })
    expect((await readFindings(db.sql, 7)).map((f) => f.severity)).toEqual(['critical', 'low', 'critical'])
    expect(await db.sql`select finding_id::int, old_severity from severity_remap_log order by finding_id`).toEqual([
      { finding_id: 70, old_severity: 'urgent' },
      { finding_id: 72, old_severity: 'urgent' },
    ])
    expect(await db.sql.begin((tx) => example.executeTenant(tx, 7, parameters))).toEqual({ updated: 0, total: 3 })
    expect(await migrateService(db.sql, { postgresEventStore: true, runbooks: [...builtInRunbooks, example] })).toEqual([])
  })
})
