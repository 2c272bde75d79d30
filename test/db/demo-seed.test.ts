import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database, Sql } from '../../src/db/database.js'
import { DEMO_INVALID_TENANT_NAME, seedBenchTenants, seedDemo } from '../../src/db/demo-seed.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { platformSchema } from '../../src/db/schema.js'
import { findingsLifecycleBackfill as backfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import { RunbookDataError } from '../../src/runbooks/runbook.js'
import { listUniverse, platformWorkspaceId, universeTenantIds } from '../../src/runbooks/tenant-universe.js'
import { databaseFlavours } from '../support/databases.js'

/** A digest of every seeded row, to compare two seedings. */
async function digest(sql: Sql): Promise<string> {
  const [row] = await sql<Array<{ digest: string }>>`
    select md5(
      (select string_agg(t::text, '|' order by t.id) from tenants t) ||
      (select string_agg(f::text, '|' order by f.id) from findings f)) as digest`
  return row!.digest
}

describe.each(databaseFlavours())('demo seed on $name', ({ open }) => {
  let db: Database
  let seededDigest = ''

  beforeAll(async () => {
    db = await open()
    await applyMigrations(db.sql, [platformSchema])
  })
  afterAll(async () => {
    await db?.close()
  })

  it('seeds a platform tenant, an archived tenant and 24 tenants in workspaces 2..25, once', async () => {
    expect(await seedDemo(db.sql)).toBe(true)
    seededDigest = await digest(db.sql)
    expect(await seedDemo(db.sql)).toBe(false)
    expect(await digest(db.sql)).toBe(seededDigest)

    const [counts] = await db.sql<Array<{ tenants: number; platform: number; archived: number }>>`
      select count(*)::int as tenants, (count(*) filter (where is_platform))::int as platform,
             (count(*) filter (where archived_at is not null))::int as archived
      from tenants`
    expect(counts).toEqual({ tenants: 26, platform: 1, archived: 1 })
    expect(await platformWorkspaceId(db.sql)).toBe(1)
    const universe = await listUniverse(db.sql)
    expect(universe).toHaveLength(24)
    expect(universe.map((t) => t.workspaceId).sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, i) => i + 2))
    expect(new Set(universe.map((t) => t.name)).size).toBe(24)
  })

  it('gives every universe tenant 20 to 60 findings that exercise every rule of SPEC §2', async () => {
    const rows = await db.sql<Array<Record<string, number>>>`
      with tie_groups as (
        select tenant_id, fingerprint, first_seen_at from findings
        where duplicate_of_id is null and first_seen_at is not null
        group by tenant_id, fingerprint, first_seen_at having count(*) > 1
      ), groups_from_created as (
        select tenant_id from findings
        where duplicate_of_id is null and first_seen_at is null
          and fingerprint in (select fingerprint from findings g where g.tenant_id = findings.tenant_id and g.id <> findings.id)
      )
      select t.id::int as tenant,
        count(f.*)::int as total,
        count(*) filter (where f.status = 'open')::int as open,
        count(*) filter (where f.status = 'acknowledged')::int as acknowledged,
        count(*) filter (where f.status = 'fixed' and f.resolved_reason is null)::int as fixed_without_reason,
        count(*) filter (where f.status = 'closed')::int as closed,
        count(*) filter (where f.status = 'reopened')::int as unknown_status,
        count(*) filter (where f.first_seen_at is null)::int as no_first_seen,
        count(*) filter (where f.last_seen_at is null)::int as no_last_seen,
        count(*) filter (where f.last_seen_at < f.first_seen_at)::int as last_before_first,
        count(*) filter (where f.times_seen is null or f.times_seen < 1)::int as bad_times_seen,
        count(*) filter (where f.status = 'resolved' and f.resolved_at is null)::int as resolved_without_time,
        count(*) filter (where f.status <> 'resolved' and f.resolved_at is not null)::int as open_with_resolved_time,
        count(*) filter (where f.duplicate_of_id is not null)::int as consolidated,
        count(distinct f.severity) filter (where f.severity in ('critical', 'high', 'medium', 'low', 'info'))::int as severities,
        (select count(*) from tie_groups g where g.tenant_id = t.id)::int as ties,
        (select count(*) from groups_from_created g where g.tenant_id = t.id)::int as groups_from_created
      from tenants t join findings f on f.tenant_id = t.id
      where not t.is_platform and t.archived_at is null
      group by t.id order by t.id`
    expect(rows).toHaveLength(24)
    for (const row of rows) {
      expect(row.total).toBeGreaterThanOrEqual(20)
      expect(row.total).toBeLessThanOrEqual(60)
      expect(row.severities).toBe(5)
      for (const [rule, count] of Object.entries(row)) {
        if (rule !== 'tenant') expect(count, `tenant ${row.tenant}: ${rule}`).toBeGreaterThan(0)
      }
    }
    const invalid = await db.sql<Array<{ name: string; severity: string }>>`
      select t.name, f.severity from findings f join tenants t on t.id = f.tenant_id
      where f.severity not in ('critical', 'high', 'medium', 'low', 'info')`
    expect(invalid).toEqual([{ name: DEMO_INVALID_TENANT_NAME, severity: 'urgent' }])
  })

  it('repairs every tenant but the invalid one, as its preflight said, and then idempotently', async () => {
    const failed: number[] = []
    let repaired = 0
    for (const tenantId of await universeTenantIds(db.sql)) {
      const preflight = await backfill.preflightTenant(db.sql, tenantId, {})
      const outcome = await db.sql
        .begin((tx) => backfill.executeTenant(tx, tenantId, {}))
        .catch((error: unknown) => error)
      if (outcome instanceof RunbookDataError) {
        failed.push(tenantId)
        expect(outcome.message).toContain(`finding ${outcome.recordId}`)
        continue
      }
      expect(outcome).toEqual({ updated: preflight.affected, total: preflight.total })
      expect(preflight.affected).toBeGreaterThan(0)
      expect(await db.sql.begin((tx) => backfill.executeTenant(tx, tenantId, {}))).toEqual({ updated: 0, total: preflight.total })
      repaired++
    }
    const [umbrella] = await listUniverse(db.sql, 'umbrella')
    expect(failed).toEqual([umbrella!.id])
    expect(repaired).toBe(23)
  })

  it('appends synthetic bench tenants after the existing ids, all repairable', async () => {
    const ids = await seedBenchTenants(db.sql, { tenants: 3, findingsPerTenant: 50 })
    expect(ids).toEqual([27, 28, 29])
    const [counts] = await db.sql<Array<{ findings: number; first: number }>>`
      select count(*)::int as findings, min(id)::int as first from findings where tenant_id in ${db.sql(ids)}`
    expect(counts!.findings).toBe(150)
    expect((await universeTenantIds(db.sql)).slice(-3)).toEqual(ids)
    for (const tenantId of ids) {
      const first = await db.sql.begin((tx) => backfill.executeTenant(tx, tenantId, {}))
      expect(first.total).toBe(50)
      expect(first.updated).toBeGreaterThan(25)
      const [duplicates] = await db.sql<Array<{ count: number }>>`
        select count(*)::int as count from findings where tenant_id = ${tenantId} and duplicate_of_id is not null`
      expect(duplicates!.count).toBe(10)
      expect(await db.sql.begin((tx) => backfill.executeTenant(tx, tenantId, {}))).toEqual({ total: 50, updated: 0 })
    }
  })

  it('is deterministic: seeding an emptied database again gives the very same rows', async () => {
    await db.sql`delete from findings`
    await db.sql`delete from tenants`
    expect(await seedDemo(db.sql)).toBe(true)
    expect(await digest(db.sql)).toBe(seededDigest)
    expect(await seedDemo(db.sql, { seed: 7 })).toBe(false)
  })

  it('changes with the PRNG seed', async () => {
    await db.sql`delete from findings`
    await db.sql`delete from tenants`
    expect(await seedDemo(db.sql, { seed: 7 })).toBe(true)
    expect(await digest(db.sql)).not.toBe(seededDigest)
  })
})

