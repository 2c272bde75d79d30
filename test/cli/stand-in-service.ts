import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { RunDetail } from '../../src/cli/api-client.js'
import { runDetail } from './run-detail-fixture.js'

/** A request as the stand-in service received it, its JSON body parsed (undefined when empty). */
export interface ReceivedRequest {
  method: string
  path: string
  query: Record<string, string>
  authorization: string | undefined
  body: unknown
}

export interface Answer {
  status: number
  body: unknown
}

export const problem = (status: number, detail: string, extra: Record<string, unknown> = {}): Answer => ({
  status,
  body: { type: 'about:blank', title: 'x', status, detail, ...extra },
})

/** The next of the answers a test scripted: each in turn, the last one repeating. */
export function nextAnswer(answers: Answer[]): Answer {
  return answers.length > 1 ? answers.shift()! : answers[0]!
}

export interface StandInService {
  baseUrl: string
  /** What `rcp` reads to reach it: its URL, a token, and no stored credentials. */
  env: Record<string, string>
  close(): Promise<void>
}

/**
 * An HTTP service standing in for the real one, for the CLI's argument tests: `answer` sees each request
 * (the test records what it asserts on) and says what to answer; a status of 400 or more goes out as
 * application/problem+json, as the real service sends problems.
 */
export async function startStandInService(answer: (request: ReceivedRequest) => Answer): Promise<StandInService> {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://x')
      const text = Buffer.concat(chunks).toString('utf8')
      const answered = answer({
        method: request.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        authorization: request.headers.authorization,
        body: text === '' ? undefined : JSON.parse(text),
      })
      response.writeHead(answered.status, { 'content-type': answered.status >= 400 ? 'application/problem+json' : 'application/json' })
      response.end(JSON.stringify(answered.body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const baseUrl = `http://127.0.0.1:${port}`
  return {
    baseUrl,
    env: { RCP_URL: baseUrl, RCP_TOKEN: 'rcp_test', RCP_CONFIG: '/nonexistent/rcp/credentials.json' },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** A run as the stand-in service answers it: all tenants, 3 of them queued, nothing counted yet. */
export function standInRun(overrides: Partial<RunDetail> = {}): RunDetail {
  return runDetail({
    summaryCounts: {},
    context: { scope: 'all_tenants' },
    startedAt: null,
    createdAt: '2026-01-01T09:00:00.000Z',
    tenantCounts: { targeted: 3, pending: 3, succeeded: 0, failed: 0, cancelled: 0 },
    ...overrides,
  })
}
