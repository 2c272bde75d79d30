import { describe, expect, it } from 'vitest'
import { LoginRefusalMemory } from '../../src/auth/login-refusal-memory.js'

function clock(start = Date.UTC(2031, 2, 1, 10)) {
  let now = start
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

describe('login refusal memory (issue 7: an address over its budget is refused before the hashing gate)', () => {
  it('refuses an address refused by its per-IP budget, whatever the email, with the remaining Retry-After', () => {
    const time = clock()
    const memory = new LoginRefusalMemory({ now: time.now })
    expect(memory.refusalOf({ ip: '203.0.113.1', email: 'a@ops.test' })).toBeNull()
    memory.remember({ ip: '203.0.113.1', email: 'a@ops.test' }, { limit: 'ip', retryAfterSeconds: 40 })
    expect(memory.refusalOf({ ip: '203.0.113.1', email: 'b@ops.test' })).toEqual({ limit: 'ip', retryAfterSeconds: 40 })
    time.advance(10_500)
    expect(memory.refusalOf({ ip: '203.0.113.1', email: 'c@ops.test' })).toEqual({ limit: 'ip', retryAfterSeconds: 30 })
    expect(memory.refusalOf({ ip: '203.0.113.2', email: 'a@ops.test' })).toBeNull()
    time.advance(29_500)
    expect(memory.refusalOf({ ip: '203.0.113.1', email: 'a@ops.test' })).toBeNull()
    expect(memory.size).toBe(0)
  })

  it('refuses only the pair when the (IP, email) budget refused', () => {
    const time = clock()
    const memory = new LoginRefusalMemory({ now: time.now })
    memory.remember({ ip: '203.0.113.1', email: 'A@ops.test' }, { limit: 'ip_email', retryAfterSeconds: 15 })
    expect(memory.refusalOf({ ip: '203.0.113.1', email: ' a@ops.test ' })).toEqual({ limit: 'ip_email', retryAfterSeconds: 15 })
    expect(memory.refusalOf({ ip: '203.0.113.1', email: 'b@ops.test' })).toBeNull()
    expect(memory.refusalOf({ ip: '203.0.113.2', email: 'a@ops.test' })).toBeNull()
  })

  it('holds at most maxEntries, dropping the oldest', () => {
    const time = clock()
    const memory = new LoginRefusalMemory({ now: time.now, maxEntries: 2 })
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) memory.remember({ ip, email: 'x@ops.test' }, { limit: 'ip', retryAfterSeconds: 60 })
    expect(memory.size).toBe(2)
    expect(memory.refusalOf({ ip: '192.0.2.1', email: 'x@ops.test' })).toBeNull()
    expect(memory.refusalOf({ ip: '192.0.2.2', email: 'x@ops.test' })).not.toBeNull()
    expect(memory.refusalOf({ ip: '192.0.2.3', email: 'x@ops.test' })).not.toBeNull()
    // Remembering a key again makes it the newest.
    memory.remember({ ip: '192.0.2.2', email: 'x@ops.test' }, { limit: 'ip', retryAfterSeconds: 60 })
    memory.remember({ ip: '192.0.2.4', email: 'x@ops.test' }, { limit: 'ip', retryAfterSeconds: 60 })
    expect(memory.refusalOf({ ip: '192.0.2.3', email: 'x@ops.test' })).toBeNull()
    expect(memory.refusalOf({ ip: '192.0.2.2', email: 'x@ops.test' })).not.toBeNull()
  })
})
