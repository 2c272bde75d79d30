import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One POST a test receiver got, with whether its X-Signature is the HMAC of its exact bytes. */
export interface ReceivedPost {
  path: string
  headers: IncomingHttpHeaders
  body: Buffer
  json: any
  signatureValid: boolean
}

/**
 * A local webhook receiver (node:http on a spare port) that verifies signatures with `secret` and answers
 * each POST with the next status of `answers` (the last one repeats).
 */
export interface TestReceiver {
  url: string
  port: number
  posts: ReceivedPost[]
  /** The statuses it answers from now on, in order (the last repeats). */
  answer(statuses: number[]): void
  close(): Promise<void>
}

export async function startReceiver(secret: string, statuses: number[] = [200]): Promise<TestReceiver> {
  let answers = [...statuses]
  const posts: ReceivedPost[] = []
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks)
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`)
      const given = Buffer.from(String(request.headers['x-signature'] ?? ''))
      let json: unknown
      try {
        json = JSON.parse(body.toString('utf8'))
      } catch {
        json = undefined
      }
      posts.push({
        path: request.url ?? '',
        headers: request.headers,
        body,
        json,
        signatureValid: given.length === expected.length && timingSafeEqual(given, expected),
      })
      const status = answers.length > 1 ? answers.shift()! : answers[0]!
      response.writeHead(status, { 'content-type': 'text/plain' })
      response.end(status >= 300 ? `nope, and here is a long body the sender must not keep ${'x'.repeat(500)}` : 'ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/hooks/alerts`,
    port,
    posts,
    answer(next) {
      answers = [...next]
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
