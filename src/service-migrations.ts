import { alertSchema } from './alerts/alert-schema.js'
import { consoleSessionSchema } from './auth/console-sessions.js'
import { authSchema } from './auth/operator-store.js'
import type { Sql } from './db/database.js'
import { beforeImageSchema } from './db/before-images.js'
import { applyMigrations, type AppliedMigration, type Migration, type MigrationSet } from './db/migrations.js'
import { preflightPlanSchema } from './db/preflight-plans.js'
import { platformSchema } from './db/schema.js'
import { readModelSchema } from './projections/read-model-schema.js'
import { eventStoreSchema } from './store/postgres-event-store.js'
import { subscriptionSchema } from './workers/event-subscription.js'
import { tenantResultsSchema } from './db/tenant-results.js'

export interface ServiceMigrationOptions {
  /** The event store lives in the database (no EVENTSTORE_URL): its tables are the service's too. */
  postgresEventStore: boolean
  /** The runbooks of the catalog; each one's own tables are the set `runbook:<key>`. */
  runbooks: ReadonlyArray<{ key: string; migrations?: readonly Migration[] }>
}

/** The owner of a runbook's migrations in `schema_migrations`. */
export function runbookMigrationOwner(key: string): string {
  return `runbook:${key}`
}

/**
 * Every migration set of the service, in the order they apply: the service's own modules first (a later
 * one may reference an earlier one's tables, e.g. console sessions → operators), then one per runbook that
 * has tables of its own.
 */
export function serviceMigrationSets(options: ServiceMigrationOptions): MigrationSet[] {
  return [
    platformSchema,
    ...(options.postgresEventStore ? [eventStoreSchema] : []),
    readModelSchema,
    // After the read models: the alert tables are created by the read-model baseline and evolve here.
    alertSchema,
    authSchema,
    consoleSessionSchema,
    tenantResultsSchema,
    subscriptionSchema,
    preflightPlanSchema,
    beforeImageSchema,
    ...options.runbooks
      .filter((runbook) => runbook.migrations && runbook.migrations.length > 0)
      .map((runbook) => ({ owner: runbookMigrationOwner(runbook.key), migrations: runbook.migrations! })),
  ]
}

/**
 * Brings the database up to this release's schema on start: one process at a time, in one transaction
 * (src/db/migrations.ts). Returns what this call applied; throws `MigrationError` when it refuses.
 */
export function migrateService(sql: Sql, options: ServiceMigrationOptions): Promise<AppliedMigration[]> {
  return applyMigrations(sql, serviceMigrationSets(options))
}
