import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceFlavours, type TestService } from '../support/service.js'

describe.each(serviceFlavours())('GET /health: $name', (flavour) => {
  let api: TestService

  beforeAll(async () => {
    api = await flavour.start()
  })

  afterAll(async () => {
    await api?.close()
  })

  it('answers 200 without credentials while database, event store and queue answer', async () => {
    const response = await api.request('GET', '/health')
    expect(response.status).toBe(200)
    expect(response.body).toEqual({ status: 'ok' })
    expect(await api.service.healthy()).toBe(true)
  })

  it('answers 503 once the queue is gone', async () => {
    await api.closeQueue()
    expect(await api.service.healthy()).toBe(false)
    const response = await api.request('GET', '/health')
    expect(response.status).toBe(503)
    expect(response.body).toEqual({ status: 'unavailable' })
  })
})
