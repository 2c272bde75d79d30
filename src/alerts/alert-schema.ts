import type { MigrationSet } from '../db/migrations.js'

/** Where the console's own alert destination delivers: the service's inbox endpoint (`alertInboxRoutes` in src/http/routes/alert-routes.ts). */
export const CONSOLE_INBOX_PATH = '/api/alert-inbox'

/**
 * The alert tables' evolution (SPEC §12 "Alert delivery"). `alert_destinations` and `alert_deliveries` were
 * created by the read-model baseline, but they are NOT read models: destinations are configuration (their
 * history is in the event store, their secrets only here) and deliveries are a record of what was sent,
 * with a sender's state a rebuild must never touch. A read-model rebuild leaves both tables alone; from here
 * on they change only through this set.
 */
export const alertSchema: MigrationSet = {
  owner: 'alerts',
  migrations: [
    {
      version: 1,
      name: 'webhook delivery',
      statements: [
        // `target` keeps the full URL the sender posts to (user info included, if any); the secret signs the
        // bodies and is shown to nobody. A removed destination keeps its row (deliveries name it) without its secret.
        `alter table alert_destinations
           add column secret text null,
           add column created_at timestamptz not null default now(),
           add column removed_at timestamptz null`,
        // The console's destination of earlier releases listed alerts on the runs page; it is the inbox now.
        `update alert_destinations set target = '${CONSOLE_INBOX_PATH}' where kind = 'console'`,
        // The sender's state of each delivery. `next_attempt_at` null: due at once. A sender claims a due row
        // (`claimed_by`, `claimed_until`) for the length of one attempt; a claim past its time is taken over.
        `alter table alert_deliveries
           add column attempts integer not null default 0,
           add column first_attempt_at timestamptz null,
           add column last_attempt_at timestamptz null,
           add column next_attempt_at timestamptz null,
           add column delivered_at timestamptz null,
           add column last_error text null,
           add column claimed_by text null,
           add column claimed_until timestamptz null`,
        `create index alert_deliveries_due_idx on alert_deliveries (next_attempt_at) where status = 'recorded'`,
        `create index alert_deliveries_created_idx on alert_deliveries (created_at desc, id desc)`,
        `create index alert_deliveries_status_created_idx on alert_deliveries (status, created_at desc, id desc)`,
        // What the console's inbox received, once per delivery id (a retried POST is acknowledged again, not stored twice).
        `create table alert_inbox (
           delivery_id text primary key,
           destination_id text not null,
           alert_key text not null,
           run_id text null,
           payload jsonb not null,
           received_at timestamptz not null)`,
        `create index alert_inbox_received_idx on alert_inbox (received_at desc, delivery_id desc)`,
      ],
    },
  ],
}
