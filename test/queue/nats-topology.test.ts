import { NatsError, type JetStreamManager } from 'nats'
import { describe, expect, it } from 'vitest'
import { ensureConsumer, ensureStream } from '../../src/queue/nats-job-queue.js'

/**
 * Processes started together (a deployment's workers) each find the job stream and its consumer missing and
 * each make them. JetStream answers a make identical to what exists as done; it refuses one that differs (a
 * process of another release, say) or while it is briefly unavailable. Whatever the refusal, what is then
 * found is used, its settings brought back as at any start (unit: the JetStream manager is a stand-in).
 */
const spec = { stream: 'JOBS', subject: 'jobs', durable: 'workers', ackWaitMs: 10_000, maxDeliver: 20, duplicateWindowMs: 120_000 }

function apiError(errCode: number, description: string): NatsError {
  return Object.assign(new NatsError(description, '400'), { api_error: { code: 400, err_code: errCode, description } })
}

const streamInfo = {
  config: {
    subjects: ['jobs'],
    duplicate_window: 120_000 * 1_000_000,
    max_age: 0,
    max_msgs: -1,
    max_bytes: -1,
    max_msgs_per_subject: -1,
    discard: 'old',
  },
}
const consumerInfo = { config: { ack_wait: 10_000 * 1_000_000, max_deliver: 20 } }

/** A manager whose first info finds nothing, whose make is refused, and whose info afterwards finds `later`. */
function racingManager(later: { stream: unknown; consumer: unknown }) {
  const calls: string[] = []
  let streamLooks = 0
  let consumerLooks = 0
  const jsm = {
    streams: {
      info: async () => {
        calls.push('stream info')
        if (streamLooks++ === 0 || later.stream === null) throw apiError(10059, 'stream not found')
        return later.stream
      },
      add: async () => {
        calls.push('stream add')
        throw apiError(10058, 'stream name already in use with a different configuration')
      },
      update: async () => {
        calls.push('stream update')
      },
    },
    consumers: {
      info: async () => {
        calls.push('consumer info')
        if (consumerLooks++ === 0 || later.consumer === null) throw apiError(10014, 'consumer not found')
        return later.consumer
      },
      add: async () => {
        calls.push('consumer add')
        throw apiError(10148, 'consumer already exists')
      },
      update: async () => {
        calls.push('consumer update')
      },
    },
  }
  return { jsm: jsm as unknown as JetStreamManager, calls }
}

describe('the job stream and its consumer made by processes started together', () => {
  it('takes a refused make for done when another process made the stream and the consumer meanwhile', async () => {
    const { jsm, calls } = racingManager({ stream: streamInfo, consumer: consumerInfo })
    await expect(ensureStream(jsm, spec, { bringBackSettings: true })).resolves.toBe(false)
    await expect(ensureConsumer(jsm, spec, { bringBackSettings: true })).resolves.toBe(false)
    // Found as this process would have made them: nothing to bring back.
    expect(calls).toEqual(['stream info', 'stream add', 'stream info', 'consumer info', 'consumer add', 'consumer info'])
  })

  it('brings back the settings of a stream made meanwhile with others', async () => {
    const { jsm, calls } = racingManager({ stream: { config: { ...streamInfo.config, duplicate_window: 1 } }, consumer: consumerInfo })
    await expect(ensureStream(jsm, spec, { bringBackSettings: true })).resolves.toBe(false)
    expect(calls).toEqual(['stream info', 'stream add', 'stream info', 'stream update'])
  })

  it('throws the refusal when nothing was made meanwhile', async () => {
    const { jsm } = racingManager({ stream: null, consumer: null })
    await expect(ensureStream(jsm, spec, { bringBackSettings: true })).rejects.toMatchObject({ api_error: { err_code: 10058 } })
    await expect(ensureConsumer(jsm, spec, { bringBackSettings: true })).rejects.toMatchObject({ api_error: { err_code: 10148 } })
  })
})
