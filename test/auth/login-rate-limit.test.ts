import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  checkAndRecordLoginAttempt,
  LOGIN_ATTEMPTS_PER_WINDOW,
  loginAttemptKey,
} from '../../src/auth/login-rate-limit.js'
import { authSchema } from '../../src/auth/operator-store.js'
import type { Database } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { databaseFlavours } from '../support/databases.js'

const at = (isoTime: string) => new Date(`2030-06-01T${isoTime}Z`)

describe.each(databaseFlavours())('login rate limit on $name', ({ open }) => {
  let db: Database
  let counter = 0
  /** A fresh email per test, so tests sharing the database do not share a budget. */
  const freshEmail = () => `user-${counter++}-${Math.random().toString(36).slice(2)}@example.com`

  beforeAll(async () => {
    db = await open()
    await applyMigrations(db.sql, [authSchema])
  })
  afterAll(async () => {
    await db?.close()
  })

  async function attempts(count: number, attempt: { ip: string; email: string; now: Date }) {
    const decisions = []
    for (let i = 0; i < count; i++) decisions.push(await checkAndRecordLoginAttempt(db.sql, attempt))
    return decisions
  }

  it('allows 10 attempts a minute, then refuses the 11th with the time until a slot frees', async () => {
    const email = freshEmail()
    const first = await checkAndRecordLoginAttempt(db.sql, { ip: '203.0.113.7', email, now: at('10:00:00') })
    expect(first).toEqual({ allowed: true })
    const rest = await attempts(LOGIN_ATTEMPTS_PER_WINDOW - 1, { ip: '203.0.113.7', email, now: at('10:00:20') })
    expect(rest.every((decision) => decision.allowed)).toBe(true)

    // The first attempt leaves the window at 10:01:00, 15 s after this one.
    expect(await checkAndRecordLoginAttempt(db.sql, { ip: '203.0.113.7', email, now: at('10:00:45') })).toEqual({
      allowed: false,
      retryAfterSeconds: 15,
      limit: 'ip_email',
      firstRefusalInWindow: true,
    })
    expect(await checkAndRecordLoginAttempt(db.sql, { ip: '203.0.113.7', email, now: at('10:00:59.500') })).toEqual({
      allowed: false,
      retryAfterSeconds: 1,
      limit: 'ip_email',
      firstRefusalInWindow: false,
    })
  })

  it('counts the email case-insensitively', async () => {
    const email = freshEmail()
    await attempts(LOGIN_ATTEMPTS_PER_WINDOW, { ip: '198.51.100.1', email, now: at('11:00:00') })
    const refused = await checkAndRecordLoginAttempt(db.sql, { ip: '198.51.100.1', email: ` ${email.toUpperCase()} `, now: at('11:00:01') })
    expect(refused.allowed).toBe(false)
  })

  it('keeps separate budgets for a different ip or a different email', async () => {
    const email = freshEmail()
    await attempts(LOGIN_ATTEMPTS_PER_WINDOW, { ip: '198.51.100.2', email, now: at('12:00:00') })
    expect((await checkAndRecordLoginAttempt(db.sql, { ip: '198.51.100.2', email, now: at('12:00:01') })).allowed).toBe(false)
    expect(await checkAndRecordLoginAttempt(db.sql, { ip: '198.51.100.3', email, now: at('12:00:01') })).toEqual({ allowed: true })
    expect(await checkAndRecordLoginAttempt(db.sql, { ip: '198.51.100.2', email: freshEmail(), now: at('12:00:01') })).toEqual({
      allowed: true,
    })
  })

  it('forgets attempts older than a minute, and refused attempts do not extend the lock-out', async () => {
    const email = freshEmail()
    await attempts(LOGIN_ATTEMPTS_PER_WINDOW, { ip: '192.0.2.9', email, now: at('13:00:00') })
    expect((await checkAndRecordLoginAttempt(db.sql, { ip: '192.0.2.9', email, now: at('13:00:30') })).allowed).toBe(false)
    expect((await checkAndRecordLoginAttempt(db.sql, { ip: '192.0.2.9', email, now: at('13:00:59.999') })).allowed).toBe(false)
    const later = await attempts(LOGIN_ATTEMPTS_PER_WINDOW, { ip: '192.0.2.9', email, now: at('13:01:00') })
    expect(later.every((decision) => decision.allowed)).toBe(true)
    expect((await checkAndRecordLoginAttempt(db.sql, { ip: '192.0.2.9', email, now: at('13:01:00') })).allowed).toBe(false)
  })

  it('stores a hash of the key, not the email or ip, and prunes rows that left the window', async () => {
    const email = freshEmail()
    await attempts(3, { ip: '192.0.2.77', email, now: at('14:00:00') })
    const key = loginAttemptKey('192.0.2.77', email)
    expect(key).toMatch(/^[0-9a-f]{64}$/)
    const stored = await db.sql<{ key: string }[]>`select key from login_attempts where key like ${'%' + email + '%'} or key like '%192.0.2.77%'`
    expect(stored).toEqual([])
    expect(await db.sql`select 1 from login_attempts where key = ${key}`).toHaveLength(3)

    // Another key's attempt two minutes later removes these three expired rows.
    await checkAndRecordLoginAttempt(db.sql, { ip: '192.0.2.78', email: freshEmail(), now: at('14:02:00') })
    expect(await db.sql`select 1 from login_attempts where key = ${key}`).toHaveLength(0)
  })

  it('lets exactly 10 of 20 concurrent attempts through', async () => {
    const email = freshEmail()
    const now = at('15:00:00')
    const decisions = await Promise.all(
      Array.from({ length: 20 }, () => checkAndRecordLoginAttempt(db.sql, { ip: '203.0.113.200', email, now })),
    )
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(LOGIN_ATTEMPTS_PER_WINDOW)
    expect(decisions.filter((decision) => !decision.allowed)).toHaveLength(10)
    expect(await db.sql`select 1 from login_attempts where key = ${loginAttemptKey('203.0.113.200', email)}`).toHaveLength(10)
  })
})
