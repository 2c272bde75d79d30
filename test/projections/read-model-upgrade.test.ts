import { describe, expect, it } from 'vitest'
import { applyMigrations } from '../../src/db/migrations.js'
import { REPAIR_DURATION_BUCKETS } from '../../src/projections/repair-durations.js'
import { readModelSchema } from '../../src/projections/read-model-schema.js'
import { databaseFlavours } from '../support/databases.js'

describe.each(databaseFlavours())('read models upgraded from a release before run control on $name', ({ open }) => {
  it('are emptied once and their checkpoint reset, so the projector rebuilds them from the event store', async () => {
    const db = await open()
    try {
      // A release before run control had these tables (no controls in them) and no schema_migrations: the
      // baseline's statements, run directly, stand in for what it created.
      for (const statement of readModelSchema.migrations[0]!.statements) await db.sql.unsafe(statement)
      // What the previous release left: a run row, its result row, an audit entry, no controls.
      await db.sql`
        insert into operation_runs (id, workspace_id, tenant_id, user_id, initiator_name, type, status, outcome,
          run_identity_hash, summary_counts, failure_summary, context, created_at)
        values ('run-old', 1, null, 'op', 'Op', 'findings.lifecycle.backfill', 'running', 'pending', 'h',
          '{"total":0,"processed":0,"updated":0,"skipped":0,"failed":0,"tenants":2}', '[]', '{}', now())`
      await db.sql`insert into operation_run_tenants (run_id, tenant_id, status, attempt, processed_at) values ('run-old', 11, 'succeeded', 1, now())`
      await db.sql`insert into audit_log (id, action, occurred_at, context) values ('a-1', 'platform.ops.runbooks.start', now(), '{}')`
      await db.sql`insert into projection_checkpoints (name, position) values ('read-models', '41:0')`

      // The upgrade: the baseline is applied once, to a database that has the tables but no record of it.
      expect(await applyMigrations(db.sql, [readModelSchema])).toEqual([
        { owner: 'read-models', version: 1, name: 'baseline' },
        { owner: 'read-models', version: 2, name: 'run context parameters' },
        { owner: 'read-models', version: 3, name: 'run verification' },
        { owner: 'read-models', version: 4, name: 'run canary' },
        { owner: 'read-models', version: 5, name: 'audit hash chain' },
        { owner: 'read-models', version: 6, name: 'rejected runs end with their tenants cancelled' },
        { owner: 'read-models', version: 7, name: 'audit entries listed in the chain order' },
        { owner: 'read-models', version: 8, name: 'repair durations per run' },
      ])
      const counts = await db.sql<Array<{ runs: number; tenants: number; audit: number }>>`
        select (select count(*)::int from operation_runs) as runs, (select count(*)::int from operation_run_tenants) as tenants,
               (select count(*)::int from audit_log) as audit`
      expect(counts[0]).toEqual({ runs: 0, tenants: 0, audit: 0 })
      const [checkpoint] = await db.sql<Array<{ position: string | null }>>`select position from projection_checkpoints where name = 'read-models'`
      expect(checkpoint!.position).toBeNull()

      // Once rebuilt (controls present), a later start applies nothing and leaves the read models alone.
      await db.sql`
        insert into operation_runs (id, workspace_id, tenant_id, user_id, initiator_name, type, status, outcome,
          run_identity_hash, summary_counts, failure_summary, context, created_at)
        values ('run-new', 1, null, 'op', 'Op', 'findings.lifecycle.backfill', 'queued', 'pending', 'h', '{}', '[]', '{}', now())`
      await db.sql`insert into operation_run_controls (run_id, max_concurrency, targeted) values ('run-new', 4, 2)`
      expect(await applyMigrations(db.sql, [readModelSchema])).toEqual([])
      expect((await db.sql`select id from operation_runs`).map((r) => r.id)).toEqual(['run-new'])
    } finally {
      await db.close()
    }
  })
})

describe.each(databaseFlavours())('read models of rejected runs, upgraded, on $name', ({ open }) => {
  it('move the pending tenants of a rejected run to cancelled, counted; other runs keep theirs', async () => {
    const db = await open()
    try {
      const before = { ...readModelSchema, migrations: readModelSchema.migrations.filter((m) => m.version <= 5) }
      await applyMigrations(db.sql, [before])
      for (const [id, status, outcome] of [['run-rejected', 'completed', 'rejected'], ['run-waiting', 'awaiting_approval', 'pending']] as const) {
        await db.sql`
          insert into operation_runs (id, workspace_id, tenant_id, user_id, initiator_name, type, status, outcome,
            run_identity_hash, summary_counts, failure_summary, context, created_at)
          values (${id}, 1, null, 'op', 'Op', 'findings.lifecycle.backfill', ${status}, ${outcome}, 'h', '{}', '[]', '{}', now())`
        await db.sql`insert into operation_run_controls (run_id, max_concurrency, targeted) values (${id}, 4, 2)`
        await db.sql`insert into operation_run_tenants (run_id, tenant_id, status) values (${id}, 11, 'pending'), (${id}, 12, 'pending')`
      }
      expect(await applyMigrations(db.sql, [readModelSchema])).toEqual([
        { owner: 'read-models', version: 6, name: 'rejected runs end with their tenants cancelled' },
        { owner: 'read-models', version: 7, name: 'audit entries listed in the chain order' },
        { owner: 'read-models', version: 8, name: 'repair durations per run' },
      ])
      const rows = await db.sql<Array<{ run_id: string; status: string }>>`select run_id, status from operation_run_tenants order by run_id, tenant_id`
      expect(rows.map((r) => [r.run_id, r.status])).toEqual([
        ['run-rejected', 'cancelled'],
        ['run-rejected', 'cancelled'],
        ['run-waiting', 'pending'],
        ['run-waiting', 'pending'],
      ])
      const controls = await db.sql<Array<{ run_id: string; cancelled: number }>>`select run_id, cancelled from operation_run_controls order by run_id`
      expect(controls.map((c) => [c.run_id, c.cancelled])).toEqual([['run-rejected', 2], ['run-waiting', 0]])
    } finally {
      await db.close()
    }
  })
})

describe.each(databaseFlavours())('read models of repaired tenants, upgraded, on $name', ({ open }) => {
  it("count each run's repair durations from its succeeded tenants' times, as the projection counts them from then on", async () => {
    const db = await open()
    try {
      const before = { ...readModelSchema, migrations: readModelSchema.migrations.filter((m) => m.version <= 7) }
      await applyMigrations(db.sql, [before])
      for (const id of ['run-repaired', 'run-none']) {
        await db.sql`
          insert into operation_runs (id, workspace_id, tenant_id, user_id, initiator_name, type, status, outcome,
            run_identity_hash, summary_counts, failure_summary, context, created_at)
          values (${id}, 1, null, 'op', 'Op', 'findings.lifecycle.backfill', 'completed', 'partially_succeeded', 'h', '{}', '[]', '{}', now())`
        await db.sql`insert into operation_run_controls (run_id, max_concurrency, targeted) values (${id}, 4, 4)`
      }
      const at = (ms: number) => new Date(Date.UTC(2026, 11, 6, 4, 0, 0, 0) + ms).toISOString()
      // 20 ms and 3 s repaired; a failed tenant's time and a repair without both times are not counted.
      await db.sql`
        insert into operation_run_tenants (run_id, tenant_id, status, started_at, completed_at) values
          ('run-repaired', 11, 'succeeded', ${at(0)}, ${at(20)}),
          ('run-repaired', 12, 'succeeded', ${at(0)}, ${at(3_000)}),
          ('run-repaired', 13, 'failed', ${at(0)}, ${at(50)}),
          ('run-repaired', 14, 'succeeded', null, ${at(50)}),
          ('run-none', 11, 'pending', null, null)`
      expect(await applyMigrations(db.sql, [readModelSchema])).toEqual([{ owner: 'read-models', version: 8, name: 'repair durations per run' }])
      const controls = await db.sql<Array<{ run_id: string; repair_count: number; repair_micros: string; repair_buckets: number[] }>>`
        select run_id, repair_count, repair_micros::text, repair_buckets from operation_run_controls order by run_id`
      const bucketsUpTo = (micros: number[]) => REPAIR_DURATION_BUCKETS.map((bound) => micros.filter((m) => m <= bound * 1_000_000).length)
      expect(controls).toEqual([
        { run_id: 'run-none', repair_count: 0, repair_micros: '0', repair_buckets: bucketsUpTo([]) },
        { run_id: 'run-repaired', repair_count: 2, repair_micros: '3020000', repair_buckets: bucketsUpTo([20_000, 3_000_000]) },
      ])
    } finally {
      await db.close()
    }
  })
})
