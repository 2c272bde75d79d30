import { beforeEach, describe, expect, it, vi } from 'vitest'
import { recordLoginAttempt } from '../../src/commands/record-login.js'
import type { Sql } from '../../src/db/database.js'
import { HashingGate } from '../../src/auth/hashing-gate.js'
import { LoginRefusalMemory } from '../../src/auth/login-refusal-memory.js'
import { checkAndRecordLoginAttempt, type LoginAttemptDecision } from '../../src/auth/login-rate-limit.js'
import { authenticate } from '../../src/auth/operator-store.js'
import { passwordLogin, type PasswordLoginAttempt } from '../../src/auth/password-login.js'
import type { EventLog } from '../../src/store/event-log.js'

// A unit test of the order of passwordLogin's steps: the database budget, the audit and the hash are stubs.
vi.mock('../../src/auth/login-rate-limit.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../src/auth/login-rate-limit.js')>()),
  checkAndRecordLoginAttempt: vi.fn(),
}))
vi.mock('../../src/commands/record-login.js', () => ({ recordLoginAttempt: vi.fn(async () => {}) }))
vi.mock('../../src/auth/operator-store.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../src/auth/operator-store.js')>()),
  authenticate: vi.fn(async () => null),
}))

const budget = vi.mocked(checkAndRecordLoginAttempt)
const recorded = vi.mocked(recordLoginAttempt)
const hashed = vi.mocked(authenticate)

/** Any use of the database outside the stubbed budget check fails the test. */
const sql = new Proxy(() => {}, {
  apply: () => {
    throw new Error('unexpected database call')
  },
  get: () => {
    throw new Error('unexpected database call')
  },
}) as unknown as Sql
const log = {} as EventLog

const flooding = '198.51.100.66'
const elsewhere = '203.0.113.9'
const attempt = (ip: string, email: string): PasswordLoginAttempt => ({
  email,
  password: 'some password',
  ip,
  rateLimitIp: ip,
  userAgent: null,
  channel: 'api',
})
const refusedByIp = (retryAfterSeconds: number, firstRefusalInWindow: boolean): LoginAttemptDecision => ({
  allowed: false,
  retryAfterSeconds,
  limit: 'ip',
  firstRefusalInWindow,
})

describe('passwordLogin (issue 7: one address over its budget does not lock out the others)', () => {
  let now: number
  let gate: HashingGate
  let refusals: LoginRefusalMemory
  let deps: Parameters<typeof passwordLogin>[0]

  beforeEach(() => {
    vi.clearAllMocks()
    // Unless a test says what the budget answers, a check is a database round trip it did not expect.
    budget.mockImplementation(async () => {
      throw new Error('unexpected budget check (a database round trip)')
    })
    now = Date.UTC(2031, 2, 1, 10)
    gate = new HashingGate({ maxConcurrent: 1, maxQueued: 1, maxWaitMs: 1_000, retryAfterSeconds: 2 })
    refusals = new LoginRefusalMemory({ now: () => now })
    deps = { sql, log, gate, loginRefusals: refusals }
  })

  it('refuses an address already refused for the rest of its window at once: no gate, no database, nothing stored', async () => {
    budget.mockResolvedValueOnce(refusedByIp(40, true))
    expect(await passwordLogin(deps, attempt(flooding, 'flood-1@nobody.test'))).toEqual({ kind: 'rate_limited', retryAfterSeconds: 40 })
    expect(recorded).toHaveBeenCalledTimes(1) // the episode's first refusal
    vi.clearAllMocks()

    const tryEnter = vi.spyOn(gate, 'tryEnter')
    now += 10_000
    for (let i = 2; i < 50; i++) {
      expect(await passwordLogin(deps, attempt(flooding, `flood-${i}@nobody.test`))).toEqual({ kind: 'rate_limited', retryAfterSeconds: 30 })
    }
    expect(tryEnter).not.toHaveBeenCalled()
    expect(budget).not.toHaveBeenCalled()
    expect(recorded).not.toHaveBeenCalled()
    expect(hashed).not.toHaveBeenCalled()

    // Another address is admitted and its password checked.
    budget.mockResolvedValueOnce({ allowed: true })
    expect(await passwordLogin(deps, attempt(elsewhere, 'real@ops.test'))).toEqual({ kind: 'failed' })
    expect(tryEnter).toHaveBeenCalledTimes(1)
    expect(hashed).toHaveBeenCalledTimes(1)
  })

  it('asks the database again once the refusal window is over', async () => {
    budget.mockResolvedValueOnce(refusedByIp(40, true))
    await passwordLogin(deps, attempt(flooding, 'flood-1@nobody.test'))
    now += 39_999
    expect(await passwordLogin(deps, attempt(flooding, 'flood-2@nobody.test'))).toEqual({ kind: 'rate_limited', retryAfterSeconds: 1 })
    expect(budget).toHaveBeenCalledTimes(1)
    now += 1
    budget.mockResolvedValueOnce({ allowed: true })
    expect(await passwordLogin(deps, attempt(flooding, 'flood-3@nobody.test'))).toEqual({ kind: 'failed' })
    expect(budget).toHaveBeenCalledTimes(2)
  })

  it('remembers an (IP, email) refusal for that pair only', async () => {
    budget.mockResolvedValueOnce({ allowed: false, retryAfterSeconds: 15, limit: 'ip_email', firstRefusalInWindow: true })
    await passwordLogin(deps, attempt(flooding, 'target@ops.test'))
    expect(await passwordLogin(deps, attempt(flooding, 'target@ops.test'))).toEqual({ kind: 'rate_limited', retryAfterSeconds: 15 })
    expect(budget).toHaveBeenCalledTimes(1)
    budget.mockResolvedValueOnce({ allowed: true })
    expect(await passwordLogin(deps, attempt(flooding, 'other@ops.test'))).toEqual({ kind: 'failed' })
    expect(budget).toHaveBeenCalledTimes(2)
  })

  it('refuses a second login in flight from one address at once (429), while another address is admitted', async () => {
    let answerFirst!: (decision: LoginAttemptDecision) => void
    budget.mockImplementationOnce(() => new Promise((resolve) => (answerFirst = resolve)))
    const first = passwordLogin(deps, attempt(flooding, 'flood-1@nobody.test'))
    expect(await passwordLogin(deps, attempt(flooding, 'flood-2@nobody.test'))).toEqual({ kind: 'rate_limited', retryAfterSeconds: 2 })
    expect(budget).toHaveBeenCalledTimes(1)
    budget.mockResolvedValueOnce({ allowed: true })
    expect(await passwordLogin(deps, attempt(elsewhere, 'real@ops.test'))).toEqual({ kind: 'failed' })
    answerFirst({ allowed: true })
    expect(await first).toEqual({ kind: 'failed' })
    expect(gate.stats).toMatchObject({ inFlight: 0, addresses: 0 })
  })
})
