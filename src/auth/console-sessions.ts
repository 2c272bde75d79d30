import { createHash, randomBytes } from 'node:crypto'
import type { Sql } from '../db/database.js'
import type { MigrationSet } from '../db/migrations.js'
import { findOperatorById, type Operator } from './operator-store.js'

/**
 * v1 (baseline): exactly the statements every start applied before versioned migrations. Idempotent, so a
 * deployment the previous release created records v1 without a change. Never edit (its checksum is recorded).
 */
const consoleSessionBaseline: readonly string[] = [
  `create table if not exists console_sessions (
       id_hash text primary key,
       operator_id text not null references operators(id) on delete cascade,
       csrf_token text not null,
       created_at timestamptz not null,
       expires_at timestamptz not null,
       last_seen_at timestamptz not null)`,
  `create index if not exists console_sessions_expires_at_idx on console_sessions (expires_at)`,
]

/**
 * Server-side sessions of the operator console (SPEC §6). The browser holds a random 32-byte id; only its
 * SHA-256 is stored, so a leaked table hands out no working session. Each session carries its own CSRF
 * token (synchronizer token) for the console's forms and script requests.
 */
export const consoleSessionSchema: MigrationSet = {
  owner: 'console-sessions',
  migrations: [{ version: 1, name: 'baseline', statements: consoleSessionBaseline }],
}

/** How long a session may live at most, and how long it survives without a request. */
export interface ConsoleSessionLifetime {
  absoluteSeconds: number
  idleSeconds: number
}

export const defaultConsoleSessionLifetime: ConsoleSessionLifetime = { absoluteSeconds: 8 * 3600, idleSeconds: 30 * 60 }

export interface NewConsoleSession {
  /** The cookie value: shown once, never stored. */
  id: string
  csrfToken: string
  expiresAt: Date
}

export interface ConsoleSession {
  /** The stored hash of the cookie value: names the session in this process (e.g. its live streams) without the secret. */
  idHash: string
  operator: Operator
  csrfToken: string
  expiresAt: Date
}

const SESSION_ID_BYTES = 32
// base64url of 32 bytes is 43 characters; anything else is not one of ours and is not worth hashing.
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/
/** `last_seen_at` is written at most this often, so page views do not each cost a write. */
const TOUCH_EVERY_MS = 60_000

/** A new session for the operator (called at every login, so the id always changes). Expired sessions are pruned. */
export async function createConsoleSession(
  sql: Sql,
  operatorId: string,
  options: { now?: Date; lifetime?: ConsoleSessionLifetime } = {},
): Promise<NewConsoleSession> {
  const now = options.now ?? new Date()
  const lifetime = options.lifetime ?? defaultConsoleSessionLifetime
  const id = randomBytes(SESSION_ID_BYTES).toString('base64url')
  const csrfToken = randomBytes(32).toString('base64url')
  const expiresAt = new Date(now.getTime() + lifetime.absoluteSeconds * 1000)
  await sql`delete from console_sessions where expires_at <= ${now}`
  await sql`insert into console_sessions (id_hash, operator_id, csrf_token, created_at, expires_at, last_seen_at)
            values (${hashSessionId(id)}, ${operatorId}, ${csrfToken}, ${now}, ${expiresAt}, ${now})`
  return { id, csrfToken, expiresAt }
}

/**
 * The session behind a cookie value, or null when it is unknown, malformed, past its absolute expiry or
 * idle for longer than allowed. The operator is read afresh, so capability changes apply at once.
 */
export async function resolveConsoleSession(
  sql: Sql,
  id: string | undefined,
  options: { now?: Date; lifetime?: ConsoleSessionLifetime } = {},
): Promise<ConsoleSession | null> {
  if (typeof id !== 'string' || !SESSION_ID_PATTERN.test(id)) return null
  const now = options.now ?? new Date()
  const lifetime = options.lifetime ?? defaultConsoleSessionLifetime
  const idHash = hashSessionId(id)
  const idleSince = new Date(now.getTime() - lifetime.idleSeconds * 1000)
  const [row] = await sql<{ operator_id: string; csrf_token: string; expires_at: Date; last_seen_at: Date }[]>`
    select operator_id, csrf_token, expires_at, last_seen_at from console_sessions
     where id_hash = ${idHash} and expires_at > ${now} and last_seen_at > ${idleSince}`
  if (!row) return null
  const operator = await findOperatorById(sql, row.operator_id)
  if (!operator) return null
  if (now.getTime() - row.last_seen_at.getTime() >= TOUCH_EVERY_MS) {
    await sql`update console_sessions set last_seen_at = ${now} where id_hash = ${idHash}`
  }
  return { idHash, operator, csrfToken: row.csrf_token, expiresAt: row.expires_at }
}

/** Ends a session (logout). Returns whether there was one. */
export async function destroyConsoleSession(sql: Sql, id: string | undefined): Promise<boolean> {
  if (typeof id !== 'string' || !SESSION_ID_PATTERN.test(id)) return false
  const rows = await sql`delete from console_sessions where id_hash = ${hashSessionId(id)} returning 1`
  return rows.length > 0
}

export function hashSessionId(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex')
}
