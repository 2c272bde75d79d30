import type { MigrationSet } from '../db/migrations.js'

/**
 * v1 (baseline): exactly the statements every start applied before versioned migrations. Idempotent, so a
 * deployment the previous release created records v1 without a change. Never edit (its checksum is recorded).
 */
const readModelBaseline: readonly string[] = [
  // position null = nothing applied yet. The row is the lock two projector processes contend on.
  `create table if not exists projection_checkpoints (
       name text primary key,
       position text null)`,

  // Column set fixed by SPEC §3 (other systems read this table); do not add columns.
  `create table if not exists operation_runs (
       id text primary key,
       workspace_id bigint not null,
       tenant_id bigint null,
       user_id text not null,
       initiator_name text not null,
       type text not null,
       status text not null,
       outcome text not null,
       run_identity_hash text not null,
       summary_counts jsonb not null,
       failure_summary jsonb not null,
       context jsonb not null,
       started_at timestamptz null,
       completed_at timestamptz null,
       created_at timestamptz not null)`,
  // Keyset order of the run history, and the same order under each list filter.
  `create index if not exists operation_runs_created_idx on operation_runs (created_at desc, id desc)`,
  `create index if not exists operation_runs_status_created_idx on operation_runs (status, created_at desc, id desc)`,
  `create index if not exists operation_runs_outcome_created_idx on operation_runs (outcome, created_at desc, id desc)`,
  `create index if not exists operation_runs_type_created_idx on operation_runs (type, created_at desc, id desc)`,
  `create index if not exists operation_runs_tenant_created_idx on operation_runs (tenant_id, created_at desc, id desc)`,
  `create index if not exists operation_runs_identity_idx on operation_runs (run_identity_hash)`,

  `create table if not exists operation_run_tenants (
       run_id text not null,
       tenant_id bigint not null,
       status text not null,
       total integer null,
       updated integer null,
       reason_code text null,
       message text null,
       attempt integer not null,
       processed_at timestamptz not null,
       primary key (run_id, tenant_id))`,
  // One row per targeted tenant from the run's request on (SPEC §9 "Tenants of a run"): pending until
  // processed, cancelled when the run is cancelled before it; the repair's own times when it ran.
  `alter table operation_run_tenants alter column processed_at drop not null`,
  `alter table operation_run_tenants alter column attempt drop not null`,
  `alter table operation_run_tenants add column if not exists started_at timestamptz null`,
  `alter table operation_run_tenants add column if not exists completed_at timestamptz null`,
  `create index if not exists operation_run_tenants_status_idx on operation_run_tenants (run_id, status, tenant_id)`,

  // What SPEC §9 adds to the run resource, beside operation_runs (whose column set is fixed).
  `create table if not exists operation_run_controls (
       run_id text primary key,
       max_concurrency integer not null,
       max_failures integer null,
       pause jsonb null,
       cancellation jsonb null,
       retry_of text null,
       targeted integer not null,
       succeeded integer not null default 0,
       failed integer not null default 0,
       cancelled integer not null default 0)`,
  // SPEC §10: {required, approvedBy, approvedAt, comment} of a run that needed approval.
  `alter table operation_run_controls add column if not exists approval jsonb null`,
  // Upgrade from a release before run control: its runs have no controls and no pending tenant rows. The
  // read models are rebuilt from the event store (the source of truth): emptied here, once, and replayed by
  // the projector from position zero. Alert deliveries are kept (a rebuild never raises an alert twice).
  `do $$ begin
       if exists (select 1 from operation_runs) and not exists (select 1 from operation_run_controls) then
         delete from operation_run_tenants;
         delete from operation_runs;
         delete from audit_log;
         update projection_checkpoints set position = null where name = 'read-models';
       end if;
     end $$`,


  `create table if not exists audit_log (
       id text primary key,
       action text not null,
       occurred_at timestamptz not null,
       actor_user_id text null,
       actor_email text null,
       operation_run_id text null,
       context jsonb not null)`,
  `create index if not exists audit_log_occurred_idx on audit_log (occurred_at desc, id desc)`,
  `create index if not exists audit_log_action_occurred_idx on audit_log (action, occurred_at desc, id desc)`,
  `create index if not exists audit_log_run_idx on audit_log (operation_run_id)`,

  `create table if not exists alert_destinations (
       id text primary key,
       workspace_id bigint not null,
       kind text not null,
       target text not null,
       enabled boolean not null default true)`,
  `create index if not exists alert_destinations_workspace_idx on alert_destinations (workspace_id)`,

  `create table if not exists alert_deliveries (
       id text primary key,
       alert_key text not null,
       run_id text not null,
       workspace_id bigint not null,
       destination_id text not null,
       payload jsonb not null,
       status text not null,
       created_at timestamptz not null,
       unique (alert_key, run_id, destination_id))`,
  `create index if not exists alert_deliveries_run_idx on alert_deliveries (run_id)`,
]

/**
 * The read side's tables: the projector's checkpoints and the read models the projections build.
 * Everything here except `alert_destinations` (operator configuration) can be dropped and rebuilt from
 * the event store.
 */
export const readModelSchema: MigrationSet = {
  owner: 'read-models',
  migrations: [
    { version: 1, name: 'baseline', statements: readModelBaseline },
    {
      version: 2,
      name: 'run context parameters',
      // Runs projected before runbooks had parameters ran with none (SPEC §13: `context.parameters`); the
      // projection writes them from now on, and a rebuild gives the same.
      statements: [`update operation_runs set context = jsonb_set(context, '{parameters}', '{}'::jsonb) where not (context ? 'parameters')`],
    },
    {
      version: 3,
      name: 'run verification',
      // SPEC §11: {remaining, tenantsWithRemaining, verifiedAt} once a completed run was scanned again.
      statements: [`alter table operation_run_controls add column verification jsonb null`],
    },
    {
      version: 4,
      name: 'run canary',
      // SPEC §11: {tenantIds, autoPromote} of a run with a canary, and how many of them are still pending
      // and have failed (the resource's `state` follows from those two).
      statements: [
        `alter table operation_run_controls add column canary jsonb null`,
        `alter table operation_run_controls add column canary_pending integer not null default 0`,
        `alter table operation_run_controls add column canary_failed integer not null default 0`,
      ],
    },
    {
      version: 5,
      name: 'audit hash chain',
      // SPEC §12: each entry's place in the chain (`sequence`, 1, 2, …), its `hash` and the `previous_hash` it
      // chains from (see audit-chain.ts), and the chain's head (one row: the last sequence and hash), which
      // makes deleting the newest entries detectable. The chain is a function of the event store, so entries
      // projected before it are not chained here: the read models are rebuilt from the event store exactly as
      // `Projector.rebuild` does (each projection's reset, then the checkpoint back to the beginning) and the
      // projector replays them on start. Alert deliveries are kept (a rebuild never raises an alert twice).
      statements: [
        `alter table audit_log add column sequence bigint null, add column hash text null, add column previous_hash text null`,
        `do $$ begin
           if exists (select 1 from audit_log) then
             delete from operation_run_controls;
             delete from operation_run_tenants;
             delete from operation_runs;
             delete from audit_log;
             update projection_checkpoints set position = null where name = 'read-models';
           end if;
         end $$`,
        `alter table audit_log alter column sequence set not null, alter column hash set not null,
           alter column previous_hash set not null, add constraint audit_log_sequence_key unique (sequence)`,
        `create table audit_chain_head (
           id boolean primary key default true check (id),
           sequence bigint not null,
           hash text not null)`,
        `insert into audit_chain_head (id, sequence, hash) values (true, 0, repeat('0', 64))`,
      ],
    },
    {
      version: 6,
      name: 'rejected runs end with their tenants cancelled',
      // The projection now moves a rejected run's pending tenants to cancelled, as a cancelled run's; the
      // rows projected before are moved here (a rebuild gives the same).
      statements: [
        `with moved as (
           update operation_run_tenants t set status = 'cancelled'
           from operation_runs r
           where r.id = t.run_id and r.status = 'completed' and r.outcome = 'rejected' and t.status = 'pending'
           returning t.run_id)
         update operation_run_controls c set cancelled = c.cancelled + m.n
         from (select run_id, count(*)::integer as n from moved group by run_id) m
         where c.run_id = m.run_id`,
      ],
    },
    {
      version: 7,
      name: 'audit entries listed in the chain order',
      // `GET /api/audit` lists by sequence (newest first), filtered by action or not: the time-ordered indexes
      // served the earlier order and serve nothing now.
      statements: [
        `create index if not exists audit_log_action_sequence_idx on audit_log (action, sequence desc)`,
        `drop index if exists audit_log_occurred_idx`,
        `drop index if exists audit_log_action_occurred_idx`,
      ],
    },
    {
      version: 8,
      name: 'repair durations per run',
      // SPEC §12's repair duration histogram, kept per run by the projection (repair-durations.ts): a scrape
      // read every per-tenant row of every run before. Counted here for the runs projected before, by the
      // bounds of this release written out (in microseconds): an applied migration's text never changes.
      statements: [
        `alter table operation_run_controls
           add column repair_count integer not null default 0,
           add column repair_micros bigint not null default 0,
           add column repair_buckets integer[] not null default '{0,0,0,0,0,0,0,0,0,0,0,0,0,0}'::integer[]`,
        `update operation_run_controls c
         set repair_count = d.repair_count, repair_micros = d.repair_micros, repair_buckets = d.repair_buckets
         from (select run_id, count(*)::integer as repair_count, sum(micros)::bigint as repair_micros,
                      array[count(*) filter (where micros <= 10000),
                        count(*) filter (where micros <= 25000),
                        count(*) filter (where micros <= 50000),
                        count(*) filter (where micros <= 100000),
                        count(*) filter (where micros <= 250000),
                        count(*) filter (where micros <= 500000),
                        count(*) filter (where micros <= 1000000),
                        count(*) filter (where micros <= 2500000),
                        count(*) filter (where micros <= 5000000),
                        count(*) filter (where micros <= 10000000),
                        count(*) filter (where micros <= 30000000),
                        count(*) filter (where micros <= 60000000),
                        count(*) filter (where micros <= 120000000),
                        count(*) filter (where micros <= 300000000)]::integer[] as repair_buckets
               from (select run_id, (extract(epoch from (completed_at - started_at)) * 1000000)::bigint as micros
                     from operation_run_tenants
                     where status = 'succeeded' and started_at is not null and completed_at is not null) t
               group by run_id) d
         where c.run_id = d.run_id`,
      ],
    },
  ],
}
