import { connect } from 'node:net'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { composeService, type Service } from '../../src/composition.js'
import { loadConfig } from '../../src/config.js'
import type { Database } from '../../src/db/database.js'
import { InProcessJobQueue } from '../../src/queue/in-process-job-queue.js'
import { freshEmbeddedDatabase } from '../support/databases.js'

/**
 * Issue 7: a request whose client closes the connection before the body is complete is the client's
 * error — logged as a 400, never as an "unhandled error" with a 500 — on the API and on the console.
 */
describe('a body cut short by the client', () => {
  const lines: Array<Record<string, any>> = []
  let db: Database
  let service: Service

  beforeAll(async () => {
    db = await freshEmbeddedDatabase()
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', OPS_DEMO_SEED: 'false', LOG_LEVEL: 'info' })
    service = await composeService(config, logger, { db, queue: new InProcessJobQueue() })
  })
  afterAll(async () => {
    await service?.close()
    await db?.close()
  })

  /** Sends the head and part of the body, then closes the connection; resolves once the server logged it. */
  async function cutShort(path: string, headers: Record<string, string>, framing: 'length' | 'chunked') {
    const before = lines.length
    const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
    const partial =
      framing === 'length'
        ? `Content-Length: 1000\r\n\r\n{"email":"a`
        : `Transfer-Encoding: chunked\r\n\r\n5\r\n{"ema\r\n`
    await new Promise<void>((resolve, reject) => {
      const socket = connect(service.port!, '127.0.0.1', () => {
        socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${head}${partial}`)
        setTimeout(() => {
          socket.destroy()
          resolve()
        }, 100)
      })
      socket.on('error', reject)
    })
    const deadline = Date.now() + 10_000
    while (!lines.slice(before).some((line) => line.msg === 'request') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return lines.slice(before)
  }

  it.each([
    ['the token endpoint (JSON), chunked', '/api/auth/tokens', { 'Content-Type': 'application/json' }, 'chunked'],
    ['the token endpoint (JSON), with a Content-Length', '/api/auth/tokens', { 'Content-Type': 'application/json' }, 'length'],
    ['the console login form, chunked', '/system/login', { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'text/html' }, 'chunked'],
    ['the console login form, with a Content-Length', '/system/login', { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'text/html' }, 'length'],
  ] as const)('%s: a 400 in the log, no unhandled error', async (_name, path, headers, framing) => {
    const logged = await cutShort(path, headers, framing)
    const request = logged.find((line) => line.msg === 'request')
    expect(request, JSON.stringify(logged)).toBeDefined()
    expect(JSON.stringify(request)).toMatch(/"(status|statusCode)":400/)
    expect(logged.filter((line) => line.level >= 50), JSON.stringify(logged)).toEqual([])
  })
})
