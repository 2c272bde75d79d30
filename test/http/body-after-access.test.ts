import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceFlavours, testAdmin, type TestService } from '../support/service.js'
import { preflightPath, runsPath } from './problem-assertions.js'
import { consoleLogin, createConsoleOperator, type ConsoleSession } from './console/console-client.js'
import { postRefusedUnread } from '../support/post-refused-unread.js'

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
    const post = (token?: string) =>
      postRefusedUnread(api.baseUrl + path, { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, huge)
    expect((await post()).status).toBe(401)
    expect((await post(viewOnly)).status).toBe(403)
    const allowed = await post(admin)
    expect(allowed.status).toBe(413)
    expect(allowed.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(await api.eventCount()).toBe(events)
  })

  /** Sends the head and the first chunk of a chunked body, never the rest; the status line of the answer. */
  function answerToUnfinishedBody(path: string, credentials: string, contentType = 'application/json'): Promise<string> {
    return new Promise((resolve, reject) => {
      let answer = ''
      const socket = connect(Number(new URL(api.baseUrl).port), '127.0.0.1', () => {
        socket.write(
          `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${credentials}\r\nContent-Type: ${contentType}\r\n` +
            `Transfer-Encoding: chunked\r\n\r\n5\r\n_csrf\r\n`,
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
    expect(await answerToUnfinishedBody(runsPath, `Authorization: Bearer ${viewOnly}`)).toBe('HTTP/1.1 403 Forbidden')
    expect(await answerToUnfinishedBody(runsPath, 'Authorization: Bearer not-a-token')).toBe('HTTP/1.1 401 Unauthorized')
  })

  describe('the console: the form (and its CSRF token) is read after the session and capability checks', () => {
    const startPath = '/system/ops/runbooks/findings.lifecycle.backfill/runs'
    const haltPath = '/system/ops/halt'
    let viewer: ConsoleSession
    let administrator: ConsoleSession
    const cookieHeader = (session: ConsoleSession) => Object.entries(session.cookies).map(([k, v]) => `${k}=${v}`).join('; ')

    beforeAll(async () => {
      viewer = await consoleLogin(api, await createConsoleOperator(api, ['platform.ops.view', 'platform.runbooks.view']))
      administrator = await consoleLogin(api, testAdmin)
    })

    it.each([startPath, haltPath])('POST %s: a 5 MiB form goes to the login without a session, is 403 without the capability, 413 with it', async (path) => {
      const events = await api.eventCount()
      const post = (session?: ConsoleSession) =>
        postRefusedUnread(
          api.baseUrl + path,
          { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', ...(session ? { cookie: cookieHeader(session) } : {}) },
          new URLSearchParams({ _csrf: session?.csrf ?? 'x', reasonCode: 'DATA_REPAIR', reasonText: huge }).toString(),
        )
      expect((await post()).status).toBe(303)
      expect((await post(viewer)).status).toBe(403)
      const allowed = await post(administrator)
      expect(allowed.status).toBe(413)
      // A browser's form post gets a page saying so, not a problem document.
      expect(allowed.headers.get('content-type')).toMatch(/^text\/html/)
      expect(allowed.text).toContain('Payload too large')
      expect(await api.eventCount()).toBe(events)
    })

    it('a form still coming is not waited for when the operator lacks the capability', async () => {
      const form = 'application/x-www-form-urlencoded'
      expect(await answerToUnfinishedBody(startPath, `Cookie: ${cookieHeader(viewer)}`, form)).toBe('HTTP/1.1 403 Forbidden')
      expect(await answerToUnfinishedBody(haltPath, `Cookie: ${cookieHeader(viewer)}`, form)).toBe('HTTP/1.1 403 Forbidden')
      // The page script's preflight: the runbook's own capability (404 for an unknown runbook) before the body.
      expect(await answerToUnfinishedBody('/system/ops/runbooks/findings.lifecycle.backfill/preflight', `Cookie: ${cookieHeader(viewer)}`, form)).toBe('HTTP/1.1 403 Forbidden')
      expect(await answerToUnfinishedBody('/system/ops/runbooks/no.such.runbook/preflight', `Cookie: ${cookieHeader(viewer)}`, form)).toBe('HTTP/1.1 404 Not Found')
      // An approval's access (the run, then the right to decide it) is checked before its form too.
      expect(await answerToUnfinishedBody('/system/ops/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/approve', `Cookie: ${cookieHeader(viewer)}`, form)).toBe('HTTP/1.1 404 Not Found')
    })
  })
})
