import {
  AckPolicy,
  connect,
  DeliverPolicy,
  DiscardPolicy,
  nanos,
  NatsError,
  RetentionPolicy,
  StorageType,
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats'
import type { Logger } from 'pino'
import { recogniseOutages } from '../dependency-outages.js'
import type { ConsumeOptions, JobConsumer, JobDelivery, JobQueue, QueueDepth, TenantJob } from './job-queue.js'

// NATS client errors of a connection that is gone or not answering (the client reconnects by itself): the
// API answers 503 with Retry-After while NATS is down (src/http/dependency-unavailable.ts).
const UNAVAILABLE_NATS_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_DRAINING', 'DISCONNECT', 'TIMEOUT', 'CONNECTION_REFUSED', '503'])
recogniseOutages((error) => (error instanceof NatsError && UNAVAILABLE_NATS_CODES.has(error.code) ? `NATS ${error.code}` : null))

export interface NatsJobQueueOptions {
  /** nats://host:port; may carry credentials, so it is never logged. */
  url: string
  /** Stream name. Default `RUNBOOK_JOBS`. Give each test run its own. */
  stream?: string
  /** The one subject jobs are published on. Default `runbook.jobs`. Must not overlap another stream's. */
  subject?: string
  /** Durable pull consumer shared by every worker. Default `runbook-workers`. */
  durable?: string
  /** JetStream AckWait. Default 30 s; `working()` extends it. */
  ackWaitMs?: number
  /** JetStream MaxDeliver. Default 20: the application decides final failure earlier itself. */
  maxDeliver?: number
  /** Window in which a repeated dedupe id (Nats-Msg-Id) is dropped. Default 2 min. */
  duplicateWindowMs?: number
  /** Delay before a job whose handler threw is delivered again. Default 1 s. */
  failedHandlerRetryMs?: number
  /** How long one idle pull request waits on the server for a job. Default 5 s, minimum 1 s. */
  pullExpiresMs?: number
  logger?: Pick<Logger, 'warn'>
  /**
   * Called after this process found the stream gone (deleted, or the server's store wiped) and created it
   * again: every job it held is lost, and the reconciler should re-dispatch without waiting for staleness.
   */
  onStreamRecreated?: () => void
}

interface QueueTopology {
  stream: string
  subject: string
  durable: string
  ackWaitMs: number
  maxDeliver: number
  duplicateWindowMs: number
}

const STREAM_NOT_FOUND = 10059
const CONSUMER_NOT_FOUND = 10014
const ACK_CONFIRM_TIMEOUT_MS = 5_000
const PULL_ERROR_BACKOFF_MS = 1_000
const HEALTH_TIMEOUT_MS = 2_000
// NATS answers a publish with 503 (no responders) when no stream listens on the subject; JetStream's own
// refusal to store carries the same code, with an API error (see isStoreRefusal).
const NO_RESPONDERS = '503'

/**
 * JetStream's answer that a stream took the message but could not store it (its API error 503, as
 * JSStreamStoreFailed: a broken message block, a limit reached). Not NATS being away: that is no answer at all,
 * or a 503 without an API error (no responders).
 */
function isStoreRefusal(error: unknown): error is NatsError {
  return error instanceof NatsError && error.api_error?.code === 503
}

/**
 * Job queue on NATS JetStream: a work-queue stream (a job leaves it once acked) and one durable pull
 * consumer with explicit acks. NATS may still lose or repeat a job (DESIGN invariant 7); the
 * reconciler and idempotent handlers cover that. The stream and the consumer are this queue's to keep:
 * when either vanishes (deleted, or the server restarted with an empty store) a publish that finds no
 * stream, or a pull that comes back empty or fails, makes them again (`restoreTopology`).
 */
export class NatsJobQueue<J = TenantJob> implements JobQueue<J> {
  private readonly consumers = new Set<NatsJobConsumer<J>>()
  private readonly encoder = new TextEncoder()
  private closing: Promise<void> | undefined
  private restoring: Promise<void> | null = null
  private lastTopologyCheck = 0

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly consumer: Consumer,
    private readonly topology: QueueTopology,
    private readonly settings: {
      failedHandlerRetryMs: number
      pullExpiresMs: number
      logger: Pick<Logger, 'warn'> | undefined
      onStreamRecreated: (() => void) | undefined
    },
  ) {}

  static async connect<J = TenantJob>(options: NatsJobQueueOptions): Promise<NatsJobQueue<J>> {
    const stream = options.stream ?? 'RUNBOOK_JOBS'
    const subject = options.subject ?? 'runbook.jobs'
    const durable = options.durable ?? 'runbook-workers'
    const ackWaitMs = positiveInteger(options.ackWaitMs ?? 30_000, 'ackWaitMs')
    const maxDeliver = positiveInteger(options.maxDeliver ?? 20, 'maxDeliver')
    const duplicateWindowMs = positiveInteger(options.duplicateWindowMs ?? 120_000, 'duplicateWindowMs')
    const failedHandlerRetryMs = nonNegativeInteger(options.failedHandlerRetryMs ?? 1_000, 'failedHandlerRetryMs')
    const pullExpiresMs = Math.max(1_000, positiveInteger(options.pullExpiresMs ?? 5_000, 'pullExpiresMs'))

    const topology: QueueTopology = { stream, subject, durable, ackWaitMs, maxDeliver, duplicateWindowMs }

    const nc = await connect({ servers: options.url, name: `job-queue:${stream}`, maxReconnectAttempts: -1 })
    try {
      const jsm = await nc.jetstreamManager()
      // At connect the settings are brought back too (a deployment changed JOB_ACK_WAIT_MS, say); later
      // checks only make what is missing, so processes of two releases never flip the settings to and fro.
      const streamCreated = await ensureStream(jsm, topology, { bringBackSettings: true })
      await ensureConsumer(jsm, topology, { bringBackSettings: true })
      // A stream made at connect may be one that was lost (a worker started after NATS's store was wiped).
      if (streamCreated) options.onStreamRecreated?.()
      const js = nc.jetstream()
      const consumer = await js.consumers.get(stream, durable)
      return new NatsJobQueue<J>(nc, js, jsm, consumer, topology, {
        failedHandlerRetryMs,
        pullExpiresMs,
        logger: options.logger,
        onStreamRecreated: options.onStreamRecreated,
      })
    } catch (error) {
      await nc.close()
      throw error
    }
  }

  async publish(job: J, dedupeId: string): Promise<void> {
    // The server drops a repeated Nats-Msg-Id within the duplicate window and answers with duplicate=true.
    const send = () => this.js.publish(this.topology.subject, this.encoder.encode(JSON.stringify(job)), { msgID: dedupeId })
    try {
      await send()
    } catch (error) {
      if (!(error instanceof NatsError && error.code === NO_RESPONDERS)) throw error
      await this.restoreTopology()
      try {
        await send()
      } catch (again) {
        if (!isStoreRefusal(again)) throw again
        await this.replaceRefusingStream(again)
        await send()
      }
    }
  }

  /**
   * The stream exists but refuses to store (twice in a row): it is made again, empty. Seen when nats-server
   * 2.9 lost a stream's message block to the removal of an earlier stream of the same name, deleted and made
   * again a moment before ("error opening msg block file"): every publish failed from then on, and no run
   * could progress. Its jobs were lost with the block anyway; the reconciler dispatches what runs still need
   * (DESIGN invariant 7), as after any loss of the stream (`onStreamRecreated`).
   */
  private async replaceRefusingStream(refusal: NatsError): Promise<void> {
    this.settings.logger?.warn(
      { stream: this.topology.stream, refusal: refusal.api_error?.description ?? refusal.message },
      'the job stream refuses to store jobs; deleting it to make it again',
    )
    await this.jsm.streams.delete(this.topology.stream).catch((error: unknown) => {
      if (!(error instanceof NatsError && error.api_error?.err_code === STREAM_NOT_FOUND)) throw error
    })
    await this.restoreTopology()
  }

  /** Makes the stream and the consumer again where they are missing. Concurrent callers share one attempt. */
  restoreTopology(): Promise<void> {
    this.restoring ??= (async () => {
      try {
        this.lastTopologyCheck = Date.now()
        // A stream found gone was deleted a moment ago, perhaps: nats-server 2.9 removes its files after
        // answering, and a stream of the same name made meanwhile lost its first message block to that removal
        // (its messages stored, never delivered, in CI's `delete-stream` fault). It is made again a moment later.
        const streamCreated = await ensureStream(this.jsm, this.topology, { bringBackSettings: false, settleBeforeMakingMs: STREAM_REMAKE_DELAY_MS })
        const consumerCreated = await ensureConsumer(this.jsm, this.topology, { bringBackSettings: false })
        if (streamCreated || consumerCreated) {
          this.settings.logger?.warn(
            { stream: this.topology.stream, streamCreated, consumerCreated },
            'the job stream or its consumer had vanished; created again',
          )
        }
        if (streamCreated) this.settings.onStreamRecreated?.()
      } finally {
        this.restoring = null
      }
    })()
    return this.restoring
  }

  /**
   * An empty pull cannot tell an idle queue from a vanished stream (NATS answers both the same way), and a
   * failed one may be a deleted consumer: after either, the topology is checked, at most once per pull
   * period for the whole process.
   */
  private async checkTopologyAfterEmptyPull(): Promise<void> {
    if (this.closing || Date.now() - this.lastTopologyCheck < this.settings.pullExpiresMs) return
    try {
      await this.restoreTopology()
    } catch (error) {
      this.settings.logger?.warn({ error: errorName(error) }, 'checking the job stream failed; retrying')
    }
  }

  async consume(handler: (delivery: JobDelivery<J>) => Promise<void>, options: ConsumeOptions): Promise<JobConsumer> {
    if (this.closing) throw new Error('job queue is closed')
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError('concurrency must be a positive integer')
    }
    const jobConsumer = new NatsJobConsumer<J>(this.consumer, handler, options.concurrency, {
      ...this.settings,
      afterEmptyPull: () => this.checkTopologyAfterEmptyPull(),
      afterFailedPull: () => this.checkTopologyAfterEmptyPull(),
    })
    this.consumers.add(jobConsumer)
    return {
      stop: async () => {
        await jobConsumer.stop()
        this.consumers.delete(jobConsumer)
      },
    }
  }

  async healthy(): Promise<boolean> {
    if (this.nc.isClosed()) return false
    try {
      // A stream lookup proves both the connection and JetStream answer, not just the socket.
      await withTimeout(this.jsm.streams.info(this.topology.stream), HEALTH_TIMEOUT_MS)
      return true
    } catch {
      return false
    }
  }

  /** From the durable consumer's state on the server: the same whichever process asks. */
  async depth(): Promise<QueueDepth> {
    const info = await withTimeout(this.jsm.consumers.info(this.topology.stream, this.topology.durable), HEALTH_TIMEOUT_MS)
    return { waiting: info.num_pending, inFlight: info.num_ack_pending }
  }

  /** Stops every consumer (waiting for their handlers), then drains the connection. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.consumers].map((consumer) => consumer.stop()))
      this.consumers.clear()
      if (!this.nc.isClosed()) await this.nc.drain()
    })()
    return this.closing
  }
}

/**
 * Runs `concurrency` slots; each pulls one job only when it is free, so no job waits in a client-side
 * buffer while its ack wait runs out.
 */
class NatsJobConsumer<J> {
  private stopping = false
  private readonly openPulls = new Set<ConsumerMessages>()
  private readonly slots: Promise<void>[]
  private readonly decoder = new TextDecoder()
  private wakeSleepers: () => void = () => {}
  private readonly stopRequested = new Promise<void>((resolve) => {
    this.wakeSleepers = resolve
  })

  constructor(
    private readonly consumer: Consumer,
    private readonly handler: (delivery: JobDelivery<J>) => Promise<void>,
    concurrency: number,
    private readonly settings: {
      failedHandlerRetryMs: number
      pullExpiresMs: number
      logger: Pick<Logger, 'warn'> | undefined
      afterEmptyPull: () => Promise<void>
      afterFailedPull: () => Promise<void>
    },
  ) {
    this.slots = Array.from({ length: concurrency }, () => this.runSlot())
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.wakeSleepers()
    // Stopping a pull unsubscribes at once; a job already received is still handed over (and returned).
    for (const pull of this.openPulls) pull.stop()
    await Promise.all(this.slots)
  }

  private async runSlot(): Promise<void> {
    while (!this.stopping) {
      let msg: JsMsg | undefined
      try {
        msg = await this.pullOne()
      } catch (error) {
        this.settings.logger?.warn({ error: errorName(error) }, 'pulling a job from NATS failed; retrying')
        await Promise.race([delay(PULL_ERROR_BACKOFF_MS), this.stopRequested])
        if (!this.stopping) await this.settings.afterFailedPull()
        continue
      }
      if (!msg) {
        if (!this.stopping) await this.settings.afterEmptyPull()
        continue
      }
      if (this.stopping) {
        // Arrived as we stopped: hand it straight back to the other workers.
        msg.nak()
        return
      }
      await this.handle(msg)
    }
  }

  private async pullOne(): Promise<JsMsg | undefined> {
    const pull = await this.consumer.fetch({ max_messages: 1, expires: this.settings.pullExpiresMs })
    this.openPulls.add(pull)
    try {
      if (this.stopping) pull.stop()
      for await (const msg of pull) return msg
      return undefined
    } finally {
      this.openPulls.delete(pull)
    }
  }

  private async handle(msg: JsMsg): Promise<void> {
    let job: J
    try {
      job = JSON.parse(this.decoder.decode(msg.data)) as J
    } catch {
      // A payload that never parses would only burn deliveries; the reconciler re-dispatches real jobs.
      this.settings.logger?.warn({ seq: msg.seq }, 'undecodable job payload; terminating the message')
      msg.term()
      return
    }

    let settled = false
    const delivery: JobDelivery<J> = {
      job,
      deliveryCount: msg.info.deliveryCount,
      ack: async () => {
        if (settled) return
        settled = true
        // In a work-queue stream a confirmed ack removes the job; an unconfirmed one may come back.
        const confirmed = await msg.ackAck({ timeout: ACK_CONFIRM_TIMEOUT_MS })
        if (!confirmed) throw new Error('NATS did not confirm the job ack')
      },
      retryLater: async (delayMs: number) => {
        if (settled) return
        settled = true
        msg.nak(Math.max(0, Math.round(delayMs)))
      },
      working: async () => {
        if (settled) return
        msg.working()
      },
    }

    try {
      await this.handler(delivery)
    } catch (error) {
      this.settings.logger?.warn(
        { error: errorName(error), deliveryCount: msg.info.deliveryCount, seq: msg.seq },
        'job handler failed; the job will be delivered again',
      )
      if (!settled) {
        settled = true
        msg.nak(this.settings.failedHandlerRetryMs)
      }
    }
  }
}

/** How long a stream found gone waits before it is made again (see `restoreTopology`). */
const STREAM_REMAKE_DELAY_MS = 1_000

/**
 * Creates the stream when missing (true), `settleBeforeMakingMs` after finding it so; with
 * `bringBackSettings`, updates one whose settings differ.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  spec: QueueTopology,
  options: { bringBackSettings: boolean; settleBeforeMakingMs?: number },
): Promise<boolean> {
  // No age, count or size limit: a limit would delete jobs nobody has processed yet.
  const settings = {
    subjects: [spec.subject],
    duplicate_window: nanos(spec.duplicateWindowMs),
    max_age: 0,
    max_msgs: -1,
    max_bytes: -1,
    max_msgs_per_subject: -1,
    discard: DiscardPolicy.Old,
  }
  const current = await findOrMake(
    () => jsm.streams.info(spec.stream),
    STREAM_NOT_FOUND,
    async () => {
      if (options.settleBeforeMakingMs) await new Promise((resolve) => setTimeout(resolve, options.settleBeforeMakingMs))
      return jsm.streams.add({ name: spec.stream, retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: 1, ...settings })
    },
  )
  if (current === MADE) return true
  const config = current.config
  const drifted =
    config.subjects.join() !== settings.subjects.join() ||
    config.duplicate_window !== settings.duplicate_window ||
    config.max_age !== settings.max_age ||
    config.max_msgs !== settings.max_msgs ||
    config.max_bytes !== settings.max_bytes ||
    config.max_msgs_per_subject !== settings.max_msgs_per_subject ||
    config.discard !== settings.discard
  if (options.bringBackSettings && drifted) await jsm.streams.update(spec.stream, settings)
  return false
}

/** Creates the durable consumer when missing (true); with `bringBackSettings`, updates one whose settings differ. */
export async function ensureConsumer(jsm: JetStreamManager, spec: QueueTopology, options: { bringBackSettings: boolean }): Promise<boolean> {
  const settings = { ack_wait: nanos(spec.ackWaitMs), max_deliver: spec.maxDeliver }
  const current = await findOrMake(
    () => jsm.consumers.info(spec.stream, spec.durable),
    CONSUMER_NOT_FOUND,
    () =>
      jsm.consumers.add(spec.stream, {
        durable_name: spec.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: spec.subject,
        ...settings,
      }),
  )
  if (current === MADE) return true
  if (options.bringBackSettings && (current.config.ack_wait !== settings.ack_wait || current.config.max_deliver !== settings.max_deliver)) {
    await jsm.consumers.update(spec.stream, spec.durable, settings)
  }
  return false
}

const MADE = Symbol('made')

/**
 * What `find` finds; when JetStream says it is missing (`notFound`), `make` makes it (MADE). Another process
 * may be making it at the same moment (processes started together): JetStream refusing the make is no
 * failure when `find` then finds it (its settings are compared and brought back as when found at once); else
 * the refusal is thrown. A make identical to what exists is answered as done; JetStream refuses one that
 * differs (a process of another release) or while it is briefly unavailable.
 */
async function findOrMake<T>(find: () => Promise<T>, notFound: number, make: () => Promise<unknown>): Promise<T | typeof MADE> {
  try {
    return await find()
  } catch (error) {
    if (apiErrorCode(error) !== notFound) throw error
  }
  try {
    await make()
    return MADE
  } catch (error) {
    if (apiErrorCode(error) === undefined) throw error
    return find().catch(() => {
      throw error
    })
  }
}

function apiErrorCode(error: unknown): number | undefined {
  return error instanceof NatsError ? error.api_error?.err_code : undefined
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function positiveInteger(value: number, name: string): number {
  if (!(Number.isInteger(value) && value > 0)) throw new RangeError(`${name} must be a positive integer`)
  return value
}

function nonNegativeInteger(value: number, name: string): number {
  if (!(Number.isInteger(value) && value >= 0)) throw new RangeError(`${name} must be a non-negative integer`)
  return value
}

/** Only the error's class name: messages may carry connection strings or tenant data. */
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error
}
