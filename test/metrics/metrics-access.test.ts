import { serve, type ServerType } from '@hono/node-server'
import { networkInterfaces } from 'node:os'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/http/app.js'
import { isLoopback, metricsAccess } from '../../src/metrics/metrics-access.js'
import type { ServiceMetrics } from '../../src/metrics/service-metrics.js'
import { expectProblem } from '../http/problem-assertions.js'

/** A stand-in registry (the real one is scraped in metrics-endpoint.test.ts): what the guard lets through. */
const fakeMetrics: ServiceMetrics = {
  contentType: 'text/plain; version=0.0.4; charset=utf-8',
  requestAnswered: () => {},
  eventsAppended: () => {},
  render: async () => '# HELP ops_probe a probe\n# TYPE ops_probe gauge\nops_probe 1\n',
}

/** The app of a process that serves /metrics only (a worker's: no API), with these settings. */
function metricsApp(config: { METRICS_TOKEN?: string; TRUST_PROXY_HOPS?: number } = {}) {
  return createApp({
    sql: undefined as never,
    log: undefined as never,
    catalog: undefined as never,
    logger: pino({ level: 'silent' }),
    config: { TOKEN_TTL_SECONDS: 3600, NODE_ENV: 'test', TRUST_PROXY_HOPS: config.TRUST_PROXY_HOPS ?? 0, WORKER_CONCURRENCY: 1, WORKER_CAPACITY: undefined, METRICS_TOKEN: config.METRICS_TOKEN },
    healthy: async () => true,
    serveApi: false,
    metrics: fakeMetrics,
  })
}

async function asResponse(response: Response) {
  const text = await response.text()
  let body: any
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  return { status: response.status, headers: response.headers, text, body }
}

describe('GET /metrics with METRICS_TOKEN set', () => {
  const token = 'metrics-token-for-the-test-0123456789'
  const app = metricsApp({ METRICS_TOKEN: token })
  const get = async (headers: Record<string, string>) => asResponse(await app.request('http://svc/metrics', { headers }))

  it('answers 401 problem+json without the token or with a wrong one, showing nothing', async () => {
    for (const authorization of [undefined, `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, 'Bearer ', token, `Basic ${token}`]) {
      const response = await get(authorization === undefined ? {} : { authorization })
      expectProblem(response, 401)
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/)
      expect(response.text).not.toContain('ops_probe')
      expect(response.text).not.toContain(token)
    }
  })

  it('answers 200 with the metrics to the right bearer token, from any address', async () => {
    const response = await get({ authorization: `Bearer ${token}` })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(response.text).toContain('ops_probe 1')
  })
})

describe('GET /metrics without METRICS_TOKEN', () => {
  it('refuses a client whose address is not loopback (403), and one whose address is unknown', async () => {
    const behindProxy = metricsApp({ TRUST_PROXY_HOPS: 1 })
    const remote = await asResponse(await behindProxy.request('http://svc/metrics', { headers: { 'x-forwarded-for': '203.0.113.7' } }))
    expectProblem(remote, 403)
    expect(remote.text).not.toContain('ops_probe')
    // No socket here (app.request) and no proxy: the address is unknown, which is not loopback.
    expectProblem(await asResponse(await metricsApp().request('http://svc/metrics')), 403)
    // A bearer token opens nothing while none is configured.
    expectProblem(await asResponse(await metricsApp().request('http://svc/metrics', { headers: { authorization: 'Bearer anything' } })), 403)
  })

  it('serves a loopback client, as the trusted proxy reports it', async () => {
    const local = await metricsApp({ TRUST_PROXY_HOPS: 1 }).request('http://svc/metrics', { headers: { 'x-forwarded-for': '127.0.0.1' } })
    expect(local.status).toBe(200)
    expect(await local.text()).toContain('ops_probe 1')
  })

  describe('over real sockets', () => {
    let server: ServerType | null = null
    let port = 0
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && address.family === 'IPv4' && !address.internal)?.address

    afterAll(async () => {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    })

    const listen = async () => {
      if (server) return
      const app = metricsApp()
      port = await new Promise<number>((resolve) => {
        server = serve({ fetch: app.fetch, port: 0, hostname: '0.0.0.0' }, (info) => resolve(info.port))
      })
    }

    it('serves 127.0.0.1', async () => {
      await listen()
      const response = await fetch(`http://127.0.0.1:${port}/metrics`)
      expect(response.status).toBe(200)
      expect(await response.text()).toContain('ops_probe 1')
    })

    it.runIf(external)("refuses a client connecting from this host's non-loopback address (403)", async () => {
      await listen()
      const response = await asResponse(await fetch(`http://${external}:${port}/metrics`))
      expectProblem(response, 403)
    })
  })
})

describe('metricsAccess and isLoopback', () => {
  it('takes 127.0.0.0/8 and ::1 (in any spelling) as loopback, nothing else', () => {
    for (const ip of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1']) expect(isLoopback(ip), ip).toBe(true)
    for (const ip of [null, '', '10.0.0.1', '128.0.0.1', '::2', '::ffff:127.0.0.1x', 'localhost', '203.0.113.7']) expect(isLoopback(ip), String(ip)).toBe(false)
  })

  it('with a token, asks for it whatever the address; without, the address decides', () => {
    expect(metricsAccess({ authorization: undefined, clientIp: '127.0.0.1' }, 'secret')).toMatchObject({ allowed: false, status: 401 })
    expect(metricsAccess({ authorization: 'bearer secret', clientIp: '203.0.113.7' }, 'secret')).toEqual({ allowed: true })
    expect(metricsAccess({ authorization: undefined, clientIp: '127.0.0.1' }, undefined)).toEqual({ allowed: true })
    expect(metricsAccess({ authorization: undefined, clientIp: '203.0.113.7' }, undefined)).toMatchObject({ allowed: false, status: 403 })
  })
})
