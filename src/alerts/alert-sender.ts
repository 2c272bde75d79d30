import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import {
  decideDeliveryAttempt,
  decideUndeliverable,
  defaultDeliveryRetryPolicy,
  type AttemptResult,
  type DeliveryRetryPolicy,
  type DeliveryUpdate,
} from '../commands/alert-destinations-delivery.js'
import { webhookTarget } from '../commands/alert-destinations-decider.js'
import type { WebhookHostPolicy } from '../commands/alert-destinations-hosts.js'
import type { Sql } from '../db/database.js'
import { ALERT_KEY_HEADER, alertBody, alertSignature, DELIVERY_ID_HEADER, SIGNATURE_HEADER } from './webhook-request.js'

export interface AlertSenderOptions {
  sql: Sql
  logger: Logger
  /** OPS_WEBHOOK_ALLOWED_HOSTS, checked again at each send (a deployment may have narrowed it since). */
  hostPolicy: WebhookHostPolicy | null
  /** The service's own base URL, which the console's inbox path is resolved against; null: not known yet. */
  serviceBaseUrl: () => string | null
  /**
   * How often an idle sender looks for due deliveries. Polling, not a notification: the projector that
   * records deliveries may be another process, the embedded database has no LISTEN, and one query on a
   * partial index a second costs nothing; an alert waits at most this long.
   */
  pollIntervalMs?: number
  /** One POST's bound (connect and answer). */
  requestTimeoutMs?: number
  /**
   * How long a claim lasts. Longer than a request can take, so a live sender's claim never runs out under
   * it; a sender that died mid-send has its claims taken over this long after.
   */
  leaseMs?: number
  batchSize?: number
  retryPolicy?: DeliveryRetryPolicy
  /** Tests: the clock of the backoff schedule (not of the lease, which is the database's) and the jitter's draw. */
  now?: () => Date
  random?: () => number
  senderId?: string
}

interface ClaimedRow {
  id: string
  alert_key: string
  run_id: string
  destination_id: string
  payload: Record<string, unknown>
  created_at: Date
  attempts: number
  first_attempt_at: Date | null
  kind: string | null
  target: string | null
  secret: string | null
  removed: boolean
}

/**
 * SPEC §12: delivers each `recorded` alert delivery as a signed JSON POST to its destination, retrying
 * with backoff (src/commands/alert-destinations-delivery.ts decides what an attempt means). The state is
 * in the database: any number of senders, in any processes, share the work — each due delivery is claimed
 * by one (`for update skip locked`, then a lease), so it is sent once per destination.
 */
export class AlertSender {
  private readonly sql: Sql
  private readonly logger: Logger
  private readonly pollIntervalMs: number
  private readonly requestTimeoutMs: number
  private readonly leaseMs: number
  private readonly batchSize: number
  private readonly policy: DeliveryRetryPolicy
  private readonly now: () => Date
  private readonly random: () => number
  readonly senderId: string
  private running = false
  private loop: Promise<void> = Promise.resolve()
  private wakeUp: (() => void) | null = null
  /** Deliveries being sent by the loop: each on its own, so that one slow destination holds up no other. */
  private readonly inFlight = new Set<Promise<void>>()

  constructor(private readonly options: AlertSenderOptions) {
    this.sql = options.sql
    this.logger = options.logger
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000
    this.leaseMs = options.leaseMs ?? this.requestTimeoutMs + 20_000
    this.batchSize = options.batchSize ?? 16
    this.policy = options.retryPolicy ?? defaultDeliveryRetryPolicy
    this.now = options.now ?? (() => new Date())
    this.random = options.random ?? Math.random
    this.senderId = options.senderId ?? randomUUID()
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.loop = this.run()
  }

  /** Stops taking deliveries; those under way finish (each POST is bounded by its timeout). */
  async stop(): Promise<void> {
    this.running = false
    this.wakeUp?.()
    await this.loop
  }

  /**
   * Claims due deliveries while fewer than a batch are under way and sends each on its own: a destination
   * that answers slowly (or never, until the request's timeout) holds up its own delivery only, not the
   * alerts behind it. Waits for the next poll, a stop, or a delivery ending when all the slots are taken.
   */
  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0
      try {
        const free = this.batchSize - this.inFlight.size
        if (free > 0) {
          const rows = await this.claim(free)
          claimed = rows.length
          for (const row of rows) {
            const sending: Promise<void> = this.deliverOne(row).finally(() => {
              this.inFlight.delete(sending)
              this.wakeUp?.()
            })
            this.inFlight.add(sending)
          }
        }
      } catch (error) {
        this.logger.warn({ err: error }, 'alert sender: could not read or record deliveries; will try again')
      }
      // Some were due: there may be more due at once, while a slot is free.
      if (!this.running || (claimed > 0 && this.inFlight.size < this.batchSize)) continue
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.pollIntervalMs)
        timer.unref()
        this.wakeUp = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.wakeUp = null
    }
    await Promise.all(this.inFlight)
  }

  /** One pass: claims the due deliveries (at most a batch), sends them, records each outcome. */
  async runOnce(): Promise<number> {
    const claimed = await this.claim(this.batchSize)
    await Promise.all(claimed.map((row) => this.deliverOne(row)))
    return claimed.length
  }

  /** One delivery's trouble (the database gone while recording it) leaves the others alone; its claim runs out and it is tried again. */
  private deliverOne(row: ClaimedRow): Promise<void> {
    return this.deliver(row).catch((error: unknown) =>
      this.logger.warn({ err: error, deliveryId: row.id, destinationId: row.destination_id }, 'alert sender: could not record a delivery attempt; will try again'),
    )
  }

  /**
   * Two clocks: the lease (`claimed_until`) is set and compared with the DATABASE's clock, the one clock
   * every sender shares, so that senders whose own clocks are skewed by more than the lease never both
   * hold a delivery; the backoff schedule (`next_attempt_at`, `first_attempt_at`, the 24 hours) is the
   * sender's clock (`now`, which tests move), where a skew only makes a retry early or late.
   */
  private async claim(limit: number): Promise<ClaimedRow[]> {
    const now = this.now()
    return this.sql<ClaimedRow[]>`
      with due as (
        select id from alert_deliveries
        where status = 'recorded'
          and (next_attempt_at is null or next_attempt_at <= ${now.toISOString()})
          and (claimed_until is null or claimed_until <= clock_timestamp())
        order by coalesce(next_attempt_at, created_at), id
        limit ${limit}
        for update skip locked),
      claimed as (
        update alert_deliveries d
        set claimed_by = ${this.senderId}, claimed_until = clock_timestamp() + make_interval(secs => ${this.leaseMs / 1000}::double precision)
        from due where d.id = due.id
        returning d.id, d.alert_key, d.run_id, d.destination_id, d.payload, d.created_at, d.attempts, d.first_attempt_at)
      select c.*, t.kind, t.target, t.secret, (t.id is null or t.removed_at is not null or not t.enabled) as removed
      from claimed c left join alert_destinations t on t.id = c.destination_id`
  }

  private async deliver(row: ClaimedRow): Promise<void> {
    const progress = { attempts: row.attempts, firstAttemptAt: row.first_attempt_at?.toISOString() ?? null }
    let update: DeliveryUpdate
    const target = this.targetOf(row)
    if (target === 'removed') update = decideUndeliverable(progress, 'DESTINATION_REMOVED')
    else if (target === 'not_allowed') update = decideUndeliverable(progress, 'HOST_NOT_ALLOWED')
    else if (target === 'unsupported') update = decideUndeliverable(progress, 'UNSUPPORTED_DESTINATION')
    else {
      const result = target === null ? ({ kind: 'error', errorClass: 'NO_SERVICE_URL' } as const) : await this.post(row, target)
      update = decideDeliveryAttempt(progress, result, { at: this.now(), policy: this.policy, random: this.random() })
    }
    const recorded = await this.record(row.id, update)
    const fields = { deliveryId: row.id, destinationId: row.destination_id, alertKey: row.alert_key, runId: row.run_id, attempts: update.attempts }
    if (recorded === 'destination_removed') {
      this.logger.info(fields, "alert sender: the delivery's destination was removed while it was being sent; the removal failed it, this attempt's outcome is not recorded")
    } else if (recorded === 'taken_over') {
      this.logger.warn(fields, 'alert sender: the claim on a delivery ran out before its outcome was recorded; another sender took it over')
    } else if (recorded === 'settled') {
      this.logger.warn(fields, "alert sender: the delivery was settled by something else while it was being sent; this attempt's outcome is not recorded")
    } else if (update.status === 'delivered') this.logger.info(fields, 'alert delivered')
    else if (update.status === 'failed') this.logger.warn({ ...fields, lastError: update.lastError }, 'alert delivery failed for good')
    else this.logger.info({ ...fields, lastError: update.lastError, nextAttemptAt: update.nextAttemptAt }, 'alert delivery attempt failed; will retry')
  }

  /** Where to POST, with the credentials of the URL apart; null when the service's own URL is not known. */
  private targetOf(row: ClaimedRow): { url: URL; secret: string } | 'removed' | 'not_allowed' | 'unsupported' | null {
    if (row.removed || row.target === null) return 'removed'
    if (row.kind !== 'console' && row.kind !== 'webhook') return 'unsupported'
    // Unsigned it cannot go (a console row of an earlier release, before the start that gives it a secret).
    if (row.secret === null) return 'unsupported'
    if (row.kind === 'console') {
      const base = this.options.serviceBaseUrl()
      return base === null ? null : { url: new URL(row.target, base), secret: row.secret }
    }
    // The rules an operator's URL met when it was added (the decider's), checked again: the allowed hosts may
    // have narrowed since, and a row of an earlier release (or by hand) may break any of them.
    const checked = webhookTarget(row.target, this.options.hostPolicy)
    if (!checked.ok) return checked.reason === 'host' ? 'not_allowed' : 'unsupported'
    return { url: checked.url, secret: row.secret }
  }

  private async post(row: ClaimedRow, target: { url: URL; secret: string }): Promise<AttemptResult> {
    const body = alertBody({ deliveryId: row.id, alertKey: row.alert_key, raisedAt: row.created_at.toISOString(), payload: row.payload })
    const url = new URL(target.url)
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      [SIGNATURE_HEADER]: alertSignature(body, target.secret),
      [DELIVERY_ID_HEADER]: row.id,
      [ALERT_KEY_HEADER]: row.alert_key,
      'User-Agent': 'runbook-control-plane-alerts/1',
    }
    // fetch refuses a URL with user info: it goes as Basic authentication, as a browser would send it.
    if (url.username || url.password) {
      headers.Authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      url.username = ''
      url.password = ''
    }
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body: new Uint8Array(body),
        // A redirect is not followed: it could lead to a host the allowed list refuses. It is a non-2xx answer.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      })
      await response.body?.cancel().catch(() => {})
      return { kind: 'answered', status: response.status }
    } catch (error) {
      return { kind: 'error', errorClass: errorClassOf(error) }
    }
  }

  /**
   * Only while the claim is this sender's: a sender whose lease ran out records nothing over its successor,
   * nor over a removal of the destination (which failed the delivery and dropped the claim). Says which.
   */
  private async record(id: string, update: DeliveryUpdate): Promise<'recorded' | 'destination_removed' | 'taken_over' | 'settled'> {
    const rows = await this.sql`
      update alert_deliveries set
        status = ${update.status},
        attempts = ${update.attempts},
        first_attempt_at = coalesce(${update.firstAttemptAt}::timestamptz, first_attempt_at),
        last_attempt_at = coalesce(${update.lastAttemptAt}::timestamptz, last_attempt_at),
        next_attempt_at = ${update.nextAttemptAt}::timestamptz,
        delivered_at = ${update.deliveredAt}::timestamptz,
        last_error = ${update.lastError},
        claimed_by = null,
        claimed_until = null
      where id = ${id} and claimed_by = ${this.senderId} and status = 'recorded'
      returning id`
    if (rows.length > 0) return 'recorded'
    const [now] = await this.sql<Array<{ status: string; last_error: string | null }>>`select status, last_error from alert_deliveries where id = ${id}`
    if (now?.status === 'failed' && now.last_error === 'DESTINATION_REMOVED') return 'destination_removed'
    return now?.status === 'recorded' ? 'taken_over' : 'settled'
  }
}

/**
 * The class of what stopped a POST (a timeout, a refused connection, …): never its message, which may
 * quote the URL, nor anything the receiver sent.
 */
export function errorClassOf(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'TIMEOUT'
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined
  const code = cause && typeof cause.code === 'string' ? cause.code : null
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'TIMEOUT'
  if (code && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code
  return 'NETWORK_ERROR'
}
