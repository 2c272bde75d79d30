import { Hono } from 'hono'
import { connect } from 'nats'
import { EventStoreDbEventStore } from '../../src/store/eventstoredb-event-store.js'
// Loaded as the service loads it when NATS_URL is set: the adapter is what recognises its client's errors.
import '../../src/queue/nats-job-queue.js'
import postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { isDependencyUnavailable } from '../../src/http/dependency-unavailable.js'
import { problemResponse } from '../../src/http/problem.js'

/** A dependency nobody listens on: port 1 on loopback refuses at once. */
const nowhere = { postgres: 'postgres://nobody:secret-password@127.0.0.1:1/none', nats: 'nats://127.0.0.1:1' }

async function errorOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work()
  } catch (error) {
    return error
  }
  throw new Error('expected the work to fail')
}

function appThrowing(error: unknown) {
  const logged: unknown[] = []
  const app = new Hono()
  app.onError((e, c) => problemResponse(c, e, (x) => logged.push(x)))
  app.get('/', () => {
    throw error
  })
  return { app, logged }
}

describe('a dependency that cannot be reached is 503 with Retry-After, never a 500', () => {
  it('recognises a refused PostgreSQL connection from the real driver, and answers 503 without its text', async () => {
    const sql = postgres(nowhere.postgres, { max: 1, connect_timeout: 2, onnotice: () => {} })
    const error = await errorOf(() => sql`select 1`)
    await sql.end({ timeout: 1 })
    expect(isDependencyUnavailable(error)).toBe(true)

    const { app, logged } = appThrowing(error)
    const response = await app.request('/')
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('5')
    expect(response.headers.get('content-type')).toContain('application/problem+json')
    const body = await response.text()
    expect(body).not.toMatch(/secret-password|nobody|127\.0\.0\.1/)
    expect(logged).toEqual([])
  })

  it('recognises an unreachable NATS server from the real client', async () => {
    const error = await errorOf(() => connect({ servers: nowhere.nats, reconnect: false, timeout: 1_000 }))
    expect(isDependencyUnavailable(error)).toBe(true)
  })

  it('recognises an unreachable EventStoreDB from the real client', async () => {
    const error = await errorOf(async () => {
      const store = await EventStoreDbEventStore.connect('esdb://127.0.0.1:1?tls=false')
      try {
        await store.readStream('health-probe', { maxCount: 1 })
      } finally {
        await store.close()
      }
    })
    expect(isDependencyUnavailable(error)).toBe(true)
  })

  it('recognises server-side shutdown SQLSTATEs and a wrapped cause; a constraint violation or a bug stays a 500', async () => {
    const withCode = (code: string) => Object.assign(new Error('server message with secret-password'), { code })
    expect(isDependencyUnavailable(withCode('57P01'))).toBe(true)
    expect(isDependencyUnavailable(withCode('57P03'))).toBe(true)
    expect(isDependencyUnavailable(withCode('08006'))).toBe(true)
    expect(isDependencyUnavailable(new Error('wrapped', { cause: withCode('CONNECTION_CLOSED') }))).toBe(true)
    expect(isDependencyUnavailable(withCode('23505'))).toBe(false)
    expect(isDependencyUnavailable(new TypeError('a bug'))).toBe(false)

    const { app, logged } = appThrowing(withCode('23505'))
    const response = await app.request('/')
    expect(response.status).toBe(500)
    expect(logged).toHaveLength(1)
  })
})
