import { describe, expect, it } from 'vitest'
import { HashingGate, HashingUnavailableError, loginHashingGate } from '../../src/auth/hashing-gate.js'

/** A piece of work the test finishes by hand. */
function heldWork() {
  let finish!: () => void
  const done = new Promise<void>((resolve) => (finish = resolve))
  let started = false
  return { work: async () => ((started = true), await done, 'done'), finish: () => finish(), started: () => started }
}

const gateOf = (options: Partial<HashingGate['options']> = {}) =>
  new HashingGate({ maxConcurrent: 2, maxQueued: 2, maxWaitMs: 10_000, retryAfterSeconds: 3, ...options })

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: unknown) => (error instanceof HashingUnavailableError ? { reason: error.reason, retryAfterSeconds: error.retryAfterSeconds } : error),
  )

describe('login hashing gate (issue 7: login is not a CPU exhaustion lever)', () => {
  it('runs at most maxConcurrent at once, queues up to maxQueued, and refuses the next at once', async () => {
    const gate = gateOf()
    const held = Array.from({ length: 4 }, heldWork)
    const running = held.map((h) => gate.run(h.work))
    await Promise.resolve()
    expect(held.map((h) => h.started())).toEqual([true, true, false, false])
    expect(gate.stats).toMatchObject({ running: 2, queued: 2 })
    expect(gate.saturated).toBe(true)

    const startedAt = Date.now()
    expect(await refusal(gate.run(async () => 'never'))).toEqual({ reason: 'saturated', retryAfterSeconds: 3 })
    expect(Date.now() - startedAt).toBeLessThan(100)

    held[0]!.finish()
    await running[0]
    await new Promise((resolve) => setImmediate(resolve))
    expect(held[2]!.started()).toBe(true) // the freed slot went to the first waiter
    expect(gate.stats).toMatchObject({ running: 2, queued: 1 })
    for (const h of held) h.finish()
    expect(await Promise.all(running)).toEqual(['done', 'done', 'done', 'done'])
    expect(gate.stats).toMatchObject({ running: 0, queued: 0 })
  })

  it('refuses a waiter whose wait exceeds maxWaitMs', async () => {
    const gate = gateOf({ maxConcurrent: 1, maxWaitMs: 50 })
    const held = heldWork()
    const first = gate.run(held.work)
    expect(await refusal(gate.run(async () => 'late'))).toEqual({ reason: 'timed_out', retryAfterSeconds: 3 })
    expect(gate.stats).toMatchObject({ running: 1, queued: 0 })
    held.finish()
    await first
  })

  it('does no work for a caller whose client went away: before, and while waiting', async () => {
    const gate = gateOf({ maxConcurrent: 1 })
    const gone = new AbortController()
    gone.abort()
    let ran = false
    expect(await refusal(gate.run(async () => (ran = true), gone.signal))).toEqual({ reason: 'aborted', retryAfterSeconds: 3 })

    const held = heldWork()
    const first = gate.run(held.work)
    const leaving = new AbortController()
    const waiting = refusal(gate.run(async () => (ran = true), leaving.signal))
    expect(gate.stats).toMatchObject({ running: 1, queued: 1 })
    leaving.abort()
    expect(await waiting).toEqual({ reason: 'aborted', retryAfterSeconds: 3 })
    expect(gate.stats).toMatchObject({ running: 1, queued: 0 })
    held.finish()
    await first
    expect(ran).toBe(false)
    expect(gate.stats).toMatchObject({ running: 0, queued: 0 })
  })

  it('admits at most maxInFlight logins into the process, and none while the queue is full', async () => {
    const gate = gateOf({ maxConcurrent: 1, maxQueued: 1, maxInFlight: 3, maxInFlightPerAddress: 10 })
    const enter = () => gate.tryEnter('203.0.113.1')
    expect([enter(), enter(), enter(), enter()]).toEqual(['admitted', 'admitted', 'admitted', 'busy'])
    gate.leave('203.0.113.1')
    expect(enter()).toBe('admitted')
    for (let i = 0; i < 3; i++) gate.leave('203.0.113.1')
    const held = [heldWork(), heldWork()]
    const running = held.map((h) => gate.run(h.work))
    expect(gate.saturated).toBe(true)
    expect(enter()).toBe('busy')
    for (const h of held) h.finish()
    await Promise.all(running)
    expect(enter()).toBe('admitted')
  })

  it('admits at most maxInFlightPerAddress logins of one address, so one address cannot fill the process\'s slots', () => {
    const gate = gateOf({ maxConcurrent: 2, maxQueued: 4, maxInFlight: 12, maxInFlightPerAddress: 2 })
    const flood = Array.from({ length: 20 }, () => gate.tryEnter('198.51.100.66'))
    expect(flood).toEqual(['admitted', 'admitted', ...Array(18).fill('address_busy')])
    expect(gate.tryEnter('203.0.113.9')).toBe('admitted')
    gate.leave('198.51.100.66')
    expect(gate.tryEnter('198.51.100.66')).toBe('admitted')
    for (const address of ['198.51.100.66', '198.51.100.66', '203.0.113.9']) gate.leave(address)
    expect(gate.stats).toEqual({ running: 0, queued: 0, inFlight: 0, addresses: 0 })
  })

  it('by default lets one address hold at most half the hashing slots (at least one) once the slots are taken', () => {
    const gate = gateOf({ maxConcurrent: 4 })
    // Idle: logins of one address may overlap (one NAT, the CLI and the console at once).
    expect([1, 2, 3].map(() => gate.tryEnter('a'))).toEqual(['admitted', 'admitted', 'admitted'])
    expect(gate.tryEnter('b')).toBe('admitted')
    // Four in flight: the address over its share of two waits, another address does not.
    expect(gate.tryEnter('a')).toBe('address_busy')
    expect(gate.tryEnter('c')).toBe('admitted')
    const small = gateOf({ maxConcurrent: 1 })
    expect([1, 2].map(() => small.tryEnter('a'))).toEqual(['admitted', 'address_busy'])
  })

  it('frees its slot when the work throws', async () => {
    const gate = gateOf({ maxConcurrent: 1 })
    await expect(gate.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await gate.run(async () => 'next')).toBe('next')
    expect(gate.stats).toMatchObject({ running: 0, queued: 0 })
  })

  it('the process gate lets 2 to 4 hashes run at once, with a bounded queue', () => {
    expect(loginHashingGate.options.maxConcurrent).toBeGreaterThanOrEqual(2)
    expect(loginHashingGate.options.maxConcurrent).toBeLessThanOrEqual(4)
    expect(loginHashingGate.options.maxQueued).toBeLessThanOrEqual(4 * loginHashingGate.options.maxConcurrent)
    expect(loginHashingGate.options.retryAfterSeconds).toBeGreaterThanOrEqual(1)
  })
})
