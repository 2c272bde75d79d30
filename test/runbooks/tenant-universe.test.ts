import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/database.js'
import {
  isInUniverse,
  listUniverse,
  platformWorkspaceId,
  tenantWorkspaceId,
  universeTenantIds,
} from '../../src/runbooks/tenant-universe.js'
import { databaseFlavours } from '../support/databases.js'
import { createPlatformTables, insertTenant } from './findings-fixture.js'

describe.each(databaseFlavours())('tenant universe on $name', ({ open }) => {
  let db: Database

  beforeAll(async () => {
    db = await open()
    await createPlatformTables(db.sql)
  })
  afterAll(async () => {
    await db?.close()
  })

  it('answers empty before any tenant exists', async () => {
    expect(await listUniverse(db.sql)).toEqual([])
    expect(await universeTenantIds(db.sql)).toEqual([])
    expect(await platformWorkspaceId(db.sql)).toBeNull()
    expect(await tenantWorkspaceId(db.sql, 1)).toBeNull()
  })

  describe('with tenants', () => {
    beforeAll(async () => {
      await insertTenant(db.sql, { id: 1, workspaceId: 7, name: 'Platform', isPlatform: true })
      await insertTenant(db.sql, { id: 9_007_199_254_740_000, workspaceId: 9_007_199_254_740_001, name: 'Big Ids Ltd' })
      await insertTenant(db.sql, { id: 20, workspaceId: 2, name: 'Acme Corp' })
      await insertTenant(db.sql, { id: 3, workspaceId: 3, name: 'Acme Corp' })
      await insertTenant(db.sql, { id: 4, workspaceId: 4, name: 'Old Acme', archivedAt: new Date('2024-01-01T00:00:00Z') })
      await insertTenant(db.sql, { id: 5, workspaceId: 5, name: '100% Pure_Data' })
      await insertTenant(db.sql, { id: 6, workspaceId: 6, name: '1000 Pure Data' })
      await insertTenant(db.sql, { id: 8, workspaceId: 8, name: 'Back\\slash' })
      // Beyond what a JSON number names exactly (2^53 − 1): left out, never mistaken for a neighbour.
      await db.sql`insert into tenants (id, workspace_id, name) values (9007199254740993, 9, 'Too Big Id'), (10, 9007199254740993, 'Too Big Workspace')`
      // Ids no API field or event takes (they are positive): left out, so that an all-tenants run can target them all.
      await db.sql`insert into tenants (id, workspace_id, name) values (0, 11, 'Zero Id'), (-7, 12, 'Negative Id'), (11, -9007199254740993, 'Too Small Workspace')`
    })

    it('lists the universe by name then id, without the platform and archived tenants, ids as numbers', async () => {
      expect(await listUniverse(db.sql)).toEqual([
        { id: 5, workspaceId: 5, name: '100% Pure_Data' },
        { id: 6, workspaceId: 6, name: '1000 Pure Data' },
        // Equal names: the lower id first (numerically, 3 before 20).
        { id: 3, workspaceId: 3, name: 'Acme Corp' },
        { id: 20, workspaceId: 2, name: 'Acme Corp' },
        { id: 8, workspaceId: 8, name: 'Back\\slash' },
        { id: 9_007_199_254_740_000, workspaceId: 9_007_199_254_740_001, name: 'Big Ids Ltd' },
      ])
    })

    it('filters by a case-insensitive substring in which % and _ match literally', async () => {
      expect((await listUniverse(db.sql, 'aCME')).map((t) => t.id)).toEqual([3, 20])
      expect((await listUniverse(db.sql, '%')).map((t) => t.id)).toEqual([5])
      expect((await listUniverse(db.sql, '_')).map((t) => t.id)).toEqual([5])
      expect((await listUniverse(db.sql, 'pure_')).map((t) => t.id)).toEqual([5])
      expect((await listUniverse(db.sql, 'k\\s')).map((t) => t.id)).toEqual([8])
      expect(await listUniverse(db.sql, 'old acme')).toEqual([])
      expect(await listUniverse(db.sql, 'platform')).toEqual([])
      expect((await listUniverse(db.sql, '')).length).toBe(6)
    })

    it('limits the list', async () => {
      expect((await listUniverse(db.sql, undefined, 2)).map((t) => t.id)).toEqual([5, 6])
      expect(await listUniverse(db.sql, undefined, 0)).toEqual([])
    })

    it('gives the universe ids sorted ascending', async () => {
      expect(await universeTenantIds(db.sql)).toEqual([3, 5, 6, 8, 20, 9_007_199_254_740_000])
    })

    it('tells whether a tenant is in the universe', async () => {
      expect(await isInUniverse(db.sql, 3)).toBe(true)
      expect(await isInUniverse(db.sql, 1)).toBe(false)
      expect(await isInUniverse(db.sql, 4)).toBe(false)
      expect(await isInUniverse(db.sql, 404)).toBe(false)
      expect(await isInUniverse(db.sql, 10)).toBe(false)
    })

    it('finds the platform workspace and the workspace of any tenant', async () => {
      expect(await platformWorkspaceId(db.sql)).toBe(7)
      expect(await tenantWorkspaceId(db.sql, 20)).toBe(2)
      expect(await tenantWorkspaceId(db.sql, 4)).toBe(4)
      expect(await tenantWorkspaceId(db.sql, 404)).toBeNull()
    })

    it('works inside a transaction', async () => {
      const ids = await db.sql.begin((tx) => universeTenantIds(tx))
      expect(ids).toHaveLength(6)
    })
  })
})
