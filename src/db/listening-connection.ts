import postgres from 'postgres'
import { idleSessionBound, type Sql } from './database.js'

export interface ListeningConnectionOptions {
  channel: string
  /** How the connection is named in `pg_stat_activity`. */
  applicationName: string
  /**
   * Each notification on `channel`, from the connection it came on (the one listening, or the one about to:
   * a reply that must come from the listening session, such as the credential cache's sync ack, goes on it).
   */
  onNotify(payload: string, connection: postgres.Sql): void
  /** Listening (again): what was notified while it did not is lost. */
  onUp(): void
  /** Not listening any more, as soon as that is known. */
  onDown(): void
  /** A connection or LISTEN that failed (it is tried again after `reconnectDelayMs`). */
  onError?(error: unknown): void
  reconnectDelayMs?: number
  /** How often the connection says it is alive; unanswered within the same time, it is taken as lost. */
  heartbeatMs?: number
}

/**
 * How long PostgreSQL lets a listening session be silent before it ends it (PostgreSQL 14 and later:
 * `idle_session_timeout`). A listener that stops (a frozen process, its host gone) stops reading its
 * notifications; the server keeps its one notification queue, shared by every channel, for the slowest
 * listener, and a full queue (8 GB) refuses every NOTIFY, so every append of a store that notifies. The
 * heartbeat keeps a live listener well inside the bound.
 */
export const LISTENER_SILENCE_MS = 60_000

/**
 * LISTEN on a connection of its own (a pooled one is shared, and may be lent to a transaction or replaced at
 * any time). Down as soon as that connection closes or a heartbeat goes unanswered for a heartbeat's time
 * (a connection cut without a FIN would otherwise close only when TCP gives up, many minutes later); then a
 * new connection listens again after `reconnectDelayMs`.
 */
export class ListeningConnection {
  private client: postgres.Sql | null = null
  private connecting: postgres.Sql | null = null
  private heartbeat: NodeJS.Timeout | null = null
  private retry: NodeJS.Timeout | null = null
  private closed = false

  /** The backend pid of the listening connection while it listens (tests end it). */
  pid: number | null = null

  constructor(
    private readonly sql: Sql,
    private readonly options: ListeningConnectionOptions,
  ) {}

  get listening(): boolean {
    return this.client !== null
  }

  start(): void {
    void this.connect()
  }

  private async connect(): Promise<void> {
    if (this.closed) return
    const { channel } = this.options
    const options = this.sql.options as unknown as Record<string, unknown>
    const client: postgres.Sql = postgres({
      ...(options as object),
      max: 1,
      idle_timeout: null,
      max_lifetime: null,
      fetch_types: false,
      connection: { ...(options.connection as object), application_name: this.options.applicationName },
      onnotify: (notified: string, payload: string) => {
        if (notified === channel && (client === this.client || client === this.connecting)) this.options.onNotify(payload, client)
      },
      onclose: () => this.lost(client),
    } as unknown as postgres.Options<{}>)
    this.connecting = client
    try {
      await client.unsafe(`listen ${channel}`)
      const [row] = await client<Array<{ pid: number }>>`
        select pg_backend_pid() as pid, ${idleSessionBound(client, LISTENER_SILENCE_MS)}`
      if (this.closed) {
        await client.end({ timeout: 0 })
        return
      }
      this.client = client
      this.pid = row!.pid
      this.startHeartbeat(client)
      this.options.onUp()
    } catch (error) {
      if (!this.closed) this.options.onError?.(error)
      await client.end({ timeout: 0 }).catch(() => {})
      this.listenLater()
    } finally {
      if (this.connecting === client) this.connecting = null
    }
  }

  private startHeartbeat(client: postgres.Sql): void {
    const every = this.options.heartbeatMs ?? 2_000
    this.heartbeat = setInterval(() => {
      let answered = false
      // Looked at after the event loop has read what arrived meanwhile: a loop held up for longer than a
      // heartbeat (a busy process) finds the answer there, and is not taken for a lost connection.
      const unanswered = setTimeout(() => {
        setImmediate(() => {
          if (!answered) this.lost(client)
        })
      }, every)
      unanswered.unref()
      client`select 1`.then(
        () => {
          answered = true
          clearTimeout(unanswered)
        },
        () => {
          answered = true
          clearTimeout(unanswered)
          this.lost(client)
        },
      )
    }, every)
    this.heartbeat.unref()
  }

  /** `client` is lost: down, and listening again later, if it is the one listening. */
  private lost(client: postgres.Sql): void {
    if (client !== this.client) return
    this.client = null
    this.pid = null
    this.stopHeartbeat()
    void client.end({ timeout: 0 }).catch(() => {})
    this.options.onDown()
    this.listenLater()
  }

  private listenLater(): void {
    if (this.closed || this.retry) return
    this.retry = setTimeout(() => {
      this.retry = null
      void this.connect()
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
    const connecting = this.connecting
    this.client = this.connecting = null
    this.pid = null
    // A connection still being made is ended too: it would otherwise stay open until it answers, or forever.
    await Promise.all([client, connecting].map((each) => each?.end({ timeout: 0 }).catch(() => {})))
  }
}
