import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { allCapabilities, capabilities } from '../../src/auth/capabilities.js'
import {
  authenticate,
  authSchema,
  countOperators,
  createOperator,
  ensureBootstrapAdmin,
  findOperatorByEmail,
  findOperatorById,
  issueToken,
  OperatorEmailTakenError,
  resolveToken,
  revokeToken,
  TOKEN_PREFIX,
} from '../../src/auth/operator-store.js'
import { cheapScryptParamsForTests, needsRehash, verifyPassword } from '../../src/auth/password-hash.js'
import { connectPostgres, type Database } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { databaseFlavours } from '../support/databases.js'

const cheap = { hashParams: cheapScryptParamsForTests }
const lifecycle = 'platform.runbooks.findings.lifecycle_backfill'

describe.each(databaseFlavours())('operator store on $name', ({ name, open }) => {
  let db: Database

  beforeAll(async () => {
    db = await open()
    await applyMigrations(db.sql, [authSchema])
    await applyMigrations(db.sql, [authSchema]) // idempotent
  })
  afterAll(async () => {
    await db?.close()
  })

  async function newOperator(overrides: Partial<Parameters<typeof createOperator>[1]> = {}) {
    const email = overrides.email ?? `op-${Math.random().toString(36).slice(2)}@example.com`
    return createOperator(
      db.sql,
      { email, name: 'Olive Operator', password: 'a long enough password', capabilities: [capabilities.opsView], isBreakGlass: false, ...overrides },
      cheap,
    )
  }

  it('creates an operator with its capabilities and never exposes the password hash', async () => {
    const created = await newOperator({
      email: '  Ada.Lovelace@Example.COM ',
      capabilities: [capabilities.runbooksView, lifecycle],
      isBreakGlass: true,
    })
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/),
      email: 'ada.lovelace@example.com',
      name: 'Olive Operator',
      capabilities: [capabilities.runbooksView, lifecycle],
      isBreakGlass: true,
    })
    expect(await findOperatorByEmail(db.sql, 'ADA.LOVELACE@example.com')).toEqual(created)
    expect(await findOperatorById(db.sql, created.id)).toEqual(created)
    expect(JSON.stringify(created)).not.toMatch(/scrypt|password/i)
    const [row] = await db.sql<{ password_hash: string }[]>`select password_hash from operators where id = ${created.id}`
    expect(row!.password_hash).toMatch(/^scrypt\$/)
    expect(row!.password_hash).not.toContain('a long enough password')
  })

  it('stores an empty capability list', async () => {
    const created = await newOperator({ capabilities: [] })
    expect((await findOperatorById(db.sql, created.id))!.capabilities).toEqual([])
  })

  it('refuses a second operator with the same email, whatever its case', async () => {
    await newOperator({ email: 'twice@example.com' })
    await expect(newOperator({ email: 'TWICE@example.com' })).rejects.toBeInstanceOf(OperatorEmailTakenError)
  })

  it('refuses invalid new operators', async () => {
    await expect(newOperator({ email: 'not-an-email' })).rejects.toThrow(RangeError)
    await expect(newOperator({ name: '  ' })).rejects.toThrow(RangeError)
    await expect(newOperator({ password: '' })).rejects.toThrow(RangeError)
  })

  it('authenticates the right email and password only', async () => {
    const created = await newOperator({ email: 'grace@example.com', password: 'hopper-1906-cobol' })
    expect(await authenticate(db.sql, 'Grace@Example.com', 'hopper-1906-cobol', cheap)).toEqual(created)
    expect(await authenticate(db.sql, 'grace@example.com', 'hopper-1906-COBOL', cheap)).toBeNull()
    expect(await authenticate(db.sql, 'nobody@example.com', 'hopper-1906-cobol', cheap)).toBeNull()
  })

  it('upgrades a hash made at an older cost at the first login that proves the password, and only then', async () => {
    const created = await newOperator({ email: 'rehash@example.com', password: 'old-cost-password' })
    const storedHash = async () => (await db.sql<{ password_hash: string }[]>`select password_hash from operators where id = ${created.id}`)[0]!.password_hash
    const before = await storedHash()
    const raised = { hashParams: { ...cheapScryptParamsForTests, N: cheapScryptParamsForTests.N * 2 } }
    expect(needsRehash(before, raised.hashParams)).toBe(true)

    expect(await authenticate(db.sql, 'rehash@example.com', 'wrong password', raised)).toBeNull()
    expect(await storedHash()).toBe(before)

    expect(await authenticate(db.sql, 'rehash@example.com', 'old-cost-password', raised)).toEqual(created)
    const after = await storedHash()
    expect(after).not.toBe(before)
    expect(after.split('$').slice(0, 4)).toEqual(['scrypt', String(raised.hashParams.N), '8', '1'])
    expect(needsRehash(after, raised.hashParams)).toBe(false)
    expect(await verifyPassword('old-cost-password', after)).toBe(true)
    expect(await authenticate(db.sql, 'rehash@example.com', 'old-cost-password', raised)).toEqual(created)
    expect(await storedHash()).toBe(after)
  })

  it('never overwrites a password changed while the login that upgrades the old hash was under way', async ({ skip }) => {
    // Needs a second connection that holds the operator's row while the login reads it: PostgreSQL only.
    if (name !== 'PostgreSQL') skip()
    const created = await newOperator({ email: 'rehash-race@example.com', password: 'the-old-password' })
    const raised = { hashParams: { ...cheapScryptParamsForTests, N: cheapScryptParamsForTests.N * 2 } }
    const other = await connectPostgres(db.url, { max: 1 })
    try {
      let commitChange!: () => void
      const changeMayCommit = new Promise<void>((resolve) => (commitChange = resolve))
      let changed!: () => void
      const changeWritten = new Promise<void>((resolve) => (changed = resolve))
      // An administrator's password change, written but not committed: the login still reads the old hash,
      // verifies it, and its guarded upgrade then waits on the row until the change commits.
      const change = other.sql.begin(async (tx) => {
        await tx`update operators set password_hash = 'scrypt$changed-by-an-administrator' where id = ${created.id}`
        changed()
        await changeMayCommit
      })
      await changeWritten
      const login = authenticate(db.sql, 'rehash-race@example.com', 'the-old-password', raised)
      await waitUntilBlocked(db, created.id)
      commitChange()
      await change
      expect(await login).toEqual(created)
      const [row] = await db.sql<{ password_hash: string }[]>`select password_hash from operators where id = ${created.id}`
      expect(row!.password_hash).toBe('scrypt$changed-by-an-administrator')
    } finally {
      await other.close()
    }
  })

  it('returns null for an operator whose stored hash is corrupt', async () => {
    const created = await newOperator({ email: 'corrupt@example.com', password: 'whatever-it-was' })
    await db.sql`update operators set password_hash = 'scrypt$oops' where id = ${created.id}`
    expect(await authenticate(db.sql, 'corrupt@example.com', 'whatever-it-was', cheap)).toBeNull()
  })

  it('spends a real scrypt on an unknown email (default cost)', async () => {
    const started = performance.now()
    expect(await authenticate(db.sql, 'unknown-person@example.com', 'some password')).toBeNull()
    // scrypt with N=2^15, r=8 walks 32 MiB twice: no machine does it in 10 ms; a bare lookup takes ~1 ms.
    expect(performance.now() - started).toBeGreaterThan(10)
  })

  describe('tokens', () => {
    it('resolves an issued token to its operator until it expires', async () => {
      const operator = await newOperator()
      const issuedAt = new Date('2030-01-01T00:00:00Z')
      const token = await issueToken(db.sql, operator.id, 3600, issuedAt)
      expect(token).toMatch(new RegExp(`^${TOKEN_PREFIX}[A-Za-z0-9_-]{43}$`))
      expect(await resolveToken(db.sql, token, new Date('2030-01-01T00:59:59Z'))).toEqual(operator)
      expect(await resolveToken(db.sql, token, new Date('2030-01-01T01:00:00Z'))).toBeNull()
    })

    it('stores only the SHA-256 of the token', async () => {
      const operator = await newOperator()
      const token = await issueToken(db.sql, operator.id, 60)
      const rows = await db.sql<{ token_hash: string }[]>`select token_hash from api_tokens where operator_id = ${operator.id}`
      expect(rows).toHaveLength(1)
      expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/)
      const { createHash } = await import('node:crypto')
      expect(rows[0]!.token_hash).toBe(createHash('sha256').update(token).digest('hex'))
    })

    it('issues a different token each time', async () => {
      const operator = await newOperator()
      const a = await issueToken(db.sql, operator.id, 60)
      const b = await issueToken(db.sql, operator.id, 60)
      expect(a).not.toBe(b)
      expect(await resolveToken(db.sql, a)).toEqual(operator)
      expect(await resolveToken(db.sql, b)).toEqual(operator)
    })

    it('rejects unknown, tampered and malformed tokens', async () => {
      const operator = await newOperator()
      const token = await issueToken(db.sql, operator.id, 60)
      const last = token.at(-1) === 'A' ? 'B' : 'A'
      expect(await resolveToken(db.sql, token.slice(0, -1) + last)).toBeNull()
      expect(await resolveToken(db.sql, token + 'x')).toBeNull()
      expect(await resolveToken(db.sql, token.slice(TOKEN_PREFIX.length))).toBeNull()
      expect(await resolveToken(db.sql, `${TOKEN_PREFIX}${'A'.repeat(43)}`)).toBeNull()
      expect(await resolveToken(db.sql, '')).toBeNull()
      expect(await resolveToken(db.sql, `${TOKEN_PREFIX}${'A'.repeat(10_000)}`)).toBeNull()
      expect(await resolveToken(db.sql, token)).toEqual(operator)
    })

    it('revokes a token', async () => {
      const operator = await newOperator()
      const token = await issueToken(db.sql, operator.id, 60)
      expect(await revokeToken(db.sql, token)).toBe(true)
      expect(await resolveToken(db.sql, token)).toBeNull()
      expect(await revokeToken(db.sql, token)).toBe(false)
    })

    it('refuses a lifetime that is not positive', async () => {
      const operator = await newOperator()
      await expect(issueToken(db.sql, operator.id, 0)).rejects.toThrow(RangeError)
      await expect(issueToken(db.sql, operator.id, Number.NaN)).rejects.toThrow(RangeError)
    })
  })
})

describe.each(databaseFlavours())('bootstrap administrator on $name', ({ open }) => {
  let db: Database

  beforeAll(async () => {
    db = await open()
    await applyMigrations(db.sql, [authSchema])
  })
  afterAll(async () => {
    await db?.close()
  })

  it('does nothing without credentials', async () => {
    expect(await ensureBootstrapAdmin(db.sql, null, allCapabilities([lifecycle]), cheap)).toBe(false)
    expect(await countOperators(db.sql)).toBe(0)
  })

  it('creates the first operator with every capability, once only', async () => {
    const every = allCapabilities([lifecycle])
    const credentials = { email: 'Root@Example.com', password: 'bootstrap-password' }
    // Several processes starting together: exactly one creates it (different emails, so that only the
    // "no operator yet" rule, not the unique email, can stop the others).
    const created = await Promise.all([
      ensureBootstrapAdmin(db.sql, credentials, every, cheap),
      ...[1, 2, 3, 4].map((n) => ensureBootstrapAdmin(db.sql, { email: `racer-${n}@example.com`, password: 'racer-password' }, every, cheap)),
    ])
    expect(created.filter(Boolean)).toHaveLength(1)
    expect(await countOperators(db.sql)).toBe(1)
    expect(await ensureBootstrapAdmin(db.sql, { email: 'other@example.com', password: 'another-password' }, every, cheap)).toBe(false)
    expect(await countOperators(db.sql)).toBe(1)

    const [bootstrapped] = await db.sql<{ email: string }[]>`select email from operators`
    const admin = await authenticate(db.sql, bootstrapped!.email, bootstrapped!.email.startsWith('root') ? 'bootstrap-password' : 'racer-password', cheap)
    expect(admin).not.toBeNull()
    expect(admin!.capabilities).toEqual(every)
    expect(admin!.isBreakGlass).toBe(false)
    expect(await findOperatorByEmail(db.sql, 'other@example.com')).toBeNull()
  })

  it('never creates one once any operator exists', async () => {
    const other = await open()
    try {
      await applyMigrations(other.sql, [authSchema])
      await createOperator(other.sql, { email: 'first@example.com', name: 'First', password: 'pw-first', capabilities: [], isBreakGlass: false }, cheap)
      expect(await ensureBootstrapAdmin(other.sql, { email: 'root@example.com', password: 'pw-root' }, [capabilities.opsView], cheap)).toBe(false)
      expect(await countOperators(other.sql)).toBe(1)
    } finally {
      await other.close()
    }
  })
})

/** Resolves once a session waits for a lock on the operators table (the login's guarded update on the row). */
async function waitUntilBlocked(observer: Database, operatorId: string): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const waiting = await observer.sql<Array<{ n: number }>>`
      select count(*)::int as n from pg_stat_activity
      where wait_event_type = 'Lock' and query like 'update operators set password_hash%' and pid <> pg_backend_pid()`
    if (waiting[0]!.n > 0) return
    if (Date.now() > deadline) throw new Error(`no login waited on operator ${operatorId}'s row`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
