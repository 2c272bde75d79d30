import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { connect, DiscardPolicy, type NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { JobDelivery, TenantJob } from '../../src/queue/job-queue.js'
import { NatsJobQueue, type NatsJobQueueOptions } from '../../src/queue/nats-job-queue.js'
import { describeJobQueueContract, job, sleep, waitFor } from './job-queue.contract.js'

const natsUrl = process.env.TEST_NATS_URL

/** Each call names a stream, subject and durable of its own so test runs never share JetStream state. */
function uniqueNames(): Required<Pick<NatsJobQueueOptions, 'stream' | 'subject' | 'durable'>> {
  const id = randomUUID().replaceAll('-', '').slice(0, 16)
  return { stream: `TEST_JOBS_${id}`, subject: `test.jobs.${id}`, durable: 'test-workers' }
}

describe.runIf(natsUrl)('NatsJobQueue', () => {
  let admin: NatsConnection
  const streams: string[] = []

  beforeAll(async () => {
    admin = await connect({ servers: natsUrl! })
  })

  afterAll(async () => {
    const jsm = await admin.jetstreamManager()
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => false)
    await admin.close()
  })

  async function openNats(options: { ackWaitMs: number } & Partial<NatsJobQueueOptions>) {
    const names = uniqueNames()
    streams.push(names.stream)
    const config = { url: natsUrl!, ...names, pullExpiresMs: 1_000, ...options }
    return { config, queue: await NatsJobQueue.connect<TenantJob>(config) }
  }

  describeJobQueueContract('NATS JetStream', async ({ ackWaitMs }) => {
    const { queue } = await openNats({ ackWaitMs })
    return { queue, close: () => queue.close() }
  })

  it('creates a file-backed work-queue stream without limits that could delete jobs', async () => {
    const { config, queue } = await openNats({ ackWaitMs: 2_000, maxDeliver: 7, duplicateWindowMs: 90_000 })
    try {
      const jsm = await admin.jetstreamManager()
      const stream = await jsm.streams.info(config.stream)
      expect(stream.config.retention).toBe('workqueue')
      expect(stream.config.storage).toBe('file')
      expect(stream.config.max_age).toBe(0)
      expect(stream.config.max_msgs).toBe(-1)
      expect(stream.config.max_bytes).toBe(-1)
      expect(stream.config.duplicate_window).toBe(90_000 * 1_000_000)
      const consumer = await jsm.consumers.info(config.stream, config.durable)
      expect(consumer.config.ack_policy).toBe('explicit')
      expect(consumer.config.ack_wait).toBe(2_000 * 1_000_000)
      expect(consumer.config.max_deliver).toBe(7)
    } finally {
      await queue.close()
    }
  })

  it('updates ack wait and max deliver when connecting again with other settings', async () => {
    const { config, queue } = await openNats({ ackWaitMs: 2_000 })
    await queue.close()
    const again = await NatsJobQueue.connect<TenantJob>({ ...config, ackWaitMs: 3_000, maxDeliver: 5 })
    try {
      const jsm = await admin.jetstreamManager()
      const consumer = await jsm.consumers.info(config.stream, config.durable)
      expect(consumer.config.ack_wait).toBe(3_000 * 1_000_000)
      expect(consumer.config.max_deliver).toBe(5)
    } finally {
      await again.close()
    }
  })

  it('delivers a job published on one connection to a consumer on another', async () => {
    const { config, queue: publisher } = await openNats({ ackWaitMs: 2_000 })
    await publisher.publish(job(7), 'run-a:7:0')
    await publisher.close()
    const worker = await NatsJobQueue.connect<TenantJob>(config)
    try {
      const seen: TenantJob[] = []
      const consumer = await worker.consume(async (delivery) => {
        seen.push(delivery.job)
        await delivery.ack()
      }, { concurrency: 1 })
      await waitFor(() => seen.length === 1)
      await consumer.stop()
      expect(seen).toEqual([job(7)])
    } finally {
      await worker.close()
    }
  })

  it('makes the stream again when it was deleted: a publish finds it, a consumer gets the jobs, and it says so once', async () => {
    let recreated = 0
    const { config, queue } = await openNats({ ackWaitMs: 2_000, onStreamRecreated: () => recreated++ })
    try {
      // A stream made at connect may be one that was lost: that is news too.
      expect(recreated).toBe(1)
      const jsm = await admin.jetstreamManager()
      await jsm.streams.delete(config.stream)
      await queue.publish(job(1), 'run-a:1:0')
      expect(recreated).toBe(2)
      const info = await jsm.streams.info(config.stream)
      expect(info.config.retention).toBe('workqueue')
      expect(info.state.messages).toBe(1)

      const seen: number[] = []
      const consumer = await queue.consume(async (delivery) => {
        seen.push(delivery.job.tenantIds[0]!)
        await delivery.ack()
      }, { concurrency: 1 })
      await waitFor(() => seen.length === 1)
      await consumer.stop()
      expect(seen).toEqual([1])
    } finally {
      await queue.close()
    }
  })

  it('makes the stream again when it exists but refuses to store jobs, and the publish goes through', async () => {
    let recreated = 0
    const { config, queue } = await openNats({ ackWaitMs: 2_000, onStreamRecreated: () => recreated++ })
    try {
      const jsm = await admin.jetstreamManager()
      // A stream that refuses the next message (JetStream's 503 "store failed", as a lost message block gives).
      const { config: current } = await jsm.streams.info(config.stream)
      await jsm.streams.update(config.stream, { ...current, max_msgs: 1, discard: DiscardPolicy.New })
      await queue.publish(job(1), 'run-a:1:0')
      const before = recreated
      await queue.publish(job(2), 'run-a:2:0')
      expect(recreated).toBe(before + 1)
      const info = await jsm.streams.info(config.stream)
      expect(info.config.max_msgs).toBe(-1)
      expect(info.config.discard).toBe(DiscardPolicy.Old)
      expect(info.state.messages).toBe(1) // job 2; job 1 went with the stream that refused
    } finally {
      await queue.close()
    }
  })

  it('a consumer whose stream was deleted under it makes it again by itself and goes on taking jobs', async () => {
    let recreated = 0
    const { config, queue } = await openNats({ ackWaitMs: 2_000, onStreamRecreated: () => recreated++ })
    const other = await NatsJobQueue.connect<TenantJob>({ ...config, onStreamRecreated: () => recreated++ })
    try {
      const seen: number[] = []
      const consumer = await queue.consume(async (delivery) => {
        seen.push(delivery.job.tenantIds[0]!)
        await delivery.ack()
      }, { concurrency: 2 })
      const jsm = await admin.jetstreamManager()
      await jsm.streams.delete(config.stream)
      // Nobody publishes: the consumer's own empty pulls must notice the loss and make the stream again.
      await waitFor(async () => (await jsm.streams.info(config.stream).catch(() => null)) !== null, 15_000)
      await waitFor(async () => (await jsm.consumers.info(config.stream, config.durable).catch(() => null)) !== null, 15_000)
      expect(recreated).toBeGreaterThanOrEqual(1)
      await other.publish(job(2), 'run-a:2:0')
      await waitFor(() => seen.length === 1, 15_000)
      await consumer.stop()
      expect(seen).toEqual([2])
    } finally {
      await other.close()
      await queue.close()
    }
  })

  it('makes a deleted durable consumer again and delivers the jobs still in the stream', async () => {
    const { config, queue } = await openNats({ ackWaitMs: 2_000 })
    try {
      await queue.publish(job(3), 'run-a:3:0')
      const jsm = await admin.jetstreamManager()
      await jsm.consumers.delete(config.stream, config.durable)
      const seen: number[] = []
      const consumer = await queue.consume(async (delivery) => {
        seen.push(delivery.job.tenantIds[0]!)
        await delivery.ack()
      }, { concurrency: 1 })
      await waitFor(() => seen.length === 1, 15_000)
      await consumer.stop()
      expect(seen).toEqual([3])
    } finally {
      await queue.close()
    }
  })

  it('fails to connect when the server cannot be reached', async () => {
    await expect(NatsJobQueue.connect({ url: 'nats://127.0.0.1:1', ...uniqueNames() })).rejects.toThrow()
  })

  it('redelivers the job of a worker killed mid-handler after the ack wait, with deliveryCount 2', async () => {
    const ackWaitMs = 2_000
    const { config, queue } = await openNats({ ackWaitMs })
    let child: ChildProcess | undefined
    try {
      const fixture = fileURLToPath(new URL('./fixtures/consume-and-hang.ts', import.meta.url))
      child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify(config)], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      const lines = childLines(child)

      await waitFor(() => lines.some((line) => 'ready' in line), 20_000)
      await queue.publish(job(42), 'run-a:42:0')
      await waitFor(() => lines.some((line) => 'started' in line))
      expect(lines.find((line) => 'started' in line)).toEqual({ started: job(42), deliveryCount: 1 })

      // The parent consumes too before the kill: the job must not reach it while the child holds it.
      const deliveries: { delivery: JobDelivery<TenantJob>; at: number }[] = []
      const consumer = await queue.consume(async (delivery) => {
        deliveries.push({ delivery, at: Date.now() })
        await delivery.ack()
      }, { concurrency: 1 })
      await sleep(300)
      expect(deliveries).toHaveLength(0)
      child.kill('SIGKILL')
      const killedAt = Date.now()

      await waitFor(() => deliveries.length === 1, ackWaitMs * 5)
      await consumer.stop()
      expect(deliveries[0]!.delivery.job).toEqual(job(42))
      expect(deliveries[0]!.delivery.deliveryCount).toBe(2)
      expect(deliveries[0]!.at - killedAt).toBeLessThan(ackWaitMs * 3)
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await queue.close()
    }
  })
})

/** Parses the child's stdout as JSON lines, collecting them as they arrive. */
function childLines(child: ChildProcess): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = []
  let buffered = ''
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk
    let newline = buffered.indexOf('\n')
    while (newline >= 0) {
      const line = buffered.slice(0, newline).trim()
      buffered = buffered.slice(newline + 1)
      if (line) lines.push(JSON.parse(line) as Record<string, unknown>)
      newline = buffered.indexOf('\n')
    }
  })
  return lines
}
