import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  checkAndRecordLoginAttempt,
  LOGIN_ATTEMPTS_PER_IP_PER_WINDOW,
  LOGIN_ATTEMPTS_PER_WINDOW,
} from '../../src/auth/login-rate-limit.js'
import { authSchema } from '../../src/auth/operator-store.js'
import type { Database } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { databaseFlavours } from '../support/databases.js'

const at = (isoTime: string) => new Date(`2031-03-01T${isoTime}Z`)

/** Issue 7: a budget per IP whatever the email, and a refusal episode recorded once per key and window. */
describe.each(databaseFlavours())('login budgets per IP and refusal episodes on $name', ({ open }) => {
  let db: Database
  let counter = 0
  const email = () => `budget-${counter++}@example.com`

  beforeAll(async () => {
    db = await open()
    await applyMigrations(db.sql, [authSchema])
  })
  afterAll(async () => {
    await db?.close()
  })

  it('allows 30 attempts a minute from one IP across distinct emails, then refuses the 31st (limit ip)', async () => {
    const ip = '203.0.113.31'
    for (let i = 0; i < LOGIN_ATTEMPTS_PER_IP_PER_WINDOW; i++) {
      expect(await checkAndRecordLoginAttempt(db.sql, { ip, email: email(), now: at('10:00:00') })).toEqual({ allowed: true })
    }
    expect(await checkAndRecordLoginAttempt(db.sql, { ip, email: email(), now: at('10:00:20') })).toEqual({
      allowed: false,
      retryAfterSeconds: 40,
      limit: 'ip',
      firstRefusalInWindow: true,
    })
    // Another address is not affected.
    expect(await checkAndRecordLoginAttempt(db.sql, { ip: '203.0.113.32', email: email(), now: at('10:00:20') })).toEqual({ allowed: true })
    // A minute later the address has its budget again.
    expect(await checkAndRecordLoginAttempt(db.sql, { ip, email: email(), now: at('10:01:00') })).toEqual({ allowed: true })
  })

  it('marks only the first refusal of a window as one to record, per key', async () => {
    const ip = '198.51.100.50'
    const target = email()
    for (let i = 0; i < LOGIN_ATTEMPTS_PER_WINDOW; i++) await checkAndRecordLoginAttempt(db.sql, { ip, email: target, now: at('11:00:00') })
    const refusals = []
    for (let i = 0; i < 50; i++) refusals.push(await checkAndRecordLoginAttempt(db.sql, { ip, email: target, now: at('11:00:30') }))
    expect(refusals.map((r) => !r.allowed && r.firstRefusalInWindow)).toEqual([true, ...Array(49).fill(false)])
    // The next window (the budget still spent: no allowed attempt since) is a new episode, recorded again.
    for (let i = 0; i < LOGIN_ATTEMPTS_PER_WINDOW; i++) await checkAndRecordLoginAttempt(db.sql, { ip, email: target, now: at('11:01:00') })
    const next = await checkAndRecordLoginAttempt(db.sql, { ip, email: target, now: at('11:01:31') })
    expect(next).toMatchObject({ allowed: false, limit: 'ip_email', firstRefusalInWindow: true })
  })

  it('bounds the rows a flood of distinct emails from one IP leaves: the budget, one marker, nothing per refusal', async () => {
    const ip = '192.0.2.200'
    const decisions = []
    for (let i = 0; i < 200; i++) decisions.push(await checkAndRecordLoginAttempt(db.sql, { ip, email: email(), now: at('12:00:00') }))
    expect(decisions.filter((d) => d.allowed)).toHaveLength(LOGIN_ATTEMPTS_PER_IP_PER_WINDOW)
    expect(decisions.filter((d) => !d.allowed && d.firstRefusalInWindow)).toHaveLength(1)
    const stored = (await db.sql<{ n: number }[]>`select count(*)::int as n from login_attempts where attempted_at = ${at('12:00:00')}`)[0]!.n
    // Each allowed attempt: its (ip, email) row and its ip row; the 170 refusals: one marker.
    expect(stored).toBe(2 * LOGIN_ATTEMPTS_PER_IP_PER_WINDOW + 1)

    // Rows that left the window are pruned by later attempts (a bounded batch each), markers included.
    for (let i = 0; i < 3; i++) await checkAndRecordLoginAttempt(db.sql, { ip: '192.0.2.201', email: email(), now: at('12:05:00') })
    const old = await db.sql`select 1 from login_attempts where attempted_at <= ${at('12:04:00')}`
    expect(old).toHaveLength(0)
  })

  it('lets exactly 30 of 60 concurrent attempts from one IP with distinct emails through', async () => {
    const ip = '203.0.113.230'
    const decisions = await Promise.all(
      Array.from({ length: 60 }, () => checkAndRecordLoginAttempt(db.sql, { ip, email: email(), now: at('13:00:00') })),
    )
    expect(decisions.filter((d) => d.allowed)).toHaveLength(LOGIN_ATTEMPTS_PER_IP_PER_WINDOW)
    expect(decisions.filter((d) => !d.allowed && d.firstRefusalInWindow)).toHaveLength(1)
  })
})
