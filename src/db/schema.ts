import { advisoryLockKeys } from './advisory-locks.js'
import type { Sql } from './database.js'

/**
 * A module's own tables. Every statement is idempotent (`if not exists`), so applying the whole list on
 * each start creates what is missing and leaves existing tables (notably the platform's `tenants` and
 * `findings`, SPEC §1) exactly as they are.
 */
export interface SchemaPart {
  name: string
  statements: string[]
}

const SCHEMA_LOCK_KEY = advisoryLockKeys.schema

export async function applySchema(sql: Sql, parts: SchemaPart[]): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${SCHEMA_LOCK_KEY})`
    for (const part of parts) {
      for (const statement of part.statements) await tx.unsafe(statement)
    }
  })
}

/** The platform's existing operational tables (SPEC §1), created only where missing. */
export const platformSchema: SchemaPart = {
  name: 'platform',
  statements: [
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
  ],
}
