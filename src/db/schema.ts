import type { MigrationSet } from './migrations.js'

/**
 * The platform's own operational tables (SPEC §1), as a migration set of their own (owner `platform`).
 * The engine is src/db/migrations.ts; the service's sets, in the order they apply, are listed in
 * src/service-migrations.ts. The platform's `tenants` and `findings` may exist before this service: the
 * baseline only creates what is missing and leaves an existing table exactly as it is.
 */

/**
 * v1 (baseline): exactly the statements every start applied before versioned migrations. Idempotent, so a
 * deployment the previous release created records v1 without a change. Never edit (its checksum is recorded).
 */
const platformBaseline: readonly string[] = [
  `create table if not exists tenants (
       id bigint primary key,
       workspace_id bigint not null,
       name text not null,
       is_platform boolean not null default false,
       archived_at timestamptz null)`,
  `create table if not exists findings (
       id bigint primary key,
       tenant_id bigint not null references tenants(id),
       fingerprint text not null,
       severity text not null,
       status text not null,
       first_seen_at timestamptz null,
       last_seen_at timestamptz null,
       times_seen integer null,
       sla_due_at timestamptz null,
       resolved_at timestamptz null,
       resolved_reason text null,
       duplicate_of_id bigint null,
       created_at timestamptz not null,
       updated_at timestamptz not null)`,
  // Only where this service created the table: an existing platform table is used as it is (SPEC §8);
  // building an index on it would lock the platform's writes for the whole build.
  `do $$ begin
       if not exists (select 1 from pg_indexes where tablename = 'findings' and indexdef like '%(tenant_id%')
          and not exists (select 1 from findings limit 1) then
         create index findings_tenant_id_idx on findings (tenant_id);
       end if;
     end $$`,
]

/** The platform's existing operational tables (SPEC §1), created only where missing. */
export const platformSchema: MigrationSet = {
  owner: 'platform',
  migrations: [{ version: 1, name: 'baseline', statements: platformBaseline }],
}
