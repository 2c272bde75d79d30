import { afterEach, describe, expect, it } from 'vitest'
import type { JobConsumer, JobDelivery, JobQueue, TenantJob } from '../../src/queue/job-queue.js'

export interface OpenedJobQueue {
  queue: JobQueue<TenantJob>
  close(): Promise<void>
}

/** Every JobQueue adapter must pass this suite (see src/queue/job-queue.ts). */
export function describeJobQueueContract(
  name: string,
  open: (opts: { ackWaitMs: number }) => Promise<OpenedJobQueue>,
): void {
  const ackWaitMs = 1_000

  describe(`JobQueue contract: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = []

    afterEach(async () => {
      // Consumers first (they may still hold jobs), then the queue.
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    })

    async function openQueue(): Promise<JobQueue<TenantJob>> {
      const opened = await open({ ackWaitMs })
      cleanups.push(() => opened.close())
      return opened.queue
    }

    async function consume(
      queue: JobQueue<TenantJob>,
      handler: (delivery: JobDelivery<TenantJob>) => Promise<void>,
      concurrency = 1,
    ): Promise<JobConsumer> {
      const consumer = await queue.consume(handler, { concurrency })
      cleanups.push(() => consumer.stop())
      return consumer
    }

    it('delivers a published job once, with deliveryCount 1', async () => {
      const queue = await openQueue()
      const seen: JobDelivery<TenantJob>[] = []
      await consume(queue, async (delivery) => {
        seen.push(delivery)
        await delivery.ack()
      })

      await queue.publish(job(1), 'run-a:1:0')

      await waitFor(() => seen.length === 1)
      expect(seen[0]!.job).toEqual(job(1))
      expect(seen[0]!.deliveryCount).toBe(1)
      await sleep(ackWaitMs + 500)
      expect(seen).toHaveLength(1)
    })

    it('drops a second publish with the same dedupe id', async () => {
      const queue = await openQueue()
      await queue.publish(job(1), 'run-a:1:0')
      await queue.publish(job(1), 'run-a:1:0')
      const seen: TenantJob[] = []
      await consume(queue, async (delivery) => {
        seen.push(delivery.job)
        await delivery.ack()
      })

      await waitFor(() => seen.length >= 1)
      await sleep(ackWaitMs + 500)
      expect(seen).toEqual([job(1)])
    })

    it('delivers the same job twice when the dedupe ids differ (a re-dispatch)', async () => {
      const queue = await openQueue()
      await queue.publish(job(1), 'run-a:1:0')
      await queue.publish({ ...job(1), generation: 1 }, 'run-a:1:1')
      const seen: TenantJob[] = []
      await consume(queue, async (delivery) => {
        seen.push(delivery.job)
        await delivery.ack()
      })

      await waitFor(() => seen.length === 2)
      expect(seen.map((j) => j.generation).sort()).toEqual([0, 1])
    })

    it('redelivers after retryLater, counting the delivery', async () => {
      const queue = await openQueue()
      const counts: number[] = []
      const retriedAt: number[] = []
      await consume(queue, async (delivery) => {
        counts.push(delivery.deliveryCount)
        retriedAt.push(Date.now())
        if (delivery.deliveryCount === 1) await delivery.retryLater(300)
        else await delivery.ack()
      })

      await queue.publish(job(1), 'run-a:1:0')

      await waitFor(() => counts.length === 2)
      expect(counts).toEqual([1, 2])
      expect(retriedAt[1]! - retriedAt[0]!).toBeGreaterThanOrEqual(250)
      await sleep(ackWaitMs + 500)
      expect(counts).toEqual([1, 2])
    })

    it('redelivers a job whose handler neither acked nor retried, after the ack wait', async () => {
      const queue = await openQueue()
      const deliveries: { count: number; at: number }[] = []
      await consume(queue, async (delivery) => {
        deliveries.push({ count: delivery.deliveryCount, at: Date.now() })
        if (deliveries.length > 1) await delivery.ack()
      })

      await queue.publish(job(1), 'run-a:1:0')

      await waitFor(() => deliveries.length === 2, ackWaitMs * 5)
      // nats-server 2.9 may hand a message to a pull request at the moment that request expires and then
      // roll its delivery count back, so the redelivery can carry 1 again: counts never go down, but they
      // are not exact. (The tenant worker keeps its own attempt counters in PostgreSQL for that reason.)
      expect(deliveries[0]!.count).toBe(1)
      expect(deliveries[1]!.count).toBeGreaterThanOrEqual(deliveries[0]!.count)
      expect(deliveries[1]!.at - deliveries[0]!.at).toBeGreaterThanOrEqual(ackWaitMs * 0.8)
    })

    it('redelivers a job whose handler threw', async () => {
      const queue = await openQueue()
      const counts: number[] = []
      let failed = false
      await consume(queue, async (delivery) => {
        counts.push(delivery.deliveryCount)
        if (!failed) {
          failed = true
          throw new Error('transient failure')
        }
        await delivery.ack()
      })

      await queue.publish(job(1), 'run-a:1:0')

      await waitFor(() => counts.length === 2, ackWaitMs * 5)
      // Delivered again after the throw; its count as in the test above (nats-server 2.9 may roll it back).
      expect(counts[0]).toBe(1)
      expect(counts[1]).toBeGreaterThanOrEqual(counts[0]!)
    })

    it('does not redeliver a long job that keeps calling working()', async () => {
      const queue = await openQueue()
      const counts: number[] = []
      let finished = false
      await consume(
        queue,
        async (delivery) => {
          counts.push(delivery.deliveryCount)
          if (delivery.deliveryCount > 1) return
          const until = Date.now() + ackWaitMs * 2.5
          while (Date.now() < until) {
            await sleep(ackWaitMs / 4)
            await delivery.working()
          }
          await delivery.ack()
          finished = true
        },
        2,
      )

      await queue.publish(job(1), 'run-a:1:0')

      await waitFor(() => finished, ackWaitMs * 6)
      await sleep(ackWaitMs + 500)
      expect(counts).toEqual([1])
    })

    it('runs at most `concurrency` handlers at a time', async () => {
      const queue = await openQueue()
      for (let tenant = 1; tenant <= 8; tenant++) await queue.publish(job(tenant), `run-a:${tenant}:0`)
      let inFlight = 0
      let maxInFlight = 0
      const done = new Set<number>()
      await consume(
        queue,
        async (delivery) => {
          inFlight += 1
          maxInFlight = Math.max(maxInFlight, inFlight)
          await sleep(150)
          inFlight -= 1
          done.add(delivery.job.tenantIds[0]!)
          await delivery.ack()
        },
        3,
      )

      await waitFor(() => done.size === 8)
      expect(maxInFlight).toBe(3)
    })

    it('stop() waits for the handlers in flight and takes no new jobs', async () => {
      const queue = await openQueue()
      let started = false
      let finished = false
      const seen: number[] = []
      const consumer = await consume(queue, async (delivery) => {
        seen.push(delivery.job.tenantIds[0]!)
        started = true
        await sleep(500)
        await delivery.ack()
        finished = true
      })
      await queue.publish(job(1), 'run-a:1:0')
      await waitFor(() => started)

      await consumer.stop()

      expect(finished).toBe(true)
      await queue.publish(job(2), 'run-a:2:0')
      await sleep(500)
      expect(seen).toEqual([1])
    })

    it('keeps jobs published while nobody consumes and delivers them later', async () => {
      const queue = await openQueue()
      for (let tenant = 1; tenant <= 3; tenant++) await queue.publish(job(tenant), `run-a:${tenant}:0`)
      await sleep(300)
      const seen: number[] = []
      await consume(queue, async (delivery) => {
        seen.push(delivery.job.tenantIds[0]!)
        await delivery.ack()
      })

      await waitFor(() => seen.length === 3)
      expect(seen.sort()).toEqual([1, 2, 3])
    })

    it('shares work between two consumers without delivering an acked job twice', async () => {
      const queue = await openQueue()
      const byConsumer: number[][] = [[], []]
      for (const seen of byConsumer) {
        await consume(
          queue,
          async (delivery) => {
            seen.push(delivery.job.tenantIds[0]!)
            await sleep(100)
            await delivery.ack()
          },
          2,
        )
      }
      // Let both consumers ask for work before any exists.
      await sleep(300)
      for (let tenant = 1; tenant <= 10; tenant++) await queue.publish(job(tenant), `run-a:${tenant}:0`)

      await waitFor(() => byConsumer[0]!.length + byConsumer[1]!.length >= 10)
      await sleep(ackWaitMs + 500)
      const all = [...byConsumer[0]!, ...byConsumer[1]!].sort((a, b) => a - b)
      expect(all).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      expect(byConsumer[0]!.length).toBeGreaterThan(0)
      expect(byConsumer[1]!.length).toBeGreaterThan(0)
    })

    it('tells its depth: jobs waiting, then in flight while a handler holds them, none once acked', async () => {
      const queue = await openQueue()
      expect(queue.depth, 'a real adapter reports its depth (metrics)').toBeDefined()
      for (const tenantId of [1, 2, 3]) await queue.publish(job(tenantId), `run-a:${tenantId}:0`)
      await waitFor(async () => (await queue.depth!()).waiting === 3)
      expect(await queue.depth!()).toEqual({ waiting: 3, inFlight: 0 })
      let release!: () => void
      const held = new Promise<void>((resolve) => (release = resolve))
      const handled: number[] = []
      await consume(queue, async (delivery) => {
        await held
        handled.push(delivery.job.tenantIds[0]!)
        await delivery.ack()
      })
      await waitFor(async () => {
        const depth = await queue.depth!()
        return depth.inFlight === 1 && depth.waiting === 2
      })
      release()
      await waitFor(() => handled.length === 3)
      await waitFor(async () => {
        const depth = await queue.depth!()
        return depth.inFlight === 0 && depth.waiting === 0
      })
    })

    it('reports itself healthy while open and unhealthy once closed', async () => {
      const opened = await open({ ackWaitMs })
      cleanups.push(() => opened.close())
      expect(await opened.queue.healthy()).toBe(true)
      await opened.queue.close()
      expect(await opened.queue.healthy()).toBe(false)
    })
  })
}

export function job(tenantId: number): TenantJob {
  return { runId: '01JRUNAAAAAAAAAAAAAAAAAAAA', runbookKey: 'findings.lifecycle.backfill', tenantIds: [tenantId], generation: 0 }
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(20)
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
