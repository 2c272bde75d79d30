import postgres from 'postgres'
import type { Logger } from 'pino'
import { idleSessionBound } from '../db/database.js'

export interface LeaderLeaseOptions {
  /** The database the worker processes share; the lease holds a connection of its own to it. */
  url: string
  /** The session advisory lock the leader holds (advisory-locks.ts). */
  lockKey: number
  /** How often a standby tries to take the lease, and the leader checks it still holds it. */
  checkEveryMs: number
  /** The server ends a lease's session idle this long (default: ten checks, at least 5 s; see `holdsLock`). */
  idleSessionTimeoutMs?: number
  /** Starts what only the leader runs. */
  lead: () => void
  /** Stops it (resolves once stopped). */
  stepDown: () => Promise<void>
  logger: Pick<Logger, 'info' | 'warn'>
}

/**
 * How the lease's connections are named to the server (`pg_stat_activity.application_name`), followed by the
 * process's pid: which process leads shows in `pg_stat_activity` beside the lock in `pg_locks`.
 */
export const LEASE_APPLICATION_NAME = 'runbook-control-plane leader lease'

/**
 * Of the worker processes of one deployment, the one that runs the event store's followers whose work a
 * second copy only repeats (the dispatcher, the planner, the verifier): each of them, in every process,
 * read every event and published every job again, and a second worker process slowed a run down instead of
 * speeding it up (issue 11).
 *
 * The leader holds a session advisory lock on a connection of its own; it lets go when that connection
 * ends, with the process or the network. Every `checkEveryMs`, a standby tries to take the lock and the
 * leader checks it still holds it on that connection (the driver reconnects on its own, and a new
 * connection holds nothing): a leader whose connection ended steps down as soon as the driver sees it
 * closed, or at the check that finds it so, and leads again at a later check if no other process took the
 * lock meanwhile.
 *
 * Not what keeps the followers safe: each stays correct run by several processes at once (handlers are
 * idempotent, jobs go out under dedupe ids), which happens for at most a check's interval when a leader's
 * connection is cut. A leader that died is replaced within `checkEveryMs` of its connection ending.
 */
export class LeaderLease {
  private readonly sql: postgres.Sql
  private timer: NodeJS.Timeout | null = null
  private checking: Promise<void> = Promise.resolve()
  private stopped = false
  private failedChecks = 0
  leading = false
  private readonly idleSessionTimeoutMs: number

  constructor(private readonly options: LeaderLeaseOptions) {
    this.idleSessionTimeoutMs = options.idleSessionTimeoutMs ?? Math.max(5_000, 10 * options.checkEveryMs)
    this.sql = postgres(options.url, {
      max: 1,
      // The connection is the lease: the driver must not end it on its own (by default it ends every
      // connection after 30–60 minutes, which would hand the lease around for nothing).
      max_lifetime: null,
      onnotice: () => {},
      // The lock went with the connection: the leader steps down now, not at its next check.
      onclose: () => void this.connectionEnded(),
      connection: { application_name: `${LEASE_APPLICATION_NAME} (pid ${process.pid})` },
    })
  }

  /** The first check, awaited (a lone process leads from its start), then one every `checkEveryMs`. */
  async start(): Promise<void> {
    await this.check()
    this.schedule()
  }

  /** Tries to take, or confirms, the lease now; leads or steps down accordingly. One check at a time; never fails. */
  check(): Promise<void> {
    this.checking = this.checking.then(() =>
      this.checkOnce().catch((error: unknown) => this.options.logger.warn({ err: error }, 'leader lease: a check failed')),
    )
    return this.checking
  }

  /**
   * Steps down (if leading), then ends the connection, which lets go of the lock. A check hung on a
   * connection that stopped answering holds the stop for a second at most: the connection is then destroyed.
   */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (this.leading) {
      this.leading = false
      await this.options.stepDown().catch((error: unknown) => this.options.logger.warn({ err: error }, 'leader lease: stepping down failed'))
    }
    await this.sql.end({ timeout: 1 }).catch(() => {})
    await this.checking
  }

  /** In turn with the checks, so that a check that took the lock on a new connection is not undone. */
  private connectionEnded(): Promise<void> {
    this.checking = this.checking.then(async () => {
      if (!this.leading || this.stopped) return
      this.leading = false
      this.options.logger.warn({}, 'the leader lease\'s connection ended: no longer leading the dispatcher, the planner and the verifier')
      await this.options.stepDown().catch((error: unknown) => this.options.logger.warn({ err: error }, 'leader lease: stepping down failed'))
    })
    return this.checking
  }

  private schedule(): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      void this.check().finally(() => this.schedule())
    }, this.options.checkEveryMs)
    this.timer.unref()
  }

  private async checkOnce(): Promise<void> {
    if (this.stopped) return
    const held = await this.holdsLock().then(
      (held) => {
        this.failedChecks = 0
        return held
      },
      (error: unknown) => {
        // The database away, or the connection found ended (which let go of the lock; the driver opens another
        // for the next check): this process cannot tell whether it still holds the lock, so it steps down, and
        // the next check that is answered decides.
        if (this.failedChecks++ === 0) this.options.logger.warn({ err: error }, 'leader lease: the database did not answer; not leading until it does')
        return false
      },
    )
    if (held === this.leading || this.stopped) return
    this.leading = held
    if (held) {
      this.options.logger.info({}, 'leading the dispatcher, the planner and the verifier of this deployment')
      this.options.lead()
    } else {
      this.options.logger.warn({}, 'no longer leading the dispatcher, the planner and the verifier')
      await this.options.stepDown()
    }
  }

  /**
   * Whether this connection holds the lock once the statement ran: taken now if free, or held already (a
   * session advisory lock is taken again by the session that holds it; it is never let go but with the
   * connection, so how many times does not matter).
   *
   * The same statement has the server end this session when it stays idle for IDLE_SESSION_TIMEOUT_MS
   * (PostgreSQL 14 and later): a live process checks every `checkEveryMs`, so only one that stopped
   * (frozen, its host gone, the network cut) is cut off, and its lock freed, in seconds rather than when TCP
   * gives up, hours later.
   */
  private async holdsLock(): Promise<boolean> {
    const [row] = await this.sql<Array<{ held: boolean }>>`
      select pg_try_advisory_lock(${this.options.lockKey}::bigint) as held, ${idleSessionBound(this.sql, this.idleSessionTimeoutMs)}`
    return row!.held
  }
}
