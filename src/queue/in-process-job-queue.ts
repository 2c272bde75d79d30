import type { Logger } from 'pino'
import type { ConsumeOptions, JobConsumer, JobDelivery, JobQueue, QueueDepth, TenantJob } from './job-queue.js'

export interface InProcessJobQueueOptions {
  /** A delivery neither acked nor retried within this time is delivered again. Default 30 s. */
  ackWaitMs?: number
  /** A publish repeating a dedupe id seen within this time is dropped. Default 2 min, like the NATS adapter. */
  duplicateWindowMs?: number
  /** Delay before a job whose handler threw is delivered again. Default 1 s. */
  failedHandlerRetryMs?: number
  logger?: Pick<Logger, 'warn'>
}

type JobState = 'ready' | 'in-flight' | 'delayed'

interface StoredJob<J> {
  seq: number
  job: J
  state: JobState
  deliveryCount: number
  /** Identifies the current delivery, so a stale delivery's retryLater/working cannot touch a newer one. */
  deliveryToken: number
  timer: NodeJS.Timeout | undefined
}

interface ActiveConsumer<J> {
  handler: (delivery: JobDelivery<J>) => Promise<void>
  concurrency: number
  running: number
  stopping: boolean
  inFlight: Set<Promise<void>>
}

/**
 * The one-process default queue: JetStream's work-queue semantics (dedupe window, ack wait, redelivery,
 * bounded concurrency) kept in memory. Jobs do not survive the process; the reconciler re-dispatches
 * the tenant jobs of running runs after a restart (DESIGN invariant 7).
 */
export class InProcessJobQueue<J = TenantJob> implements JobQueue<J> {
  private readonly ackWaitMs: number
  private readonly duplicateWindowMs: number
  private readonly failedHandlerRetryMs: number
  private readonly logger: Pick<Logger, 'warn'> | undefined
  private readonly jobs = new Map<number, StoredJob<J>>()
  private readonly ready: StoredJob<J>[] = []
  /** Dedupe id → time it stops deduplicating; insertion order is expiry order (one window for all). */
  private readonly recentDedupeIds = new Map<string, number>()
  private readonly consumers: ActiveConsumer<J>[] = []
  private nextSeq = 1
  private nextConsumerIndex = 0
  private closed = false

  constructor(options: InProcessJobQueueOptions = {}) {
    this.ackWaitMs = positive(options.ackWaitMs ?? 30_000, 'ackWaitMs')
    this.duplicateWindowMs = positive(options.duplicateWindowMs ?? 120_000, 'duplicateWindowMs')
    this.failedHandlerRetryMs = nonNegative(options.failedHandlerRetryMs ?? 1_000, 'failedHandlerRetryMs')
    this.logger = options.logger
  }

  async publish(job: J, dedupeId: string): Promise<void> {
    if (this.closed) throw new Error('job queue is closed')
    const now = Date.now()
    this.forgetExpiredDedupeIds(now)
    if (this.recentDedupeIds.has(dedupeId)) return
    this.recentDedupeIds.set(dedupeId, now + this.duplicateWindowMs)
    // A structured clone gives handlers their own copy, as a serialised message would.
    const stored: StoredJob<J> = {
      seq: this.nextSeq++,
      job: structuredClone(job),
      state: 'ready',
      deliveryCount: 0,
      deliveryToken: 0,
      timer: undefined,
    }
    this.jobs.set(stored.seq, stored)
    this.ready.push(stored)
    this.pump()
  }

  async consume(handler: (delivery: JobDelivery<J>) => Promise<void>, options: ConsumeOptions): Promise<JobConsumer> {
    if (this.closed) throw new Error('job queue is closed')
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError('concurrency must be a positive integer')
    }
    const consumer: ActiveConsumer<J> = {
      handler,
      concurrency: options.concurrency,
      running: 0,
      stopping: false,
      inFlight: new Set(),
    }
    this.consumers.push(consumer)
    this.pump()
    return { stop: () => this.stopConsumer(consumer) }
  }

  async healthy(): Promise<boolean> {
    return !this.closed
  }

  /** Delayed jobs (retried later) count as waiting: they are still to be done. */
  async depth(): Promise<QueueDepth> {
    let inFlight = 0
    for (const stored of this.jobs.values()) if (stored.state === 'in-flight') inFlight += 1
    return { waiting: this.jobs.size - inFlight, inFlight }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all([...this.consumers].map((consumer) => this.stopConsumer(consumer)))
    for (const stored of this.jobs.values()) clearTimeout(stored.timer)
    this.jobs.clear()
    this.ready.length = 0
  }

  private async stopConsumer(consumer: ActiveConsumer<J>): Promise<void> {
    consumer.stopping = true
    const index = this.consumers.indexOf(consumer)
    if (index >= 0) this.consumers.splice(index, 1)
    // Handlers started while we wait are impossible: a stopping consumer is no longer in the list.
    await Promise.all([...consumer.inFlight])
  }

  /** Hands ready jobs to consumers with free slots, round-robin so several consumers share the work. */
  private pump(): void {
    while (this.ready.length > 0) {
      const consumer = this.nextConsumerWithFreeSlot()
      if (!consumer) return
      const stored = this.ready.shift()!
      this.deliver(consumer, stored)
    }
  }

  private nextConsumerWithFreeSlot(): ActiveConsumer<J> | undefined {
    const count = this.consumers.length
    for (let i = 0; i < count; i++) {
      const index = (this.nextConsumerIndex + i) % count
      const consumer = this.consumers[index]!
      if (!consumer.stopping && consumer.running < consumer.concurrency) {
        this.nextConsumerIndex = (index + 1) % count
        return consumer
      }
    }
    return undefined
  }

  private deliver(consumer: ActiveConsumer<J>, stored: StoredJob<J>): void {
    stored.state = 'in-flight'
    stored.deliveryCount += 1
    const token = ++stored.deliveryToken
    this.armAckTimer(stored, token)
    consumer.running += 1

    let settled = false
    const isCurrent = () => !settled && stored.deliveryToken === token && this.jobs.get(stored.seq) === stored
    const delivery: JobDelivery<J> = {
      job: structuredClone(stored.job),
      deliveryCount: stored.deliveryCount,
      ack: async () => {
        // Like a JetStream ack, a late ack still removes the job even if it was redelivered meanwhile.
        settled = true
        if (this.jobs.get(stored.seq) !== stored) return
        clearTimeout(stored.timer)
        this.jobs.delete(stored.seq)
        const readyIndex = this.ready.indexOf(stored)
        if (readyIndex >= 0) this.ready.splice(readyIndex, 1)
      },
      retryLater: async (delayMs: number) => {
        if (!isCurrent()) return
        settled = true
        this.redeliverAfter(stored, delayMs)
      },
      working: async () => {
        if (!isCurrent()) return
        this.armAckTimer(stored, token)
      },
    }

    // Start the handler on a later tick so publish() never runs handler code synchronously.
    const run = Promise.resolve()
      .then(() => consumer.handler(delivery))
      .catch((error: unknown) => {
        this.logger?.warn(
          { error: errorName(error), deliveryCount: stored.deliveryCount },
          'job handler failed; the job will be delivered again',
        )
        if (isCurrent()) {
          settled = true
          this.redeliverAfter(stored, this.failedHandlerRetryMs)
        }
      })
      .finally(() => {
        consumer.running -= 1
        consumer.inFlight.delete(run)
        if (!this.closed) this.pump()
      })
    consumer.inFlight.add(run)
  }

  private armAckTimer(stored: StoredJob<J>, token: number): void {
    clearTimeout(stored.timer)
    stored.timer = setTimeout(() => {
      if (stored.deliveryToken !== token || stored.state !== 'in-flight') return
      this.makeReady(stored)
    }, this.ackWaitMs)
  }

  private redeliverAfter(stored: StoredJob<J>, delayMs: number): void {
    clearTimeout(stored.timer)
    stored.state = 'delayed'
    stored.timer = setTimeout(() => this.makeReady(stored), Math.max(0, delayMs))
  }

  private makeReady(stored: StoredJob<J>): void {
    if (this.closed || this.jobs.get(stored.seq) !== stored) return
    stored.timer = undefined
    stored.state = 'ready'
    this.ready.push(stored)
    this.pump()
  }

  private forgetExpiredDedupeIds(now: number): void {
    for (const [dedupeId, expiresAt] of this.recentDedupeIds) {
      if (expiresAt > now) return
      this.recentDedupeIds.delete(dedupeId)
    }
  }
}

function positive(value: number, name: string): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number`)
  return value
}

function nonNegative(value: number, name: string): number {
  if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`${name} must not be negative`)
  return value
}

/** Only the error's class name: messages may carry connection strings or tenant data. */
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error
}
