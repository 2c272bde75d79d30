import { request } from 'node:http'

export interface EarlyAnswer {
  status: number
  headers: Headers
  text: string
}

/**
 * POSTs a body that the server is expected to refuse without reading it, on a connection of its own, and
 * takes the answer as soon as it comes, even while the body is still going out.
 *
 * Why not fetch: the server answers such a request at once, drains the unread body for a while
 * (@hono/node-server: 500 ms), then closes the connection. On a busy machine fetch may already have sent
 * its next request on that kept-alive connection, and a POST there fails with "other side closed" without
 * an answer. A connection used once has no next request.
 */
export function postRefusedUnread(url: string, headers: Record<string, string>, body: string): Promise<EarlyAnswer> {
  return new Promise((resolve, reject) => {
    let answered = false
    const outgoing = request(url, { method: 'POST', agent: false, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } })
    outgoing.on('response', (incoming) => {
      answered = true
      const chunks: Buffer[] = []
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
      incoming.on('error', reject)
      incoming.on('end', () => {
        const answerHeaders = new Headers()
        for (const [name, value] of Object.entries(incoming.headers)) {
          for (const one of Array.isArray(value) ? value : [value ?? '']) answerHeaders.append(name, one)
        }
        resolve({ status: incoming.statusCode ?? 0, headers: answerHeaders, text: Buffer.concat(chunks).toString() })
      })
    })
    // Once answered, the body's write may fail when the server closes: that is the server's right.
    outgoing.on('error', (error) => {
      if (!answered) reject(error)
    })
    outgoing.end(body)
  })
}
