import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { Sql } from '../../src/db/database.js'
import { migrateService, serviceMigrationSets } from '../../src/service-migrations.js'
import { databaseFlavours } from '../support/databases.js'

/** Frozen: the DDL the release before versioned migrations (d34b282) applied on start. Never derived from src/. */
const previousReleaseSchema = readFileSync(new URL('./fixtures/previous-release-schema.sql', import.meta.url), 'utf8')

const exampleRunbook = {
  key: 'example.runbook',
  migrations: [{ version: 1, name: 'create example table', statements: ['create table example_runbook_marks (id bigint primary key)'] }],
}
const options = { postgresEventStore: true, runbooks: [exampleRunbook] }

/** What a deployment of the previous release holds: one representative row in each of its tables. */
async function insertPreviousReleaseRows(sql: Sql): Promise<void> {
  await sql`insert into tenants (id, workspace_id, name) values (11, 2, 'Tenant eleven')`
  await sql`
    insert into findings (id, tenant_id, fingerprint, severity, status, first_seen_at, created_at, updated_at)
    values (101, 11, 'fp-101', 'high', 'new', '2024-01-02T03:04:05Z', '2024-01-02T03:04:05Z', '2024-01-02T03:04:05Z')`
  await sql`insert into event_store_streams (stream_id, revision) values ('run-1', 0)`
  await sql`
    insert into event_store_events (stream_id, revision, event_id, type, version, data, metadata)
    values ('run-1', 0, 'evt-1', 'RunRequested', 1, '{"runId":"run-1"}', '{}')`
  await sql`insert into projection_checkpoints (name, position) values ('read-models', '1:0')`
  await sql`
    insert into operation_runs (id, workspace_id, tenant_id, user_id, initiator_name, type, status, outcome,
      run_identity_hash, summary_counts, failure_summary, context, created_at)
    values ('run-1', 2, null, 'op-1', 'Op', 'findings.lifecycle.backfill', 'completed', 'succeeded', 'h',
      '{"total":1}', '[]', '{}', '2024-01-02T03:04:05Z')`
  await sql`insert into operation_run_controls (run_id, max_concurrency, targeted, succeeded) values ('run-1', 4, 1, 1)`
  await sql`
    insert into operation_run_tenants (run_id, tenant_id, status, total, updated, attempt, processed_at)
    values ('run-1', 11, 'succeeded', 1, 1, 1, '2024-01-02T03:04:06Z')`
  await sql`insert into audit_log (id, action, occurred_at, operation_run_id, context) values ('a-1', 'platform.ops.runbooks.start', now(), 'run-1', '{}')`
  await sql`insert into alert_destinations (id, workspace_id, kind, target) values ('d-1', 2, 'console', 'ops')`
  await sql`insert into operators (id, email, name, password_hash, capabilities) values ('op-1', 'op@example.com', 'Op', 'hash', '{platform.ops.runbooks.view}')`
  await sql`insert into api_tokens (token_hash, operator_id, expires_at) values ('th-1', 'op-1', now() + interval '1 day')`
  await sql`
    insert into console_sessions (id_hash, operator_id, csrf_token, created_at, expires_at, last_seen_at)
    values ('sh-1', 'op-1', 'csrf', now(), now() + interval '1 hour', now())`
  await sql`insert into tenant_job_results (run_id, tenant_id, status, total, updated, attempt) values ('run-1', 11, 'succeeded', 1, 1, 1)`
  await sql`insert into subscription_checkpoints (name, position) values ('dispatcher', '1:0')`
}

const tables = [
  'tenants',
  'findings',
  'event_store_streams',
  'event_store_events',
  'projection_checkpoints',
  'operation_runs',
  'operation_run_controls',
  'operation_run_tenants',
  'audit_log',
  'alert_destinations',
  'operators',
  'api_tokens',
  'console_sessions',
  'tenant_job_results',
  'subscription_checkpoints',
]

/** Every row of every table of the previous release, as text: equal before and after means nothing was lost. */
async function snapshot(sql: Sql): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {}
  for (const table of tables) {
    const rows = await sql.unsafe<Array<{ row: string }>>(`select t::text as row from ${table} t order by 1`)
    result[table] = rows.map((r) => r.row)
  }
  return result
}

describe.each(databaseFlavours())('a deployment of the previous release upgraded on $name', ({ open }) => {
  it('keeps every row, records a baseline per owner, applies the runbook migration, and then applies nothing', async () => {
    const db = await open()
    try {
      await db.sql.unsafe(previousReleaseSchema).simple()
      await insertPreviousReleaseRows(db.sql)
      const before = await snapshot(db.sql)
      for (const table of tables) expect(before[table], table).toHaveLength(1)

      const applied = await migrateService(db.sql, options)
      const owners = ['platform', 'event-store', 'read-models', 'auth', 'console-sessions', 'tenant-job-results', 'subscription-checkpoints']
      expect(applied).toEqual([
        ...owners.flatMap((owner) => [
          { owner, version: 1, name: 'baseline' },
          // The one change of this release to an existing table: runs of the previous release had no parameters.
          ...(owner === 'read-models'
            ? [
                { owner, version: 2, name: 'run context parameters' },
                { owner, version: 3, name: 'run verification' },
                { owner, version: 4, name: 'run canary' },
                { owner, version: 5, name: 'audit hash chain' },
                { owner, version: 6, name: 'rejected runs end with their tenants cancelled' },
                { owner, version: 7, name: 'audit entries listed in the chain order' },
                { owner, version: 8, name: 'repair durations per run' },
              ]
            : []),
          // The alert tables evolve in their own set, right after the read models that created them.
          ...(owner === 'read-models' ? [{ owner: 'alerts', version: 1, name: 'webhook delivery' }] : []),
        ]),
        // A module new in this release: its tables, created from nothing.
        { owner: 'preflight-plans', version: 1, name: 'per-tenant preflight plans' },
        { owner: 'before-images', version: 1, name: 'before-images of repaired rows' },
        { owner: 'before-images', version: 2, name: 'snapshots in a temporary table kept by the session' },
        { owner: 'before-images', version: 3, name: 'snapshot statements prepared once per session' },
        { owner: 'before-images', version: 4, name: 'snapshots read through a cursor declared before the repair' },
        { owner: 'runbook:example.runbook', version: 1, name: 'create example table' },
      ])
      const sets = [...owners.slice(0, 3), 'alerts', ...owners.slice(3), 'preflight-plans', 'before-images', 'runbook:example.runbook']
      expect(serviceMigrationSets(options).map((set) => set.owner)).toEqual(sets)

      // Every row kept but the read models: read-models v5 (audit hash chain) has them rebuilt from the event
      // store (emptied, the checkpoint back to the beginning), as a rebuild does; the chain is a function of the events.
      const after = await snapshot(db.sql)
      // The alert destination gains the columns of webhook delivery (no secret yet), and the console's becomes its inbox.
      const rebuilt = { operation_runs: [], operation_run_controls: [], operation_run_tenants: [], audit_log: [], projection_checkpoints: [], alert_destinations: [] }
      expect({ ...after, ...rebuilt }).toEqual({ ...before, ...rebuilt })
      expect(await db.sql`select id, workspace_id::int, kind, target, enabled, secret, removed_at from alert_destinations`).toEqual([
        { id: 'd-1', workspace_id: 2, kind: 'console', target: '/api/alert-inbox', enabled: true, secret: null, removed_at: null },
      ])
      for (const table of ['operation_runs', 'operation_run_controls', 'operation_run_tenants', 'audit_log']) expect(after[table], table).toEqual([])
      expect(after.projection_checkpoints).toEqual(['(read-models,)'])
      const recorded = await db.sql<Array<{ owner: string; version: number }>>`select owner, version from schema_migrations order by owner, version`
      expect(recorded).toEqual(
        [...owners, 'alerts', 'preflight-plans', 'before-images', 'runbook:example.runbook'].sort().flatMap((owner) => [
          { owner, version: 1 },
          ...(owner === 'read-models' ? [{ owner, version: 2 }, { owner, version: 3 }, { owner, version: 4 }, { owner, version: 5 }, { owner, version: 6 }, { owner, version: 7 }, { owner, version: 8 }] : []),
          ...(owner === 'before-images' ? [{ owner, version: 2 }, { owner, version: 3 }, { owner, version: 4 }] : []),
        ]),
      )
      const upgraded = after
      await db.sql`insert into example_runbook_marks (id) values (1)`

      expect(await migrateService(db.sql, options)).toEqual([])
      expect(await snapshot(db.sql)).toEqual(upgraded)
      expect(await db.sql`select id::int from example_runbook_marks`).toEqual([{ id: 1 }])
    } finally {
      await db.close()
    }
  })
})

describe('the service migration sets', () => {
  it('leave out the event store tables when the event store is elsewhere, and a runbook without tables', async () => {
    const sets = serviceMigrationSets({ postgresEventStore: false, runbooks: [{ key: 'no.tables' }, { key: 'empty', migrations: [] }] })
    expect(sets.map((set) => set.owner)).toEqual([
      'platform',
      'read-models',
      'alerts',
      'auth',
      'console-sessions',
      'tenant-job-results',
      'subscription-checkpoints',
      'preflight-plans',
      'before-images',
    ])
  })
})
