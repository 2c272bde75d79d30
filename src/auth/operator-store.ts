import { advisoryLockKeys } from '../db/advisory-locks.js'
import { hash, randomBytes } from 'node:crypto'
import { ulid } from 'ulid'
import type { Sql, TransactionSql } from '../db/database.js'
import type { MigrationSet } from '../db/migrations.js'
import { hasEmailShape, normalizeEmail } from './email.js'
import { defaultScryptParams, dummyVerify, hashPassword, needsRehash, verifyPassword, type ScryptParams } from './password-hash.js'

/** An operator as the rest of the service sees it. The password hash never leaves this module. */
export interface Operator {
  id: string
  email: string
  name: string
  capabilities: string[]
  isBreakGlass: boolean
}

export interface NewOperator {
  email: string
  name: string
  password: string
  capabilities: string[]
  isBreakGlass: boolean
}

/** Hashing cost for the functions that hash or verify; tests pass `cheapScryptParamsForTests`. */
export interface PasswordHashingOptions {
  hashParams?: ScryptParams
}

export class OperatorEmailTakenError extends Error {
  constructor(readonly email: string) {
    super(`an operator with email ${email} already exists`)
    this.name = 'OperatorEmailTakenError'
  }
}

/**
 * v1 (baseline): exactly the statements every start applied before versioned migrations. Idempotent, so a
 * deployment the previous release created records v1 without a change. Never edit (its checksum is recorded).
 */
const authBaseline: readonly string[] = [
  `create table if not exists operators (
       id text primary key,
       email text not null unique check (email = lower(email)),
       name text not null,
       password_hash text not null,
       capabilities text[] not null default '{}',
       is_break_glass boolean not null default false,
       created_at timestamptz not null default now())`,
  // Only the SHA-256 of a token is stored: a leaked table does not hand out working credentials, and a
  // token has 256 random bits, so an unsalted fast hash is enough (unlike a password).
  `create table if not exists api_tokens (
       token_hash text primary key,
       operator_id text not null references operators(id) on delete cascade,
       created_at timestamptz not null default now(),
       expires_at timestamptz not null)`,
  `create index if not exists api_tokens_expires_at_idx on api_tokens (expires_at)`,
  `create table if not exists login_attempts (
       key text not null,
       attempted_at timestamptz not null)`,
  `create index if not exists login_attempts_key_attempted_at_idx on login_attempts (key, attempted_at)`,
  `create index if not exists login_attempts_attempted_at_idx on login_attempts (attempted_at)`,
  // SPEC §10: a disabled operator keeps their row (and their history) but no credential of theirs works.
  `alter table operators add column if not exists disabled_at timestamptz null`,
  `alter table operators add column if not exists last_login_at timestamptz null`,
]

export const authSchema: MigrationSet = {
  owner: 'auth',
  migrations: [{ version: 1, name: 'baseline', statements: authBaseline }],
}

/**
 * The channel credential changes are announced on, with the operator's id: every write here that can end
 * or narrow an operator's access NOTIFYs it in its own transaction, so every API process's credential cache
 * (src/auth/credential-cache.ts) hears of it when, and only if, it commits.
 */
export const CREDENTIALS_CHANNEL = 'rcp_credentials'

async function announceCredentialChange(sql: Sql | TransactionSql, operatorId: string): Promise<void> {
  await sql`select pg_notify(${CREDENTIALS_CHANNEL}, ${operatorId})`
}

/** Prefix of every API token, so a leaked one is recognisable (secret scanners, logs). */
export const TOKEN_PREFIX = 'rcp_'
const TOKEN_RANDOM_BYTES = 32
// 'rcp_' + 43 base64url characters; anything much longer is not ours and is not worth hashing.
const MAX_TOKEN_LENGTH = 128

const BOOTSTRAP_LOCK_KEY = advisoryLockKeys.bootstrapAdmin

interface OperatorRow {
  id: string
  email: string
  name: string
  capabilities: string[]
  is_break_glass: boolean
}

const operatorColumns = 'id, email, name, capabilities, is_break_glass'

function toOperator(row: OperatorRow): Operator {
  return { id: row.id, email: row.email, name: row.name, capabilities: [...row.capabilities], isBreakGlass: row.is_break_glass }
}

export async function createOperator(sql: Sql, operator: NewOperator, options: PasswordHashingOptions = {}): Promise<Operator> {
  const fields = validateNewOperator(operator)
  const passwordHash = await hashPassword(operator.password, options.hashParams ?? defaultScryptParams)
  return insertOperator(sql, { ...fields, passwordHash })
}

export async function findOperatorByEmail(sql: Sql, email: string): Promise<Operator | null> {
  const rows = await sql.unsafe<OperatorRow[]>(`select ${operatorColumns} from operators where email = $1`, [normalizeEmail(email)])
  return rows[0] ? toOperator(rows[0]) : null
}

/** The enabled operator with this id (a disabled one is nobody to authenticate as). */
export async function findOperatorById(sql: Sql, id: string): Promise<Operator | null> {
  const rows = await sql.unsafe<OperatorRow[]>(`select ${operatorColumns} from operators where id = $1 and disabled_at is null`, [id])
  return rows[0] ? toOperator(rows[0]) : null
}

export async function countOperators(sql: Sql): Promise<number> {
  const [row] = await sql<{ count: number }[]>`select count(*)::int as count from operators`
  return row?.count ?? 0
}

/**
 * The operator whose email and password match, or null. An unknown email still costs one scrypt
 * (`dummyVerify`), so timing does not reveal which emails exist. Rate limiting is the caller's job
 * (`checkAndRecordLoginAttempt`), done before calling this.
 */
export async function authenticate(sql: Sql, email: string, password: string, options: PasswordHashingOptions = {}): Promise<Operator | null> {
  const params = options.hashParams ?? defaultScryptParams
  if (typeof email !== 'string' || typeof password !== 'string') {
    await dummyVerify('', params)
    return null
  }
  const rows = await sql.unsafe<(OperatorRow & { password_hash: string })[]>(
    `select ${operatorColumns}, password_hash from operators where email = $1 and disabled_at is null`,
    [normalizeEmail(email)],
  )
  const row = rows[0]
  if (!row) {
    await dummyVerify(password, params)
    return null
  }
  if (!(await verifyPassword(password, row.password_hash))) return null
  if (needsRehash(row.password_hash, params)) {
    // A hash made at an older cost (or another shape) is replaced at the first login that proves the
    // password, the only moment the plain password is at hand. The guard on the old hash keeps a password
    // changed meanwhile (by its owner or an administrator) from being overwritten with this one.
    const upgraded = await hashPassword(password, params)
    await sql`update operators set password_hash = ${upgraded}, last_login_at = now() where id = ${row.id} and password_hash = ${row.password_hash}`
  } else {
    await sql`update operators set last_login_at = now() where id = ${row.id}`
  }
  return toOperator(row)
}

/** Whether `password` is the operator's current one (a password change proves knowledge of the old). */
export async function verifyOperatorPassword(sql: Sql, operatorId: string, password: string): Promise<boolean> {
  const [row] = await sql<Array<{ password_hash: string }>>`select password_hash from operators where id = ${operatorId} and disabled_at is null`
  if (!row) return false
  return verifyPassword(password, row.password_hash)
}

/**
 * Issues an opaque bearer token for the operator, valid `ttlSeconds` from `now`. Only its SHA-256 is
 * stored; the token itself is returned once and cannot be recovered. Expired tokens are pruned on the way.
 */
export async function issueToken(sql: Sql, operatorId: string, ttlSeconds: number, now: Date = new Date()): Promise<string> {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new RangeError(`token lifetime must be positive, got ${ttlSeconds}`)
  const token = TOKEN_PREFIX + randomBytes(TOKEN_RANDOM_BYTES).toString('base64url')
  const expiresAt = new Date(now.getTime() + ttlSeconds * 1000)
  await sql`delete from api_tokens where expires_at <= ${now}`
  await sql`insert into api_tokens (token_hash, operator_id, created_at, expires_at)
            values (${hashToken(token)}, ${operatorId}, ${now}, ${expiresAt})`
  return token
}

/** The operator a token belongs to, or null when the token is unknown, malformed or expired at `now`. */
export async function resolveToken(sql: Sql, token: string, now: Date = new Date()): Promise<Operator | null> {
  const hash = tokenHashOf(token)
  return hash === null ? null : ((await lookupToken(sql, hash, now))?.operator ?? null)
}

/** The stored hash of a token, or null for what cannot be one of ours (not worth a lookup). */
export function tokenHashOf(token: string): string | null {
  if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX) || token.length > MAX_TOKEN_LENGTH) return null
  return hashToken(token)
}

const tokenLookup = `select ${operatorColumns.split(', ').map((column) => `o.${column}`).join(', ')}, t.expires_at
       from api_tokens t join operators o on o.id = t.operator_id
      where t.token_hash = $1 and t.expires_at > $2 and o.disabled_at is null`

/** The enabled operator behind a token hash, with the token's expiry; null when unknown or expired at `now`. */
export async function lookupToken(sql: Sql, tokenHash: string, now: Date): Promise<{ operator: Operator; expiresAt: Date } | null> {
  const rows = await sql.unsafe<(OperatorRow & { expires_at: Date })[]>(tokenLookup, [tokenHash, now], { prepare: true })
  return rows[0] ? { operator: toOperator(rows[0]), expiresAt: rows[0].expires_at } : null
}

/** Ends a token before its expiry (logout). Returns whether a token was revoked. */
export async function revokeToken(sql: Sql, token: string): Promise<boolean> {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return false
  return sql.begin(async (tx) => {
    const rows = await tx<Array<{ operator_id: string }>>`delete from api_tokens where token_hash = ${hashToken(token)} returning operator_id`
    for (const row of rows) await announceCredentialChange(tx, row.operator_id)
    return rows.length > 0
  })
}

/** An operator as administration sees it (SPEC §10 `GET /api/operators`): never a hash or a token. */
export interface OperatorRecord extends Operator {
  disabled: boolean
  createdAt: string
  lastLoginAt: string | null
}

interface OperatorRecordRow extends OperatorRow {
  disabled_at: Date | null
  created_at: Date
  last_login_at: Date | null
}

const recordColumns = `${operatorColumns}, disabled_at, created_at, last_login_at`

function toRecord(row: OperatorRecordRow): OperatorRecord {
  return {
    ...toOperator(row),
    disabled: row.disabled_at !== null,
    createdAt: row.created_at.toISOString(),
    lastLoginAt: row.last_login_at?.toISOString() ?? null,
  }
}

export async function listOperatorRecords(sql: Sql): Promise<OperatorRecord[]> {
  const rows = await sql.unsafe<OperatorRecordRow[]>(`select ${recordColumns} from operators order by created_at, id`)
  return rows.map(toRecord)
}

export async function findOperatorRecord(sql: Sql | TransactionSql, id: string, options: { forUpdate?: boolean } = {}): Promise<OperatorRecord | null> {
  const lock = options.forUpdate ? ' for update' : ''
  const rows = await sql.unsafe<OperatorRecordRow[]>(`select ${recordColumns} from operators where id = $1${lock}`, [id])
  return rows[0] ? toRecord(rows[0]) : null
}

/** Enabled operators holding `capability`, other than `exceptId`. */
export async function countEnabledHolders(sql: Sql | TransactionSql, capability: string, exceptId: string): Promise<number> {
  const [row] = await sql<Array<{ count: number }>>`
    select count(*)::int as count from operators
    where disabled_at is null and ${capability} = any(capabilities) and id <> ${exceptId}`
  return row?.count ?? 0
}

/** Inserts an operator whose fields were checked by the command side. */
export async function insertOperatorRecord(
  tx: TransactionSql,
  fields: { id: string; email: string; name: string; capabilities: string[]; isBreakGlass: boolean; passwordHash: string },
): Promise<void> {
  try {
    await tx`
      insert into operators (id, email, name, password_hash, capabilities, is_break_glass)
      values (${fields.id}, ${normalizeEmail(fields.email)}, ${fields.name}, ${fields.passwordHash}, ${fields.capabilities}::text[], ${fields.isBreakGlass})`
  } catch (error) {
    if ((error as { code?: string }).code === '23505') throw new OperatorEmailTakenError(fields.email)
    throw error
  }
}

export async function updateOperatorRecord(
  tx: TransactionSql,
  id: string,
  fields: { name: string; capabilities: string[]; isBreakGlass: boolean; disabled: boolean },
): Promise<void> {
  await tx`
    update operators set name = ${fields.name}, capabilities = ${fields.capabilities}::text[], is_break_glass = ${fields.isBreakGlass},
      disabled_at = case when ${fields.disabled} then coalesce(disabled_at, now()) else null end
    where id = ${id}`
  await announceCredentialChange(tx, id)
}

export async function setPasswordHash(tx: TransactionSql, id: string, passwordHash: string): Promise<void> {
  await tx`update operators set password_hash = ${passwordHash} where id = ${id}`
  await announceCredentialChange(tx, id)
}

/** Ends every API token and console session of the operator (SPEC §10: their next request is 401). */
export async function revokeCredentials(tx: TransactionSql, operatorId: string): Promise<void> {
  await tx`delete from api_tokens where operator_id = ${operatorId}`
  await tx`delete from console_sessions where operator_id = ${operatorId}`
  await announceCredentialChange(tx, operatorId)
}

/**
 * Creates the first operator, holding every capability, from the bootstrap credentials (SPEC §6:
 * `OPS_BOOTSTRAP_ADMIN_EMAIL` / `OPS_BOOTSTRAP_ADMIN_PASSWORD`), and only while no operator exists — also
 * when several processes start at once. Returns whether it created one. The bootstrap operator is not a
 * break-glass operator: it is the regular first administrator.
 */
export async function ensureBootstrapAdmin(
  sql: Sql,
  credentials: { email: string; password: string } | null,
  everyCapability: readonly string[],
  options: PasswordHashingOptions = {},
): Promise<boolean> {
  if (!credentials) return false
  if ((await countOperators(sql)) > 0) return false
  const fields = validateNewOperator({
    email: credentials.email,
    name: 'Bootstrap administrator',
    password: credentials.password,
    capabilities: [...everyCapability],
    isBreakGlass: false,
  })
  // Hash before the transaction: on the embedded database a transaction holds the only connection.
  const passwordHash = await hashPassword(credentials.password, options.hashParams ?? defaultScryptParams)
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK_KEY})`
    const [row] = await tx<{ count: number }[]>`select count(*)::int as count from operators`
    if ((row?.count ?? 0) > 0) return false
    await insertOperator(tx, { ...fields, passwordHash })
    return true
  })
}

// The one-shot `hash` (Node ≥ 20.12; the engines field asks ≥ 20.19): no Hash object per request (issue 11).
function hashToken(token: string): string {
  return hash('sha256', token, 'hex')
}

type OperatorFields = Omit<NewOperator, 'password'>

function validateNewOperator(operator: NewOperator): OperatorFields {
  const email = normalizeEmail(operator.email)
  if (!hasEmailShape(email)) throw new RangeError('operator email must look like name@domain')
  const name = operator.name.trim()
  if (name.length === 0) throw new RangeError('operator name must not be empty')
  if (operator.password.length === 0) throw new RangeError('operator password must not be empty')
  return { email, name, capabilities: [...new Set(operator.capabilities)], isBreakGlass: operator.isBreakGlass }
}

async function insertOperator(sql: Sql | TransactionSql, fields: OperatorFields & { passwordHash: string }): Promise<Operator> {
  try {
    const rows = await sql.unsafe<OperatorRow[]>(
      `insert into operators (id, email, name, password_hash, capabilities, is_break_glass)
       values ($1, $2, $3, $4, $5::text[], $6)
       returning ${operatorColumns}`,
      [ulid(), fields.email, fields.name, fields.passwordHash, fields.capabilities, fields.isBreakGlass],
    )
    return toOperator(rows[0]!)
  } catch (error) {
    if ((error as { code?: string }).code === '23505') throw new OperatorEmailTakenError(fields.email)
    throw error
  }
}
