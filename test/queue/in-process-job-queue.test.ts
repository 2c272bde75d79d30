import { describe, expect, it } from 'vitest'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import type { TenantJob } from '../../src/queue/job-queue.js'
import { describeJobQueueContract, job, sleep } from './job-queue.contract.js'

describeJobQueueContract('in-process', async ({ ackWaitMs }) => {
  const queue = new InProcessJobQueue<TenantJob>({ ackWaitMs })
  return { queue, close: () => queue.close() }
})

describe('InProcessJobQueue', () => {
  it('accepts a dedupe id again once the duplicate window has passed', async () => {
    const queue = new InProcessJobQueue<TenantJob>({ ackWaitMs: 1_000, duplicateWindowMs: 200 })
    try {
      const seen: TenantJob[] = []
      const consumer = await queue.consume(async (delivery) => {
        seen.push(delivery.job)
        await delivery.ack()
      }, { concurrency: 1 })
      await queue.publish(job(1), 'run-a:1:0')
      await queue.publish(job(1), 'run-a:1:0')
      await sleep(300)
      await queue.publish(job(1), 'run-a:1:0')
      await sleep(100)
      await consumer.stop()
      expect(seen).toHaveLength(2)
    } finally {
      await queue.close()
    }
  })

  it('rejects a concurrency that is not a positive integer', async () => {
    const queue = new InProcessJobQueue<TenantJob>()
    try {
      await expect(queue.consume(async () => {}, { concurrency: 0 })).rejects.toThrow(RangeError)
    } finally {
      await queue.close()
    }
  })
})
