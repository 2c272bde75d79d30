import { createHash } from 'node:crypto'
import { advisoryLockKeys } from './advisory-locks.js'
import type { Sql, TransactionSql } from './database.js'

/**
 * Versioned schema migrations, applied on start (docs/decisions.md "Versioned migrations").
 *
 * A migration is a numbered list of SQL statements; an owner (a module of the service, or a runbook as
 * `runbook:<key>`) holds its own sequence 1..n. `schema_migrations` records, per owner and version, what
 * was applied and the checksum of its statements. A migration, once released, never changes: a later
 * change is a new version.
 *
 * Everything one call applies happens in ONE transaction holding the schema advisory lock, so processes
 * starting together migrate one at a time (the second finds everything applied), and a failing statement
 * leaves the database as it was — no half-applied version, no row for it.
 */
export interface Migration {
  /** 1, 2, 3, … within its owner, without gaps. */
  version: number
  name: string
  statements: readonly string[]
}

export interface MigrationSet {
  /** Who the migrations belong to, e.g. `auth` or `runbook:findings.sla.recalculate`; unique. */
  owner: string
  migrations: readonly Migration[]
}

export interface AppliedMigration {
  owner: string
  version: number
  name: string
}

/** A migration the service refuses to apply (or to run past); the message is meant for the operator. */
export class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'MigrationError'
  }
}

const SCHEMA_LOCK_KEY = advisoryLockKeys.schema

/** SHA-256 (hex) of the statements joined with NUL: what a released migration must keep. */
export function migrationChecksum(migration: Pick<Migration, 'statements'>): string {
  return createHash('sha256').update(migration.statements.join('\0')).digest('hex')
}

interface AppliedRow {
  owner: string
  version: number
  name: string
  checksum: string
}

/**
 * Applies, in the order of `sets` and each set's version order, every migration the database has not
 * recorded; returns what this call applied (empty when the database was up to date). Throws
 * `MigrationError`, with nothing applied, when the sets are malformed, when an applied migration was
 * changed since, or when the database was migrated by a newer release than this one.
 */
export async function applyMigrations(sql: Sql, sets: readonly MigrationSet[]): Promise<AppliedMigration[]> {
  validateSets(sets)
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${SCHEMA_LOCK_KEY})`
    await tx.unsafe(`create table if not exists schema_migrations (
       owner text not null,
       version integer not null,
       name text not null,
       checksum text not null,
       applied_at timestamptz not null default now(),
       primary key (owner, version))`)
    const rows = await tx<AppliedRow[]>`select owner, version, name, checksum from schema_migrations`
    const appliedByOwner = new Map<string, Map<number, AppliedRow>>()
    for (const row of rows) {
      let versions = appliedByOwner.get(row.owner)
      if (!versions) appliedByOwner.set(row.owner, (versions = new Map()))
      versions.set(row.version, row)
    }

    // Refusals first, over every set: a refused start changes nothing at all.
    for (const set of sets) checkAgainstDatabase(set, appliedByOwner.get(set.owner) ?? new Map())

    const applied: AppliedMigration[] = []
    for (const set of sets) {
      const done = appliedByOwner.get(set.owner) ?? new Map<number, AppliedRow>()
      for (const migration of set.migrations) {
        if (done.has(migration.version)) continue
        await applyOne(tx, set.owner, migration)
        applied.push({ owner: set.owner, version: migration.version, name: migration.name })
      }
    }
    return applied
  })
}

async function applyOne(tx: TransactionSql, owner: string, migration: Migration): Promise<void> {
  for (const statement of migration.statements) {
    try {
      await tx.unsafe(statement)
    } catch (error) {
      throw new MigrationError(
        `migration ${owner} v${migration.version} (${migration.name}) failed, nothing was applied: ${(error as Error).message}`,
        { cause: error },
      )
    }
  }
  await tx`
    insert into schema_migrations (owner, version, name, checksum)
    values (${owner}, ${migration.version}, ${migration.name}, ${migrationChecksum(migration)})`
}

function checkAgainstDatabase(set: MigrationSet, applied: ReadonlyMap<number, AppliedRow>): void {
  const known = set.migrations.length
  for (const row of applied.values()) {
    if (row.version > known) {
      throw new MigrationError(
        `the database was migrated by a newer release (${set.owner} v${row.version}); this release knows up to v${known}. ` +
          'Run the newer release, or restore a backup taken before the upgrade.',
      )
    }
  }
  for (const migration of set.migrations) {
    const row = applied.get(migration.version)
    if (row && row.checksum !== migrationChecksum(migration)) {
      throw new MigrationError(
        `migration ${set.owner} v${migration.version} (${migration.name}) was changed after it was applied; ` +
          'a released migration must never change — put the change in a new migration.',
      )
    }
  }
}

/** Programming errors, caught before the database is touched. */
function validateSets(sets: readonly MigrationSet[]): void {
  const owners = new Set<string>()
  for (const set of sets) {
    if (owners.has(set.owner)) throw new MigrationError(`two migration sets share the owner ${set.owner}`)
    owners.add(set.owner)
    set.migrations.forEach((migration, index) => {
      if (migration.version !== index + 1) {
        throw new MigrationError(
          `migrations of ${set.owner} must be numbered 1..n in order without gaps or duplicates; ` +
            `found v${migration.version} (${migration.name}) where v${index + 1} belongs`,
        )
      }
    })
  }
}
