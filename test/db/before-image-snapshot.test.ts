import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { beforeImageSchema, keepBeforeImages, readBeforeImages, repairTransaction, revertTenantRows, snapshotTenantRows } from '../../src/db/before-images.js'
import type { Database } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { databaseFlavours } from '../support/databases.js'

/**
 * The snapshot a repair's before-images are diffed against is a cursor declared before the repair
 * (migration v4): it gives the tenant's rows as they were then, with the table's columns and types as they
 * are now, on a session that lives through migrations of the table.
 */
describe.each(databaseFlavours())('before-image snapshots of a session on $name', ({ open }) => {
  let db: Database

  beforeAll(async () => {
    db = await open()
    await applyMigrations(db.sql, [beforeImageSchema])
    await db.sql`create table gadgets (id bigint primary key, tenant_id bigint not null, colour text, updated_at timestamptz)`
    await db.sql`insert into gadgets values (1, 7, 'red', null), (2, 7, 'blue', null), (3, 8, 'green', null)`
  })
  afterAll(async () => {
    await db?.close()
  })

  /** One repair transaction on one reserved session: snapshot → change → keep. */
  async function repair(session: Awaited<ReturnType<Database['sql']['reserve']>>, runId: string, tenantId: number, change: string) {
    await session`begin`
    try {
      const snapshots = await snapshotTenantRows(session as never, tenantId, ['gadgets'])
      await session.unsafe(change)
      const kept = await keepBeforeImages(session as never, runId, tenantId, snapshots)
      await session`commit`
      return { kept }
    } catch (error) {
      await session`rollback`
      throw error
    }
  }

  it("images only the tenant's changed rows, one transaction after another on one session, and follows a change of columns", async () => {
    const session = await db.sql.reserve()
    try {
      // Tenant 8's row changes in the same statement: it is not tenant 7's change.
      const first = await repair(session, 'run-a', 7, `update gadgets set colour = 'black' where id in (1, 3)`)
      expect(first).toEqual({ kept: 1 })
      expect((await readBeforeImages(session as never, 'run-a')).map((image) => [image.tenantId, image.rowId, image.before])).toEqual([[7, 1, { colour: 'red' }]])
      // The next transaction declares its cursor again (the last one ended with its transaction).
      const second = await repair(session, 'run-a', 8, `update gadgets set colour = 'white' where id = 3`)
      expect(second).toEqual({ kept: 1 })
      expect((await readBeforeImages(session as never, 'run-a', 8)).map((image) => [image.rowId, image.before])).toEqual([[3, { colour: 'black' }]])

      // A migration adds a column while the session lives (through this session: the embedded database has one).
      await session`alter table gadgets add column size integer`
      const third = await repair(session, 'run-b', 7, `update gadgets set size = 3 where id = 2`)
      expect(third).toEqual({ kept: 1 })
      expect((await readBeforeImages(session as never, 'run-b')).map((image) => [image.rowId, image.before])).toEqual([[2, { size: null }]])

      // Types that change without a column's name or base type changing: a length, a scale, a NOT NULL.
      await session`alter table gadgets alter column colour type varchar(5), add column price numeric(8,2) not null default 1.25`
      expect(await repair(session, 'run-c', 7, `update gadgets set price = 2.5 where id = 1`)).toEqual({ kept: 1 })
      await session`alter table gadgets alter column colour type varchar(20), alter column price type numeric(8,4), alter column price drop not null`
      await session`update gadgets set colour = 'ultramarine', price = 1.2345 where id = 2`
      await session`update gadgets set price = null where id = 1`
      expect(await repair(session, 'run-d', 7, `update gadgets set price = 9.8765 where id = 2`)).toEqual({ kept: 1 })
      expect((await readBeforeImages(session as never, 'run-d')).map((image) => [image.rowId, image.before])).toEqual([[2, { price: 1.2345 }]])
    } finally {
      session.release()
    }
  })

  /** A revert of `runId`'s images of `tenantId`, in one transaction. */
  const revert = (runId: string, tenantId: number) => db.sql.begin((tx) => revertTenantRows(tx, runId, tenantId))

  it('a revert compares what the run wrote by hash: an edit of a column the run wrote blocks it, an edit of another does not', async () => {
    await db.sql`create table widgets (id bigint primary key, tenant_id bigint not null, colour text, size integer, note text, updated_at timestamptz)`
    await db.sql`insert into widgets values (1, 5, 'red', 1, 'a', null), (2, 5, 'blue', null, 'b', null), (3, 5, 'green', 3, 'c', null)`
    const session = await db.sql.reserve()
    try {
      await session`begin`
      const snapshots = await snapshotTenantRows(session as never, 5, ['widgets'])
      await session`update widgets set colour = 'black', size = null where id = 1`
      await session`update widgets set size = 2 where id = 2`
      await session`update widgets set colour = 'white' where id = 3`
      expect(await keepBeforeImages(session as never, 'run-h', 5, snapshots)).toBe(3)
      await session`commit`
    } finally {
      session.release()
    }
    // Row 1: a column the run wrote changed since (null → 0). Row 2: a column the run did not write.
    await db.sql`update widgets set size = 0 where id = 1`
    await db.sql`update widgets set note = 'edited' where id = 2`
    expect(await revert('run-h', 5)).toEqual({ total: 3, updated: 2 })
    expect(await db.sql`select id, colour, size, note from widgets order by id`).toEqual([
      { id: '1', colour: 'black', size: 0, note: 'a' },
      { id: '2', colour: 'blue', size: null, note: 'edited' },
      { id: '3', colour: 'green', size: 3, note: 'c' },
    ])
  })

  it('reverts images written before migration v4 ({column: [before, after]}) and leaves alone the rows changed since', async () => {
    await db.sql`create table sprockets (id bigint primary key, tenant_id bigint not null, colour text, teeth integer, updated_at timestamptz)`
    await db.sql`insert into sprockets values (1, 4, 'black', 12, null), (2, 4, 'white', 20, null), (3, 4, 'grey', 8, null)`
    await db.sql`
      insert into ops_before_images (run_id, tenant_id, table_name, images, row_count)
      values ('run-old', 4, 'sprockets', ${JSON.stringify({
        1: { colour: ['red', 'black'], teeth: [10, 12] },
        2: { colour: ['blue', 'white'] },
        3: { teeth: [6, 7] },
      })}::text::json, 3)`
    // Row 3 no longer holds what the old run wrote (7): left alone.
    expect(await revert('run-old', 4)).toEqual({ total: 3, updated: 2 })
    expect(await db.sql`select id, colour, teeth from sprockets order by id`).toEqual([
      { id: '1', colour: 'red', teeth: 10 },
      { id: '2', colour: 'blue', teeth: 20 },
      { id: '3', colour: 'grey', teeth: 8 },
    ])
    expect((await readBeforeImages(db.sql, 'run-old')).map((image) => [image.rowId, image.before])).toEqual([
      [1, { colour: 'red', teeth: 10 }],
      [2, { colour: 'blue' }],
      [3, { teeth: 6 }],
    ])
  })

  it('after a column is dropped, puts back the rows in which the run did not write it and leaves alone those in which it did', async () => {
    await db.sql`create table cogs (id bigint primary key, tenant_id bigint not null, colour text, spare text, size integer, updated_at timestamptz)`
    await db.sql`insert into cogs values (1, 6, 'red', 'x', 1, null), (2, 6, 'blue', 'y', 2, null), (3, 6, 'green', 'z', 3, null)`
    const session = await db.sql.reserve()
    try {
      await session`begin`
      const snapshots = await snapshotTenantRows(session as never, 6, ['cogs'])
      await session`update cogs set colour = 'black' where id in (1, 2)`
      await session`update cogs set spare = 'w', size = 30 where id = 3`
      expect(await keepBeforeImages(session as never, 'run-dropped', 6, snapshots)).toBe(3)
      await session`commit`
    } finally {
      session.release()
    }
    await db.sql`alter table cogs drop column spare`
    expect(await revert('run-dropped', 6)).toEqual({ total: 3, updated: 2 })
    expect(await db.sql`select id, colour, size from cogs order by id`).toEqual([
      { id: '1', colour: 'red', size: 1 },
      { id: '2', colour: 'blue', size: 2 },
      { id: '3', colour: 'green', size: 30 },
    ])
  })

  it('compares and hashes exactly, whatever the session, columns whose equality is not identity or that have no hash (numeric scale, json, tsvector, ranges)', async () => {
    await db.sql`
      create table notes (id bigint primary key, tenant_id bigint not null, body json, search tsvector, tags text[],
        amount numeric, span daterange, updated_at timestamptz)`
    await db.sql`
      insert into notes values
        (1, 3, '{"a": 1}', to_tsvector('simple', 'red fox'), '{x}', 1.0, '[2020-01-02,2020-05-02)', null),
        (2, 3, '{"a": 2}', to_tsvector('simple', 'blue fox'), '{y}', 2.0, '[2020-02-01,2020-02-05)', null),
        (3, 3, '{"a": 3}', to_tsvector('simple', 'grey fox'), '{z}', 3.0, '[2020-03-01,2020-03-05)', null),
        (4, 3, '{"a": 4}', to_tsvector('simple', 'pink fox'), '{v}', 4.0, '[2020-04-01,2020-04-05)', null)`
    const read = () => db.sql`select id, body::text, search::text, tags, amount::text, span::text from notes order by id`
    const before = await read()
    const session = await db.sql.reserve()
    try {
      await session`begin`
      // Settings that change how values print: the revert runs with the defaults.
      await session`select set_config('DateStyle', 'SQL, DMY', true), set_config('extra_float_digits', '0', true), set_config('TimeZone', 'Asia/Kolkata', true)`
      const snapshots = await snapshotTenantRows(session as never, 3, ['notes'])
      await session`update notes set body = '{"a": 10}', search = to_tsvector('simple', 'black cat'), tags = '{w}', span = '[2021-01-01,2021-01-02)' where id < 4`
      // Equal as numeric, not the same value: a change the run made, with its before-image.
      await session`update notes set amount = 4.00 where id = 4`
      expect(await keepBeforeImages(session as never, 'run-exact', 3, snapshots)).toBe(4)
      await session`commit`
    } finally {
      session.release()
    }
    // Changed since in a column the run wrote: row 2 (json), row 3 (tsvector); row 4 only in its scale.
    await db.sql`update notes set body = '{"a": 20}' where id = 2`
    await db.sql`update notes set search = to_tsvector('simple', 'white cat') where id = 3`
    await db.sql`update notes set amount = 4.000 where id = 4`
    expect(await revert('run-exact', 3)).toEqual({ total: 4, updated: 1 })
    const after = await read()
    expect(after[0]).toEqual(before[0])
    expect(after.slice(1)).toEqual([
      { id: '2', body: '{"a": 20}', search: "'black':1 'cat':2", tags: ['w'], amount: '2.0', span: '[2021-01-01,2021-01-02)' },
      { id: '3', body: '{"a": 10}', search: "'cat':2 'white':1", tags: ['w'], amount: '3.0', span: '[2021-01-01,2021-01-02)' },
      { id: '4', body: '{"a": 4}', search: "'fox':2 'pink':1", tags: ['v'], amount: '4.000', span: '[2020-04-01,2020-04-05)' },
    ])
  })

  it('a repair transaction runs statements as the transaction does and refuses savepoints (their rows would escape the before-images)', async () => {
    const seen = await db.sql.begin(async (tx) => {
      const repair = repairTransaction(tx)
      const [row] = await repair<Array<{ n: number }>>`select 41 + 1 as n`
      const [unsafe] = await repair.unsafe<Array<{ n: number }>>('select $1::int as n', [7])
      const refused = await repair.savepoint(async (sp) => sp`select 1`).then(
        () => 'allowed',
        (error: Error) => error.message,
      )
      return { tagged: row!.n, unsafe: unsafe!.n, refused }
    })
    expect(seen).toEqual({ tagged: 42, unsafe: 7, refused: 'a runbook repairs in one transaction: savepoints would lose before-images' })
  })
})
