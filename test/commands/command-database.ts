import type { Actor } from '../../src/commands/actor.js'
import type { Database } from '../../src/db/database.js'
import { preflightPlanSchema } from '../../src/db/preflight-plans.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { platformSchema } from '../../src/db/schema.js'
import { findingsLifecycleBackfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import { EventLog } from '../../src/store/event-log.js'
import { eventStoreSchema, PostgresEventStore } from '../../src/store/postgres-event-store.js'
import { DAY, finding, insertFindings, insertTenant, T0 } from '../runbooks/findings-fixture.js'

/** A database with the platform tables, the event store and a small hand-made platform (see TENANTS). */
export interface CommandDatabase {
  db: Database
  store: PostgresEventStore
  log: EventLog
  /** Rows in the event store table, read directly (not through readAll's visibility horizon). */
  eventCount(): Promise<number>
  /** Streams holding events of a type, read directly from the table. */
  streamsWithType(type: string): Promise<string[]>
  close(): Promise<void>
}

export const RUNBOOK = findingsLifecycleBackfill

/** Platform tenant in workspace 1; the universe is alpha, beta, gamma, delta; one archived tenant. */
export const TENANTS = {
  platform: { id: 1, workspaceId: 1 },
  alpha: { id: 101, workspaceId: 21 },
  beta: { id: 102, workspaceId: 22 },
  gamma: { id: 103, workspaceId: 23 },
  delta: { id: 105, workspaceId: 21 },
  archived: { id: 104, workspaceId: 24 },
} as const
export const UNIVERSE = [101, 102, 103, 105]

export async function openCommandDatabase(open: () => Promise<Database>): Promise<CommandDatabase> {
  const db = await open()
  await applyMigrations(db.sql, [platformSchema, eventStoreSchema, preflightPlanSchema])
  const { platform, alpha, beta, gamma, delta, archived } = TENANTS
  await insertTenant(db.sql, { ...platform, name: 'Platform', isPlatform: true })
  for (const tenant of [alpha, beta, gamma, delta]) await insertTenant(db.sql, tenant)
  await insertTenant(db.sql, { ...archived, archivedAt: new Date(T0) })
  await insertFindings(db.sql, [
    // alpha: two findings to repair (legacy status, missing first_seen_at) and one clean
    finding(1001, alpha.id, { status: 'open', severity: 'high', slaDueAt: T0 + 7 * DAY }),
    finding(1002, alpha.id, { firstSeenAt: null }),
    finding(1003, alpha.id),
    // beta: a duplicate pair
    finding(2001, beta.id, { fingerprint: 'dup' }),
    finding(2002, beta.id, { fingerprint: 'dup', firstSeenAt: T0 + DAY, lastSeenAt: T0 + 2 * DAY }),
    // gamma: clean; delta: none
    finding(3001, gamma.id),
    // the archived and the platform tenant have work that no run may touch
    finding(4001, archived.id, { status: 'fixed' }),
    finding(5001, platform.id, { status: 'closed' }),
  ])
  const store = new PostgresEventStore(db.sql)
  return {
    db,
    store,
    log: new EventLog(store),
    async eventCount() {
      const [row] = await db.sql<Array<{ count: string }>>`select count(*)::text as count from event_store_events`
      return Number(row!.count)
    },
    async streamsWithType(type: string) {
      const rows = await db.sql<Array<{ stream_id: string }>>`
        select distinct stream_id from event_store_events where type = ${type} order by stream_id`
      return rows.map((row) => row.stream_id)
    },
    async close() {
      await store.close()
      await db.close()
    },
  }
}

export function operator(overrides: Partial<Actor> = {}): Actor {
  return {
    operatorId: 'op-ada',
    email: 'ada@example.com',
    name: 'Ada Lovelace',
    capabilities: ['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.run', RUNBOOK.requiredCapability],
    isBreakGlass: false,
    ip: '203.0.113.7',
    userAgent: 'vitest/4',
    ...overrides,
  }
}
