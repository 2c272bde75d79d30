import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { isCrossOriginRequest } from '../../../src/http/console/csrf.js'

const app = new Hono().post('/system/x', (c) => c.json({ crossOrigin: isCrossOriginRequest(c) }))

async function crossOrigin(headers: Record<string, string>): Promise<boolean> {
  const response = await app.request('http://ops.example/system/x', { method: 'POST', headers })
  return ((await response.json()) as { crossOrigin: boolean }).crossOrigin
}

describe('the Origin check beside the CSRF token', () => {
  it('accepts no Origin and our own host (also behind a TLS-terminating proxy)', async () => {
    expect(await crossOrigin({})).toBe(false)
    expect(await crossOrigin({ origin: 'http://ops.example' })).toBe(false)
    expect(await crossOrigin({ origin: 'https://ops.example' })).toBe(false)
  })

  it('refuses another host and unparsable origins', async () => {
    expect(await crossOrigin({ origin: 'https://evil.example' })).toBe(true)
    expect(await crossOrigin({ origin: 'not a url' })).toBe(true)
  })

  it('accepts "null" only for a same-origin request (our form under a no-referrer policy), refuses it otherwise', async () => {
    expect(await crossOrigin({ origin: 'null', 'sec-fetch-site': 'same-origin' })).toBe(false)
    expect(await crossOrigin({ origin: 'null', 'sec-fetch-site': 'cross-site' })).toBe(true)
    expect(await crossOrigin({ origin: 'null' })).toBe(true)
  })
})
