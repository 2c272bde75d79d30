import { afterEach, describe, expect, it } from 'vitest'
import { connectPostgres, type Database, type Sql } from '../../src/db/database.js'
import { applyMigrations, migrationChecksum, MigrationError, type MigrationSet } from '../../src/db/migrations.js'
import { databaseFlavours, freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'

const widgets: MigrationSet = {
  owner: 'widgets',
  migrations: [
    { version: 1, name: 'create widgets', statements: ['create table widgets (id bigint primary key)'] },
    { version: 2, name: 'widget names', statements: ['alter table widgets add column name text null'] },
  ],
}
const gadgets: MigrationSet = {
  owner: 'gadgets',
  migrations: [
    {
      version: 1,
      name: 'create gadgets',
      statements: ['create table gadgets (id bigint primary key, widget_id bigint not null references widgets(id))'],
    },
  ],
}

function upTo(set: MigrationSet, version: number): MigrationSet {
  return { owner: set.owner, migrations: set.migrations.slice(0, version) }
}

async function recorded(sql: Sql): Promise<Array<{ owner: string; version: number; name: string; checksum: string }>> {
  return sql`select owner, version, name, checksum from schema_migrations order by applied_at, owner, version`
}

async function tableExists(sql: Sql, table: string): Promise<boolean> {
  const [row] = await sql<Array<{ exists: boolean }>>`select to_regclass(${table}) is not null as exists`
  return row!.exists
}

describe.each(databaseFlavours())('versioned migrations on $name', ({ open }) => {
  let db: Database | null = null
  afterEach(async () => {
    await db?.close()
    db = null
  })

  it('applies every set in the given order, each in version order, and records each migration with its checksum', async () => {
    db = await open()
    const applied = await applyMigrations(db.sql, [widgets, gadgets])
    expect(applied).toEqual([
      { owner: 'widgets', version: 1, name: 'create widgets' },
      { owner: 'widgets', version: 2, name: 'widget names' },
      { owner: 'gadgets', version: 1, name: 'create gadgets' },
    ])
    expect(await recorded(db.sql)).toEqual([
      { owner: 'gadgets', version: 1, name: 'create gadgets', checksum: migrationChecksum(gadgets.migrations[0]!) },
      { owner: 'widgets', version: 1, name: 'create widgets', checksum: migrationChecksum(widgets.migrations[0]!) },
      { owner: 'widgets', version: 2, name: 'widget names', checksum: migrationChecksum(widgets.migrations[1]!) },
    ])
    await db.sql`insert into widgets (id, name) values (1, 'one')`
    await db.sql`insert into gadgets (id, widget_id) values (1, 1)`
  })

  it('applies nothing the second time', async () => {
    db = await open()
    await applyMigrations(db.sql, [widgets, gadgets])
    const before = await recorded(db.sql)
    expect(await applyMigrations(db.sql, [widgets, gadgets])).toEqual([])
    expect(await recorded(db.sql)).toEqual(before)
  })

  it('applies a migration added by a later release alone, keeping the rows', async () => {
    db = await open()
    expect(await applyMigrations(db.sql, [upTo(widgets, 1)])).toHaveLength(1)
    await db.sql`insert into widgets (id) values (7)`
    expect(await applyMigrations(db.sql, [widgets])).toEqual([{ owner: 'widgets', version: 2, name: 'widget names' }])
    expect(await db.sql`select id::int, name from widgets`).toEqual([{ id: 7, name: null }])
  })

  it('refuses a migration changed after it was applied, and applies nothing of the call', async () => {
    db = await open()
    await applyMigrations(db.sql, [upTo(widgets, 1)])
    const changed: MigrationSet = {
      owner: 'widgets',
      migrations: [
        { version: 1, name: 'create widgets', statements: ['create table widgets (id bigint primary key, extra text)'] },
        widgets.migrations[1]!,
      ],
    }
    const error = await applyMigrations(db.sql, [changed, gadgets]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MigrationError)
    expect((error as Error).message).toContain('migration widgets v1 (create widgets) was changed after it was applied')
    expect((await recorded(db.sql)).map((r) => `${r.owner} v${r.version}`)).toEqual(['widgets v1'])
    expect(await tableExists(db.sql, 'gadgets')).toBe(false)
    const columns = await db.sql`select column_name from information_schema.columns where table_name = 'widgets'`
    expect(columns.map((c) => c.column_name)).toEqual(['id'])
  })

  it('refuses a database migrated by a newer release (no downgrade), and applies nothing of the call', async () => {
    db = await open()
    await applyMigrations(db.sql, [widgets])
    const error = await applyMigrations(db.sql, [gadgets, upTo(widgets, 1)]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MigrationError)
    expect((error as Error).message).toContain('the database was migrated by a newer release (widgets v2); this release knows up to v1')
    expect(await tableExists(db.sql, 'gadgets')).toBe(false)
    expect(await recorded(db.sql)).toHaveLength(2)
  })

  it('refuses sets whose versions have a gap or a duplicate, or two sets of one owner, before touching the database', async () => {
    db = await open()
    const gap: MigrationSet = { owner: 'widgets', migrations: [widgets.migrations[0]!, { ...widgets.migrations[1]!, version: 3 }] }
    const duplicate: MigrationSet = { owner: 'widgets', migrations: [widgets.migrations[0]!, { ...widgets.migrations[1]!, version: 1 }] }
    const notFromOne: MigrationSet = { owner: 'widgets', migrations: [{ ...widgets.migrations[1]!, version: 2 }] }
    await expect(applyMigrations(db.sql, [gap])).rejects.toThrow(/migrations of widgets must be numbered 1\.\.n.*found v3/)
    await expect(applyMigrations(db.sql, [duplicate])).rejects.toThrow(/migrations of widgets must be numbered 1\.\.n.*found v1/)
    await expect(applyMigrations(db.sql, [notFromOne])).rejects.toThrow(MigrationError)
    await expect(applyMigrations(db.sql, [widgets, gadgets, upTo(widgets, 1)])).rejects.toThrow('two migration sets share the owner widgets')
    expect(await tableExists(db.sql, 'schema_migrations')).toBe(false)
    expect(await tableExists(db.sql, 'widgets')).toBe(false)
  })

  it('rolls the whole call back when a statement fails: no row and no table of any migration of it', async () => {
    db = await open()
    const broken: MigrationSet = {
      owner: 'widgets',
      migrations: [
        widgets.migrations[0]!,
        { version: 2, name: 'widget parts', statements: ['create table widget_parts (id bigint primary key)', 'select 1 / 0'] },
      ],
    }
    const error = await applyMigrations(db.sql, [broken]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MigrationError)
    expect((error as Error).message).toMatch(/^migration widgets v2 \(widget parts\) failed, nothing was applied: .*division by zero/)
    expect(await tableExists(db.sql, 'widget_parts')).toBe(false)
    expect(await tableExists(db.sql, 'widgets')).toBe(false)
    expect(await tableExists(db.sql, 'schema_migrations')).toBe(false)

    // With v1 applied before, the failing v2 leaves v1 (and its rows) exactly as they were.
    await applyMigrations(db.sql, [upTo(widgets, 1)])
    await db.sql`insert into widgets (id) values (1)`
    await expect(applyMigrations(db.sql, [broken])).rejects.toThrow(MigrationError)
    expect((await recorded(db.sql)).map((r) => `${r.owner} v${r.version}`)).toEqual(['widgets v1'])
    expect(await tableExists(db.sql, 'widget_parts')).toBe(false)
    expect(await db.sql`select id::int from widgets`).toEqual([{ id: 1 }])
  })
})

describe('versioned migrations started by several processes at once on PostgreSQL', () => {
  // Only a PostgreSQL server has several connections; the embedded database serves one at a time.
  it.skipIf(!TEST_POSTGRES_URL)('applies each migration exactly once, without an error, one process at a time', async () => {
    const db = await freshPostgresDatabase()
    const processes: Database[] = []
    try {
      for (let i = 0; i < 5; i++) processes.push(await connectPostgres(db.url, { max: 1 }))
      // Not idempotent on purpose: a second application would fail, and every application is logged.
      const sets: MigrationSet[] = [
        {
          owner: 'widgets',
          migrations: [
            {
              version: 1,
              name: 'create widgets',
              statements: [
                'create table widgets (id bigint primary key)',
                'create table applications (migration text not null)',
                `insert into applications values ('widgets v1')`,
                'select pg_sleep(0.2)',
              ],
            },
            { version: 2, name: 'widget names', statements: ['alter table widgets add column name text', `insert into applications values ('widgets v2')`] },
          ],
        },
        {
          owner: 'gadgets',
          migrations: [{ version: 1, name: 'create gadgets', statements: ['create table gadgets (id bigint)', `insert into applications values ('gadgets v1')`] }],
        },
      ]
      const results = await Promise.allSettled(processes.map((p) => applyMigrations(p.sql, sets)))
      expect(results.map((r) => r.status)).toEqual(Array(5).fill('fulfilled'))
      const applied = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []))
      expect(applied.map((a) => `${a.owner} v${a.version}`).sort()).toEqual(['gadgets v1', 'widgets v1', 'widgets v2'])
      // One process applied everything; the others found it applied.
      expect(results.filter((r) => r.status === 'fulfilled' && r.value.length > 0)).toHaveLength(1)
      const logged = await db.sql`select migration from applications order by migration`
      expect(logged.map((r) => r.migration)).toEqual(['gadgets v1', 'widgets v1', 'widgets v2'])
      expect(await recorded(db.sql)).toHaveLength(3)
    } finally {
      for (const p of processes) await p.close()
      await db.close()
    }
  })
})
