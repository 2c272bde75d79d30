import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceFlavours, type TestService } from '../support/service.js'
import { preflightPath, runsPath } from './problem-assertions.js'

/**
 * Capabilities are checked before the body is read: a request without credentials, or without the route's
 * capability, is refused (401, 403) whatever its body, however large, and even while the body is still
 * coming. Only a request that may use the route has its body read, and one too large is 413.
 */
describe('the body is read only after the access checks', () => {
  let api: TestService
  let viewOnly: string
  let admin: string

  beforeAll(async () => {
    api = await serviceFlavours()[0]!.start()
    admin = await api.token()
    viewOnly = await api.operatorToken(['platform.ops.view'])
  })
  afterAll(async () => {
    await api?.close()
  })

  const huge = 'x'.repeat(5 * 1024 * 1024)

  it.each([preflightPath, runsPath])('POST %s: a 5 MiB body is 401 without a token, 403 without the capability, 413 with it', async (path) => {
    const events = await api.eventCount()
    expect((await api.request('POST', path, { body: huge })).status).toBe(401)
    expect((await api.request('POST', path, { body: huge, token: viewOnly })).status).toBe(403)
    const allowed = await api.request('POST', path, { body: huge, token: admin })
    expect(allowed.status).toBe(413)
    expect(allowed.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(await api.eventCount()).toBe(events)
  })

  /** Sends the head and the first chunk of a chunked body, never the rest; the status line of the answer. */
  function answerToUnfinishedBody(path: string, token: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let answer = ''
      const socket = connect(Number(new URL(api.baseUrl).port), '127.0.0.1', () => {
        socket.write(
          `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
            `Transfer-Encoding: chunked\r\n\r\n5\r\n{"sco\r\n`,
        )
      })
      socket.on('data', (chunk) => {
        answer += chunk.toString()
        if (answer.includes('\r\n')) {
          socket.destroy()
          resolve(answer.slice(0, answer.indexOf('\r\n')))
        }
      })
      socket.on('error', reject)
    })
  }

  it('a body still coming is not waited for when the operator lacks the capability', async () => {
    expect(await answerToUnfinishedBody(runsPath, viewOnly)).toBe('HTTP/1.1 403 Forbidden')
    expect(await answerToUnfinishedBody(runsPath, 'not-a-token')).toBe('HTTP/1.1 401 Unauthorized')
  })
})
