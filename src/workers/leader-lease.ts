import postgres from 'postgres'
import type { Logger } from 'pino'

export interface LeaderLeaseOptions {
  /** The database the worker processes share; the lease holds a connection of its own to it. */
  url: string
  /** The session advisory lock the leader holds (advisory-locks.ts). */
  lockKey: number
  /** How often a standby tries to take the lease, and the leader checks it still holds it. */
  checkEveryMs: number
  /** Starts what only the leader runs. */
  lead: () => void
  /** Stops it (resolves once stopped). */
  stepDown: () => Promise<void>
  logger: Pick<Logger, 'info' | 'warn'>
}

/**
 * Of the worker processes of one deployment, the one that runs the event store's followers whose work a
 * second copy only repeats (the dispatcher, the planner, the verifier): each of them, in every process,
 * read every event and published every job again, and a second worker process slowed a run down instead of
 * speeding it up (issue 11).
 *
 * The leader holds a session advisory lock on a connection of its own; it lets go when that connection
 * ends, with the process or the network. Every `checkEveryMs`, a standby tries to take the lock and the
 * leader checks it still holds it on that connection (the driver reconnects on its own, and a new
 * connection holds nothing): a leader whose connection was replaced takes the lock again if it is free,
 * and steps down if another process took it.
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

  constructor(private readonly options: LeaderLeaseOptions) {
    this.sql = postgres(options.url, {
      max: 1,
      onnotice: () => {},
      connection: { application_name: 'runbook-control-plane leader lease' },
    })
  }

  /** The first check, awaited (a lone process leads from its start), then one every `checkEveryMs`. */
  async start(): Promise<void> {
    await this.check()
    this.schedule()
  }

  /** Tries to take, or confirms, the lease now; leads or steps down accordingly. One check at a time. */
  check(): Promise<void> {
    this.checking = this.checking.then(() => this.checkOnce())
    return this.checking
  }

  /** Steps down (if leading), then ends the connection, which lets go of the lock. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.checking
    if (this.leading) {
      this.leading = false
      await this.options.stepDown()
    }
    await this.sql.end({ timeout: 5 })
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
   */
  private async holdsLock(): Promise<boolean> {
    const [row] = await this.sql<Array<{ held: boolean }>>`select pg_try_advisory_lock(${this.options.lockKey}::bigint) as held`
    return row!.held
  }
}
