import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { verifyAuditChain } from '../../src/projections/audit-chain.js'
import { Projector } from '../../src/projections/projector.js'
import { formatRebuildReport, readModelChecksums, rebuildReadModels, RebuildNotSwitchedError } from '../../src/projections/read-model-rebuild.js'
import { readModelProjections, readModelProjector, readModelProjectorName, rebuiltReadModelTables } from '../../src/projections/read-model-projections.js'
import { databaseFlavours, freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'
import { appendControlledRun, appendRun, dumpReadModels, openTestBed, type TestBed } from './fixtures.js'
import { appendScenario } from './scenario.js'

const consoleBaseUrl = 'https://ops.example.com'

async function appendCompletedRun(bed: TestBed, runId: string, minute: number): Promise<void> {
  const t = (second: number) => new Date(Date.UTC(2025, 4, 1, 9, minute, second)).toISOString()
  await appendRun(bed, {
    requested: { runId, requestedAt: t(0) },
    startedAt: t(1),
    results: [{ tenantId: 11, result: { status: 'failed', reasonCode: 'INVALID_DATA', message: 'odd finding' }, at: t(2) }],
    completed: {
      outcome: 'failed',
      summaryCounts: { total: 0, processed: 0, updated: 0, skipped: 0, failed: 1 },
      failureSummary: [{ tenantId: 11, reasonCode: 'INVALID_DATA', message: 'odd finding' }],
      completedAt: t(3),
    },
  })
}

/** The live tables' columns, indexes and constraints: what the new tables must have too. */
const tableShapes = async (bed: TestBed) => ({
  columns: await bed.sql`
    select table_name, column_name, ordinal_position, data_type, is_nullable, column_default from information_schema.columns
    where table_schema = current_schema() and table_name = any(${[...rebuiltReadModelTables]}::text[]) order by table_name, ordinal_position`,
  indexes: await bed.sql`
    select tablename, indexname, indexdef from pg_indexes
    where schemaname = current_schema() and tablename = any(${[...rebuiltReadModelTables]}::text[]) order by indexname`,
  constraints: await bed.sql`
    select conname, pg_get_constraintdef(c.oid) as definition from pg_constraint c
    where connamespace = current_schema()::regnamespace and conrelid::regclass::text = any(${[...rebuiltReadModelTables]}::text[]) order by conname`,
})

const leftoverSchemas = async (bed: TestBed) =>
  (await bed.sql<Array<{ name: string }>>`select nspname as name from pg_namespace where nspname like 'rebuild\\_%' or nspname like 'retired\\_%'`).map((r) => r.name)

describe.each(databaseFlavours())('rebuildReadModels on $name', ({ open }) => {
  let bed: TestBed
  let live: Projector

  beforeEach(async () => {
    bed = await openTestBed(open)
    live = readModelProjector({ store: bed.store, sql: bed.sql, consoleBaseUrl, batchSize: 7 })
  })
  afterEach(async () => {
    await live.stop()
    await bed.db.close()
  })

  it('builds new tables from zero and switches to them: the same rows, checksums and audit hashes; alert deliveries untouched', async () => {
    await appendScenario(bed)
    await appendControlledRun(bed)
    await bed.settle()
    await live.waitUntilCaughtUp()
    // Deliveries are a record (a sender marks them): a rebuild neither resets them nor raises old alerts to a destination added since.
    await bed.sql`update alert_deliveries set status = 'sent'`
    await bed.sql`insert into alert_destinations (id, workspace_id, kind, target, enabled) values ('dest-new', 100, 'email', 'new@ops.example', true)`
    const before = await dumpReadModels(bed.sql)
    expect(before.alert_deliveries!.length).toBeGreaterThan(0)
    const chainBefore = await verifyAuditChain(bed.sql)
    expect(chainBefore.ok).toBe(true)
    const checksumsBefore = await readModelChecksums(bed.sql)
    const shapeBefore = await tableShapes(bed)
    expect(shapeBefore.indexes.length).toBeGreaterThan(10)
    const eventCount = (await bed.store.readAll({ maxCount: 10_000 })).length

    const report = await rebuildReadModels({ sql: bed.sql, store: bed.store, consoleBaseUrl, batchSize: 5 })

    expect(report.same).toBe(true)
    expect(report.events).toBe(eventCount)
    expect(report.tables.map((t) => t.table)).toEqual([...rebuiltReadModelTables])
    for (const t of report.tables) {
      expect(t.after).toEqual(t.before)
      expect(t.before).toEqual(checksumsBefore.get(t.table))
    }
    expect(report.tables.find((t) => t.table === 'operation_runs')!.after.rows).toBeGreaterThan(0)
    expect(await dumpReadModels(bed.sql)).toEqual(before)
    expect(await verifyAuditChain(bed.sql)).toEqual(chainBefore)
    expect(await leftoverSchemas(bed)).toEqual([])
    expect(await tableShapes(bed)).toEqual(shapeBefore)
    const printed = formatRebuildReport(report)
    expect(printed).toContain('checksums match')
    expect(printed).toContain(`operation_runs`)
    expect(printed).not.toContain('CHANGED')
  })

  it('repairs tables edited by hand and says which changed', async () => {
    await appendScenario(bed)
    await appendCompletedRun(bed, 'run-edited', 1)
    await bed.settle()
    await live.waitUntilCaughtUp()
    const good = await dumpReadModels(bed.sql)
    await bed.sql`update operation_runs set status = 'running' where id = 'run-edited'`
    await bed.sql`delete from audit_log where sequence = 2`
    expect((await verifyAuditChain(bed.sql)).ok).toBe(false)

    const report = await rebuildReadModels({ sql: bed.sql, store: bed.store, consoleBaseUrl })

    expect(report.same).toBe(false)
    expect(report.tables.filter((t) => !t.same).map((t) => t.table)).toEqual(['operation_runs', 'audit_log'])
    expect(formatRebuildReport(report)).toMatch(/operation_runs .* CHANGED/)
    expect(await dumpReadModels(bed.sql)).toEqual(good)
    expect((await verifyAuditChain(bed.sql)).ok).toBe(true)
  })

  it("tells rows apart, not only each column's values: values swapped between two rows change a table's checksum", async () => {
    const tenants = Array.from({ length: 13 }, (_, index) => index + 1)
    await bed.sql`
      insert into operation_run_tenants (run_id, tenant_id, status, total, updated, attempt)
      select 'run-swapped', t, 'succeeded', t * 7, t * 3, 1 from unnest(${tenants}::bigint[]) as t`
    const checksum = async () => (await readModelChecksums(bed.sql)).get('operation_run_tenants')!
    const original = await checksum()
    // Tenant `a` gets the total `ofA` and the tenant after it `ofNext`.
    const setTotals = (a: number, ofA: number, ofNext: number) => bed.sql`
      update operation_run_tenants set total = case tenant_id when ${a} then ${ofA}::int else ${ofNext}::int end
      where run_id = 'run-swapped' and tenant_id in (${a}, ${a + 1})`
    const undetected: number[] = []
    for (const tenant of tenants.slice(0, -1)) {
      await setTotals(tenant, (tenant + 1) * 7, tenant * 7)
      const swapped = await checksum()
      expect(swapped.rows).toBe(original.rows)
      if (swapped.checksum === original.checksum) undetected.push(tenant)
      await setTotals(tenant, tenant * 7, (tenant + 1) * 7)
    }
    expect(undetected).toEqual([])
    expect(await checksum()).toEqual(original)
  })

  it('fails, changing nothing, rather than drop what depends on a live table (a view over operation_runs)', async () => {
    await appendScenario(bed)
    await bed.settle()
    await live.waitUntilCaughtUp()
    await bed.sql`create view run_ids as select id from operation_runs`
    const before = await dumpReadModels(bed.sql)
    await expect(rebuildReadModels({ sql: bed.sql, store: bed.store, consoleBaseUrl })).rejects.toThrow(/depend/)
    expect(await dumpReadModels(bed.sql)).toEqual(before)
    expect((await bed.sql`select id from run_ids`).length).toBe(before.operation_runs!.length)
    expect(await leftoverSchemas(bed)).toEqual([])
  })

  it('catches a live checkpoint that is behind up in the switch, and leaves it at the same position as the new tables', async () => {
    await appendScenario(bed)
    await bed.settle()
    await live.waitUntilCaughtUp()
    await appendCompletedRun(bed, 'run-late', 2)
    await bed.settle()
    // Not projected live yet: the switch applies these to the live tables (alerts included) and to the new ones.
    const report = await rebuildReadModels({ sql: bed.sql, store: bed.store, consoleBaseUrl })
    expect(report.same).toBe(true)
    const all = await bed.store.readAll({ maxCount: 10_000 })
    expect(report.position).toBe(all.at(-1)!.position)
    expect(await live.position()).toBe(report.position)
    expect(await live.runOnce()).toBe(0)
    expect((await bed.sql`select 1 from alert_deliveries where run_id = 'run-late'`).length).toBeGreaterThan(0)
    expect(await bed.sql`select status from operation_runs where id = 'run-late'`).toEqual([{ status: 'completed' }])
  })

  it('while the live projector runs and events keep coming: the live projector goes on into the new tables, equal to a from-zero projection', async () => {
    live.start()
    await appendScenario(bed)
    // Runs recorded while the rebuild replays and switches (at most 40, so the replay catches up).
    let minute = 10
    let appending = true
    const appender = (async () => {
      while (appending && minute < 50) await appendCompletedRun(bed, `run-during-${minute}`, minute++)
    })()
    try {
      const first = await rebuildReadModels({ sql: bed.sql, store: bed.store, consoleBaseUrl, batchSize: 20 })
      expect(first.same).toBe(true)
    } finally {
      appending = false
      await appender
    }
    await appendCompletedRun(bed, 'run-after', 59)
    await bed.settle()
    await live.stop()
    await live.waitUntilCaughtUp()
    const rows = await dumpReadModels(bed.sql)
    const requested = (await bed.store.readAll({ maxCount: 100_000 })).filter((e) => e.type === 'RunRequested').length
    expect(rows.operation_runs!.length).toBe(requested)
    // A second rebuild is a from-zero projection of the same store: it finds the same rows.
    const second = await rebuildReadModels({ sql: bed.sql, store: bed.store, consoleBaseUrl })
    expect(second.same).toBe(true)
    expect(await dumpReadModels(bed.sql)).toEqual(rows)
    expect((await verifyAuditChain(bed.sql)).ok).toBe(true)
    // And a projector from zero under another checkpoint into emptied tables agrees too.
    const checksums = await readModelChecksums(bed.sql)
    await bed.sql`delete from operation_runs; delete from operation_run_tenants; delete from operation_run_controls; delete from audit_log; update audit_chain_head set sequence = 0, hash = repeat('0', 64)`.simple()
    const fresh = new Projector({ store: bed.store, sql: bed.sql, name: 'fresh', projections: readModelProjections({ consoleBaseUrl }) })
    await fresh.waitUntilCaughtUp()
    expect(await readModelChecksums(bed.sql)).toEqual(checksums)
    expect(await bed.sql`select name from projection_checkpoints where name = ${readModelProjectorName}`).toHaveLength(1)
  })
})

describe.skipIf(!TEST_POSTGRES_URL)('rebuildReadModels when the live tables stay locked (PostgreSQL)', () => {
  it('gives up with RebuildNotSwitchedError (409 for the API), the live tables and checkpoint as they were, no schema left', async () => {
    const bed = await openTestBed(freshPostgresDatabase)
    const live = readModelProjector({ store: bed.store, sql: bed.sql, consoleBaseUrl })
    const holder = await bed.sql.reserve()
    try {
      await appendCompletedRun(bed, 'run-locked', 1)
      await bed.settle()
      await live.waitUntilCaughtUp()
      await live.stop()
      const before = await readModelChecksums(bed.sql)
      const [checkpoint] = await bed.sql`select position from projection_checkpoints where name = ${readModelProjectorName}`
      // A reader (or an autovacuum) that holds a live table for longer than the switch waits.
      await holder`begin`
      await holder`select count(*) from operation_runs`
      await expect(
        rebuildReadModels({ sql: bed.sql, store: bed.store, consoleBaseUrl, patience: { switchAttempts: 2, lockAttempts: 2 } }),
      ).rejects.toBeInstanceOf(RebuildNotSwitchedError)
      await holder`rollback`
      expect(await readModelChecksums(bed.sql)).toEqual(before)
      expect(await bed.sql`select position from projection_checkpoints where name = ${readModelProjectorName}`).toEqual([checkpoint])
      expect(await leftoverSchemas(bed)).toEqual([])
    } finally {
      holder.release()
      await live.stop()
      await bed.db.close()
    }
  })
})
