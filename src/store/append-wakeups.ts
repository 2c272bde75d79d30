import postgres from 'postgres'
import type { Sql } from '../db/database.js'

/**
 * The channel an append NOTIFYs at its commit when the store's processes share a PostgreSQL database
 * (PostgresEventStore's `acrossProcesses`).
 */
export const APPENDS_CHANNEL = 'rcp_events_appended'

/** How the listening connection is named in `pg_stat_activity`. */
export const APPEND_WAKEUPS_APPLICATION_NAME = 'runbook-control-plane append wake-ups'

/**
 * Tells this process of appends other processes committed, as they commit: a LISTEN on APPENDS_CHANNEL, on a
 * connection of its own (a pooled one may be lent to a transaction). The followers of the store (the
 * dispatcher, the projector, the planner, the verifier) otherwise learned of another process's append only
 * at their next poll, and a run's next jobs waited for the dispatcher to read its last results: with two
 * worker processes, half the results took up to a poll interval to be seen.
 *
 * Only a latency: a notification lost (the connection down, the server restarting) is an append found at the
 * next poll. The connection lost, it listens again after `reconnectDelayMs`, and wakes the followers once it
 * listens, for what was appended while it did not.
 */
/**
 * How often a listening connection says it is alive, and how long the server lets it be silent. A process
 * that stops (frozen, its host gone) stops reading its notifications; PostgreSQL keeps the notification
 * queue for the slowest listener, and a queue full (8 GB) refuses every NOTIFY, i.e. every append. Silent
 * for LISTENER_SILENCE_MS, its session is ended (PostgreSQL 14 and later: `idle_session_timeout`), as the
 * leader lease's is; a heartbeat that fails tells a live process its connection is gone.
 */
const LISTENER_HEARTBEAT_MS = 10_000
const LISTENER_SILENCE_MS = 60_000

export class AppendWakeups {
  private client: postgres.Sql | null = null
  private heartbeat: NodeJS.Timeout | null = null
  private retry: NodeJS.Timeout | null = null
  private closed = false

  /**
   * `ownPayload`: what this process's own appends notify with. Their commits told its followers already, so
   * their notifications are ignored (each would only make every follower read again, for nothing).
   */
  constructor(
    private readonly sql: Sql,
    private readonly ownPayload: string,
    private readonly wake: () => void,
    private readonly options: { reconnectDelayMs?: number } = {},
  ) {}

  /** The backend pid of the listening connection while it listens (tests end it). */
  pid: number | null = null

  start(): void {
    void this.listen()
  }

  private async listen(): Promise<void> {
    if (this.closed) return
    const options = this.sql.options as unknown as Record<string, unknown>
    const client: postgres.Sql = postgres({
      ...(options as object),
      max: 1,
      idle_timeout: null,
      max_lifetime: null,
      fetch_types: false,
      connection: { ...(options.connection as object), application_name: APPEND_WAKEUPS_APPLICATION_NAME },
      onnotify: (channel: string, payload: string) => {
        if (channel === APPENDS_CHANNEL && payload !== this.ownPayload) this.wake()
      },
      onclose: () => {
        if (client !== this.client) return
        this.client = null
        this.pid = null
        this.stopHeartbeat()
        void client.end({ timeout: 0 }).catch(() => {})
        this.listenLater()
      },
    } as unknown as postgres.Options<{}>)
    try {
      await client.unsafe(`listen ${APPENDS_CHANNEL}`)
      const [row] = await client<Array<{ pid: number }>>`
        select pg_backend_pid() as pid,
               case when current_setting('server_version_num')::int >= 140000
                    then set_config('idle_session_timeout', ${String(LISTENER_SILENCE_MS)}, false) end`
      if (this.closed) {
        await client.end({ timeout: 0 })
        return
      }
      this.client = client
      this.pid = row!.pid
      this.heartbeat = setInterval(() => void client`select 1`.catch(() => {}), LISTENER_HEARTBEAT_MS)
      this.heartbeat.unref()
      // What other processes appended while nothing listened is read now, not at the next poll.
      this.wake()
    } catch {
      await client.end({ timeout: 0 }).catch(() => {})
      this.listenLater()
    }
  }

  private listenLater(): void {
    if (this.closed || this.retry) return
    this.retry = setTimeout(() => {
      this.retry = null
      void this.listen()
    }, this.options.reconnectDelayMs ?? 1_000)
    this.retry.unref()
  }

  /**
   * Resolves once every notification committed before the call has been handled (while listening): a round
   * trip on the listening connection, whose server sends the notifications pending for it before it answers.
   */
  async delivered(): Promise<void> {
    const client = this.client
    if (client) await client`select 1`
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.heartbeat = null
  }

  async close(): Promise<void> {
    this.closed = true
    this.stopHeartbeat()
    if (this.retry) clearTimeout(this.retry)
    this.retry = null
    const client = this.client
    this.client = null
    this.pid = null
    await client?.end({ timeout: 1 })
  }
}
