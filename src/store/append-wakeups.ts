import type { Sql } from '../db/database.js'
import { ListeningConnection } from '../db/listening-connection.js'

/**
 * The channel an append NOTIFYs at its commit when the store's processes share a PostgreSQL database
 * (PostgresEventStore's `acrossProcesses`).
 */
export const APPENDS_CHANNEL = 'rcp_events_appended'

/** How the listening connection is named in `pg_stat_activity`. */
export const APPEND_WAKEUPS_APPLICATION_NAME = 'runbook-control-plane append wake-ups'

/**
 * Tells this process of appends other processes committed, as they commit: a LISTEN on APPENDS_CHANNEL. The
 * followers of the store (the dispatcher, the projector, the planner, the verifier) otherwise learned of
 * another process's append only at their next poll, and a run's next jobs waited for the dispatcher to read
 * its last results: with two worker processes, half the results took up to a poll interval to be seen.
 *
 * Only a latency: a notification lost (the connection down, the server restarting) is an append found at the
 * next poll. Listening again, it wakes the followers once, for what was appended while it did not.
 *
 * `ownPayload`: what this process's own appends notify with. Their commits told its followers already, so
 * their notifications are ignored (each would only make every follower read again, for nothing).
 */
export function appendWakeups(sql: Sql, ownPayload: string, wake: () => void): ListeningConnection {
  return new ListeningConnection(sql, {
    channel: APPENDS_CHANNEL,
    applicationName: APPEND_WAKEUPS_APPLICATION_NAME,
    onNotify: (payload) => {
      if (payload !== ownPayload) wake()
    },
    onUp: wake,
    onDown: () => {},
  })
}
