import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { HashingUnavailableError, loginHashingGate } from '../../src/auth/hashing-gate.js'
import { LOGIN_ATTEMPTS_PER_IP_PER_WINDOW } from '../../src/auth/login-rate-limit.js'
import { serviceFlavours, testAdmin, waitUntil, type TestService } from '../support/service.js'
import { openLoginForm, submitLogin } from './console/console-client.js'

/** Holds slots of the process's login hashing gate (the service runs in this process) until released. */
function holdGateSlots(count: number) {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  const held = Array.from({ length: count }, () =>
    loginHashingGate.run(() => released).catch((error: unknown) => {
      if (!(error instanceof HashingUnavailableError)) throw error
    }),
  )
  return {
    async release() {
      release()
      await Promise.all(held)
    },
  }
}

const { maxConcurrent, maxQueued } = loginHashingGate.options

/**
 * Issue 7: a login without credentials is not a lever on the service — hashing is capped and answered
 * 503 + Retry-After when saturated, the per-IP budget stops a flood of distinct emails, refusals store
 * (almost) nothing, a client that went away costs no hash, and token answers are not cached.
 */
describe.each(serviceFlavours())('login under load: $name', (flavour) => {
  let service: TestService
  let hold: { release(): Promise<void> } | null = null

  const countEvents = async (type: string) =>
    (await service.sql<{ n: number }[]>`select count(*)::int as n from event_store_events where type = ${type}`)[0]!.n
  const postToken = (email: string, password: string, init: { signal?: AbortSignal; from?: string } = {}) =>
    fetch(`${service.baseUrl}/api/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(init.from ? { 'x-forwarded-for': init.from } : {}) },
      body: JSON.stringify({ email, password }),
      ...(init.signal ? { signal: init.signal } : {}),
    })

  beforeAll(async () => {
    // One trusted proxy: a test gives a request its own client address through X-Forwarded-For (a request
    // without the header is the socket's address, 127.0.0.1, as before).
    service = await flavour.start({ env: { TRUST_PROXY_HOPS: '1' } })
  })
  afterEach(async () => {
    await hold?.release()
    hold = null
  })
  afterAll(async () => {
    await service?.close()
  })

  it('answers the token with Cache-Control: no-store, and its refusals too', async () => {
    const ok = await service.request('POST', '/api/auth/tokens', { json: testAdmin })
    expect(ok.status, ok.text).toBe(201)
    expect(ok.headers.get('cache-control')).toBe('no-store')
    const wrong = await service.request('POST', '/api/auth/tokens', { json: { ...testAdmin, password: 'not the password' } })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('cache-control')).toBe('no-store')
  })

  it('lets many operators behind one address log in rightly beyond the address budget; wrong passwords from it stay bounded', async () => {
    const from = '198.51.100.77'
    const admin = await service.token()
    const password = 'a long enough password for the office'
    const operators = []
    for (let index = 0; index < 4; index++) {
      const email = `office-${index}@ops.test`
      const created = await service.request('POST', '/api/operators', { token: admin, json: { email, name: `Office ${index}`, password, capabilities: [] } })
      expect(created.status, created.text).toBe(201)
      operators.push(email)
    }
    // 4 × 9 right logins from one address: above its budget of 30, within each (address, email) budget of 10.
    const statuses: number[] = []
    for (const email of operators) for (let attempt = 0; attempt < 9; attempt++) statuses.push((await postToken(email, password, { from })).status)
    expect(statuses.length).toBeGreaterThan(LOGIN_ATTEMPTS_PER_IP_PER_WINDOW)
    expect(statuses.filter((status) => status !== 201)).toEqual([])
    // Wrong passwords for distinct emails from that address still meet its budget.
    const wrong: number[] = []
    for (let attempt = 0; attempt < LOGIN_ATTEMPTS_PER_IP_PER_WINDOW + 1; attempt++) wrong.push((await postToken(`nobody-${attempt}@ops.test`, 'wrong password here', { from })).status)
    expect(wrong.slice(0, LOGIN_ATTEMPTS_PER_IP_PER_WINDOW).every((status) => status === 401)).toBe(true)
    expect(wrong.at(-1)).toBe(429)
  })

  it('answers 503 with Retry-After at once when every hashing slot is busy and the queue full, spending no budget', async () => {
    hold = holdGateSlots(maxConcurrent + maxQueued)
    await waitUntil(async () => loginHashingGate.saturated, 'the gate saturated', 5_000)
    const failedBefore = await countEvents('LoginFailed')
    const startedAt = Date.now()
    const api = await service.request('POST', '/api/auth/tokens', { json: testAdmin })
    expect(Date.now() - startedAt).toBeLessThan(2_000)
    expect(api.status, api.text).toBe(503)
    expect(api.headers.get('content-type')).toContain('application/problem+json')
    expect(Number(api.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(api.headers.get('cache-control')).toBe('no-store')

    // The console's login form goes through the same path.
    const form = await openLoginForm(service)
    const consoleAnswer = await submitLogin(service, testAdmin, form)
    expect(consoleAnswer.status).toBe(503)
    expect(Number(consoleAnswer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(consoleAnswer.text).toContain('Too many logins are being checked right now')
    expect(await countEvents('LoginFailed')).toBe(failedBefore)

    await hold.release()
    hold = null
    const after = await service.request('POST', '/api/auth/tokens', { json: testAdmin })
    expect(after.status, after.text).toBe(201)
  })

  it('does not hash, nor record, the password of a client that went away while waiting for a slot', async () => {
    hold = holdGateSlots(maxConcurrent)
    await waitUntil(async () => loginHashingGate.stats.running === maxConcurrent, 'the slots held', 5_000)
    const email = 'went-away@ops.test'
    const client = new AbortController()
    const request = postToken(email, 'some password', { signal: client.signal }).catch((error: unknown) => error)
    await waitUntil(async () => loginHashingGate.stats.queued === 1, 'the login waiting for a slot', 5_000)
    client.abort()
    expect(await request).toBeInstanceOf(Error)
    await waitUntil(async () => loginHashingGate.stats.queued === 0, 'the waiter gone', 5_000)
    await hold.release()
    hold = null
    await new Promise((resolve) => setTimeout(resolve, 200))
    const [row] = await service.sql<{ n: number }[]>`
      select count(*)::int as n from event_store_events where type = 'LoginFailed' and data->>'email' = ${email}`
    expect(row!.n).toBe(0)
  })

  it('stops a flood of 200 concurrent (then one at a time) distinct unknown emails from one address: bounded hashes, quick answers, one episode', async () => {
    const failedBefore = await countEvents('LoginFailed')
    const limitedBefore = await countEvents('LoginRateLimited')
    const startedAt = Date.now()
    const send = async (i: number) => {
      const response = await postToken(`flood-${i}@nobody.test`, 'wrong password')
      await response.text()
      return { status: response.status, retryAfter: response.headers.get('retry-after'), at: Date.now() - startedAt }
    }
    // 200 at once: one address has only its share of the in-flight logins; the rest is refused at once.
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => send(i)))
    const refusedAtOnce = answers.filter((a) => a.status === 429 || a.status === 503)
    expect(refusedAtOnce.length).toBeGreaterThan(100)
    // Then the same client keeps going one at a time: the per-IP budget runs out, answered 429.
    for (let i = 0; i <= LOGIN_ATTEMPTS_PER_IP_PER_WINDOW; i++) {
      const answer = await send(1000 + i)
      answers.push(answer)
      if (answer.status === 429) break
    }
    expect(answers.at(-1)!.status).toBe(429)
    const elapsed = Date.now() - startedAt
    const byStatus = (status: number) => answers.filter((a) => a.status === status)
    expect(answers.every((a) => [401, 429, 503].includes(a.status)), JSON.stringify(answers.map((a) => a.status))).toBe(true)
    // The earlier tests of this file spent a few of this address's budget.
    expect(byStatus(401).length).toBeLessThanOrEqual(LOGIN_ATTEMPTS_PER_IP_PER_WINDOW)
    for (const refused of [...byStatus(429), ...byStatus(503)]) expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1)
    // At most the per-IP budget was hashed (each ~0.4 s at the default cost, 2-4 at once): not 200 hashes.
    expect(elapsed).toBeLessThan(60_000)
    await waitUntil(async () => (await countEvents('LoginRateLimited')) > limitedBefore, 'the rate-limit episode recorded', 10_000)
    expect((await countEvents('LoginFailed')) - failedBefore).toBe(byStatus(401).length)
    expect((await countEvents('LoginRateLimited')) - limitedBefore).toBe(1)
    console.info(`flood of 200 + ${answers.length - 200} from one address: ${elapsed} ms; 401×${byStatus(401).length} 429×${byStatus(429).length} 503×${byStatus(503).length}`)
  }, 120_000)

  it('lets a real user on another address log in at once while one address over its budget keeps flooding', async () => {
    // The verification's flood: 200 clients looping from one address. Before, each request from an address
    // already over its budget still took one of the process's in-flight login slots for its budget
    // transaction, and logins from every other address were answered 503 for as long as the flood went on.
    const floodFrom = '198.51.100.66'
    let sent = 0
    const floodOnce = async () => {
      const response = await postToken(`looping-${sent++}@nobody.test`, 'wrong password', { from: floodFrom })
      await response.text()
      return response.status
    }
    // The address spends its per-IP budget first (each attempt alone, so none is refused 503 meanwhile).
    const spent: number[] = []
    while (!spent.includes(429)) spent.push(await floodOnce())
    expect(spent.length).toBe(LOGIN_ATTEMPTS_PER_IP_PER_WINDOW + 1)

    const statuses = new Map<number | string, number>()
    let flooding = true
    const loop = async () => {
      while (flooding) {
        const status = await floodOnce().catch((error: unknown) => String(error))
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
      }
    }
    const clients = Array.from({ length: 200 }, loop)
    const tries: Array<{ status: number; ms: number }> = []
    try {
      await waitUntil(async () => sent > LOGIN_ATTEMPTS_PER_IP_PER_WINDOW + 1000, 'the flood under way', 60_000)
      for (let attempt = 0; attempt < 2; attempt++) {
        const startedAt = Date.now()
        const answer = await postToken(testAdmin.email, testAdmin.password, { from: '203.0.113.9' })
        await answer.text()
        tries.push({ status: answer.status, ms: Date.now() - startedAt })
        if (answer.status === 201) break
      }
    } finally {
      flooding = false
      await Promise.all(clients)
    }
    console.info(`real login during a flood of 200 looping clients from one address over its budget: ${JSON.stringify(tries)}; flood ${JSON.stringify([...statuses])}`)
    expect(tries.map((t) => t.status)).toEqual([201])
    // The flood was refused 429 by its budget, none answered 503 (every in-flight slot taken). On a machine slow
    // enough for the budget's window to end mid-flood, the attempts it frees are checked (401).
    expect([...statuses.keys()].filter((status) => status !== 401).sort()).toEqual([429])
    expect(statuses.get(401) ?? 0).toBeLessThanOrEqual(LOGIN_ATTEMPTS_PER_IP_PER_WINDOW)
  }, 120_000)

  it('lets a real user on another address log in at once while one address floods before its budget is spent', async () => {
    // Before its budget is spent the flooding address's attempts are admitted: without a share per address
    // they filled every in-flight slot and the hashing queue, and logins from elsewhere were answered 503.
    const floodFrom = '198.51.100.88'
    const statuses = new Map<string, number>()
    let flooding = true
    let sent = 0
    const loop = async () => {
      while (flooding) {
        const key = await postToken(`early-${sent++}@nobody.test`, 'wrong password', { from: floodFrom }).then(
          async (response) => (await response.text(), `${response.status}/${Number(response.headers.get('retry-after')) > loginHashingGate.options.retryAfterSeconds ? 'budget' : 'now'}`),
          (error: unknown) => String(error),
        )
        statuses.set(key, (statuses.get(key) ?? 0) + 1)
      }
    }
    const clients = Array.from({ length: 200 }, loop)
    const tries: Array<{ status: number; ms: number; floodSoFar: string }> = []
    try {
      await waitUntil(async () => sent > 400, 'the flood under way', 60_000)
      for (let attempt = 0; attempt < 2; attempt++) {
        const floodSoFar = JSON.stringify([...statuses])
        const startedAt = Date.now()
        const answer = await postToken(testAdmin.email, testAdmin.password, { from: '203.0.113.10' })
        await answer.text()
        tries.push({ status: answer.status, ms: Date.now() - startedAt, floodSoFar })
        if (answer.status === 201) break
      }
    } finally {
      flooding = false
      await Promise.all(clients)
    }
    console.info(`real login during a flood of 200 looping clients from one fresh address: ${JSON.stringify(tries)}; flood ${JSON.stringify([...statuses])}`)
    expect(tries.map((t) => t.status), JSON.stringify(tries)).toEqual([201])
    expect(statuses.get('401/now') ?? 0).toBeLessThanOrEqual(LOGIN_ATTEMPTS_PER_IP_PER_WINDOW)
  }, 120_000)
})
