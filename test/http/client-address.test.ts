import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { clientAddress, rateLimitAddress, trustedProxyAddresses } from '../../src/http/client-address.js'

function appTrusting(hops: number) {
  return new Hono().use(trustedProxyAddresses(hops)).get('/', (c) => c.json(clientAddress(c)))
}

async function ipSeenBy(hops: number, forwardedFor?: string): Promise<string | null> {
  const headers: Record<string, string> = forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}
  // app.request has no socket: without a trusted proxy the address is unknown (null).
  const response = await appTrusting(hops).request('http://svc/', { headers })
  return ((await response.json()) as { ip: string | null }).ip
}

describe('the client address', () => {
  it('ignores X-Forwarded-For unless proxies are trusted', async () => {
    expect(await ipSeenBy(0, '203.0.113.7')).toBeNull()
  })

  it('behind N trusted proxies takes the entry N from the right; entries further left are the client\'s own words', async () => {
    expect(await ipSeenBy(1, '198.51.100.1, 203.0.113.7')).toBe('203.0.113.7')
    expect(await ipSeenBy(2, 'spoofed, 198.51.100.1, 203.0.113.7')).toBe('198.51.100.1')
    expect(await ipSeenBy(1, '::ffff:203.0.113.7')).toBe('203.0.113.7')
    expect(await ipSeenBy(1, 'not-an-address')).toBeNull()
    expect(await ipSeenBy(3, '203.0.113.7')).toBeNull()
  })

  it('keeps the forwarded address when later middleware replaces the request (bodyLimit does, for a body of unknown length)', async () => {
    const app = new Hono()
      .use(trustedProxyAddresses(1))
      .use(async (c, next) => {
        c.req.raw = new Request(c.req.raw, { body: 'replaced', method: 'POST' })
        await next()
      })
      .post('/', (c) => c.json(clientAddress(c)))
    const response = await app.request('http://svc/', { method: 'POST', headers: { 'x-forwarded-for': '203.0.113.7' }, body: '{}' })
    expect(((await response.json()) as { ip: string | null }).ip).toBe('203.0.113.7')
  })
})

describe('the rate-limit address', () => {
  it('is the address for IPv4 and the /64 for IPv6, so hopping inside one network gains nothing', () => {
    expect(rateLimitAddress('203.0.113.7')).toBe('203.0.113.7')
    expect(rateLimitAddress('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(rateLimitAddress('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64')
    expect(rateLimitAddress('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(rateLimitAddress('::1')).toBe('0:0:0:0::/64')
    expect(rateLimitAddress(null)).toBe('unknown')
  })
})
