import { Hono } from 'hono'
import { TrieRouter } from 'hono/router/trie-router'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { createApp, KeptMatchesRouter } from '../../src/http/app.js'
import { requestLog } from '../../src/http/request-log.js'

/** The app's router keeps matches (issue 11); what a request is routed to must not change. */

describe('KeptMatchesRouter', () => {
  const routes: Array<[string, string]> = [
    ['ALL', '*'],
    ['GET', '/runs'],
    ['GET', '/runs/:id'],
    ['GET', '/runs/:id/events'],
    ['POST', '/runs/:id/pause'],
    ['ALL', '/runs/*'],
    ['GET', '/operators/new'],
    ['POST', '/operators/:id'],
  ]
  const paths = ['/runs', '/runs/A1', '/runs/B2', '/runs/A1/events', '/runs/A1/pause', '/operators/new', '/operators/X', '/nowhere', '/']

  function routers() {
    const plain = new TrieRouter<string>()
    const kept = new KeptMatchesRouter<string>(new TrieRouter<string>(), 4)
    for (const [method, path] of routes) {
      plain.add(method, path, `${method} ${path}`)
      kept.add(method, path, `${method} ${path}`)
    }
    return { plain, kept }
  }

  it('matches as the router it keeps the matches of, params included, asked once or many times', () => {
    const { plain, kept } = routers()
    for (let round = 0; round < 3; round++) {
      for (const method of ['GET', 'POST', 'DELETE']) {
        for (const path of paths) expect(kept.match(method, path), `${method} ${path}`).toEqual(plain.match(method, path))
      }
    }
  })

  it('keeps at most maxPaths matches and none of a long path; adding a route forgets them', () => {
    const { plain, kept } = routers()
    for (const path of paths) kept.match('GET', path)
    expect(kept.size).toBe(4)
    const long = `/runs/${'x'.repeat(300)}`
    expect(kept.match('GET', long)).toEqual(plain.match('GET', long))
    expect(kept.size).toBe(4)
    kept.add('GET', '/runs/:id/tenants', 'GET /runs/:id/tenants')
    expect(kept.size).toBe(0)
    const tenants = kept.match('GET', '/runs/A1/tenants')[0].map(([handler]) => handler)
    expect(tenants).toContain('GET /runs/:id/tenants')
  })

  it('routes each path of an app to its own handler with its own params', async () => {
    const app = new Hono({ router: new KeptMatchesRouter() })
    app.get('/runs/:id', (c) => c.text(`run ${c.req.param('id')}`))
    app.get('/runs/:id/events', (c) => c.text(`events of ${c.req.param('id')}`))
    for (let i = 0; i < 3; i++) {
      expect(await (await app.request('/runs/A1')).text()).toBe('run A1')
      expect(await (await app.request('/runs/B2')).text()).toBe('run B2')
      expect(await (await app.request('/runs/A1/events')).text()).toBe('events of A1')
      expect((await app.request('/runs/A1', { method: 'POST' })).status).toBe(404)
    }
  })

  it('is the router of the service app', async () => {
    const app = createApp({
      sql: undefined as never,
      log: undefined as never,
      catalog: undefined as never,
      logger: pino({ level: 'silent' }),
      config: { TOKEN_TTL_SECONDS: 3600, NODE_ENV: 'test', TRUST_PROXY_HOPS: 0, WORKER_CONCURRENCY: 1, WORKER_CAPACITY: 1 },
      healthy: async () => true,
      serveApi: false,
    })
    expect(app.router).toBeInstanceOf(KeptMatchesRouter)
    expect((await app.request('/health')).status).toBe(200)
  })
})

describe('request log', () => {
  function logged(level: string) {
    const lines: Array<Record<string, unknown>> = []
    const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line)) })
    const app = new Hono()
    app.use(requestLog(logger))
    app.get('/ok', (c) => c.text('ok'))
    app.get('/broken', (c) => c.text('no', 500))
    return { app, lines }
  }

  it('writes one line per request at info: method, path, status, duration; never the query', async () => {
    const { app, lines } = logged('info')
    await app.request('/ok?token=secret')
    await app.request('/broken')
    expect(lines.map(({ level, method, path, status, msg }) => ({ level, method, path, status, msg }))).toEqual([
      { level: 30, method: 'GET', path: '/ok', status: 200, msg: 'request' },
      { level: 50, method: 'GET', path: '/broken', status: 500, msg: 'request' },
    ])
    expect(typeof lines[0]!.ms).toBe('number')
    expect(JSON.stringify(lines)).not.toContain('secret')
  })

  it('never writes a token put in the path by mistake', async () => {
    const { app, lines } = logged('info')
    const token = `rcp_${'Kny0_-'.repeat(7)}a`
    await app.request(`/api/auth/tokens/${token}`)
    expect(lines.map(({ path }) => path)).toEqual(['/api/auth/tokens/rcp_(redacted)'])
    expect(JSON.stringify(lines)).not.toContain(token.slice(4))
  })

  it('above info, writes the 5xx lines only', async () => {
    const { app, lines } = logged('warn')
    await app.request('/ok')
    await app.request('/broken')
    expect(lines.map(({ path, status }) => ({ path, status }))).toEqual([{ path: '/broken', status: 500 }])
  })
})
