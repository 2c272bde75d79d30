import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { cookiesMustBeSecure } from '../../../src/http/console/cookies.js'

/** The Secure decision (SPEC §6 "Secure outside local development") for each way a request can arrive. */
describe('cookiesMustBeSecure', () => {
  const decide = async (url: string, nodeEnv: string | undefined, headers: Record<string, string> = {}) => {
    const app = new Hono().get('/system/login', (c) => c.text(String(cookiesMustBeSecure(c, nodeEnv))))
    return (await app.request(url, { headers })).text()
  }

  it('is off for plain http to a loopback host in development (http://localhost, 127.0.0.1, ::1)', async () => {
    expect(await decide('http://localhost:8080/system/login', undefined)).toBe('false')
    expect(await decide('http://localhost:8080/system/login', 'development')).toBe('false')
    expect(await decide('http://127.0.0.1:8080/system/login', undefined)).toBe('false')
    expect(await decide('http://[::1]:8080/system/login', undefined)).toBe('false')
  })

  it('is on for plain http to any other host: outside local development the console belongs behind TLS', async () => {
    expect(await decide('http://ops.internal:8080/system/login', undefined)).toBe('true')
    expect(await decide('http://10.1.2.3:8080/system/login', undefined)).toBe('true')
  })

  it('is on over https, directly or through a TLS-terminating proxy', async () => {
    expect(await decide('https://ops.example/system/login', undefined)).toBe('true')
    expect(await decide('http://ops.internal/system/login', undefined, { 'x-forwarded-proto': 'https' })).toBe('true')
    expect(await decide('http://localhost/system/login', undefined, { 'x-forwarded-proto': 'http' })).toBe('false')
  })

  it('is always on with NODE_ENV=production', async () => {
    expect(await decide('http://localhost:8080/system/login', 'production')).toBe('true')
  })
})
