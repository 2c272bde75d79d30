import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { beforeImageSchema, keepBeforeImages, readBeforeImages, snapshotTenantRows } from '../../src/db/before-images.js'
import type { Database } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { databaseFlavours } from '../support/databases.js'

/**
 * The snapshot a repair's before-images are diffed against lives in a temporary table the session keeps
 * (migration v2): emptied by every commit, made again when the repaired table's columns changed.
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
      const [counted] = await session<Array<{ rows: number }>>`select count(*)::int as rows from pg_temp.ops_snapshot_gadgets`
      await session`commit`
      return { kept, rowsInSnapshot: counted!.rows }
    } catch (error) {
      await session`rollback`
      throw error
    }
  }

  it('reuses one snapshot table per session, holding only the current tenant, and follows a change of columns', async () => {
    const session = await db.sql.reserve()
    try {
      const first = await repair(session, 'run-a', 7, `update gadgets set colour = 'black' where id = 1`)
      expect(first).toEqual({ kept: 1, rowsInSnapshot: 2 })
      const oidOfSnapshot = async () => (await session<Array<{ oid: number }>>`select 'pg_temp.ops_snapshot_gadgets'::regclass::oid::int as oid`)[0]!.oid
      const before = await oidOfSnapshot()
      // Emptied by the commit: the next tenant's snapshot holds only its own rows.
      expect(await session`select * from pg_temp.ops_snapshot_gadgets`).toHaveLength(0)
      const second = await repair(session, 'run-a', 8, `update gadgets set colour = 'white' where id = 3`)
      expect(second).toEqual({ kept: 1, rowsInSnapshot: 1 })
      expect(await oidOfSnapshot()).toBe(before)

      // A migration adds a column while the session lives (through this session: the embedded database has one).
      await session`alter table gadgets add column size integer`
      const third = await repair(session, 'run-b', 7, `update gadgets set size = 3 where id = 2`)
      expect(third).toEqual({ kept: 1, rowsInSnapshot: 2 })
      expect((await readBeforeImages(session as never, 'run-b')).map((image) => [image.rowId, image.before, image.after])).toEqual([[2, { size: null }, { size: 3 }]])

      // Types that change without a column's name or base type changing: a length, a scale, a NOT NULL.
      await session`alter table gadgets alter column colour type varchar(5), add column price numeric(8,2) not null default 1.25`
      expect(await repair(session, 'run-c', 7, `update gadgets set price = 2.5 where id = 1`)).toEqual({ kept: 1, rowsInSnapshot: 2 })
      await session`alter table gadgets alter column colour type varchar(20), alter column price type numeric(8,4), alter column price drop not null`
      await session`update gadgets set colour = 'ultramarine', price = 1.2345 where id = 2`
      await session`update gadgets set price = null where id = 1`
      expect(await repair(session, 'run-d', 7, `update gadgets set price = 9.8765 where id = 2`)).toEqual({ kept: 1, rowsInSnapshot: 2 })
      expect((await readBeforeImages(session as never, 'run-d')).map((image) => [image.rowId, image.before, image.after])).toEqual([
        [2, { price: 1.2345 }, { price: 9.8765 }],
      ])
    } finally {
      session.release()
    }
  })
})
