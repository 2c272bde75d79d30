import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/** scrypt cost parameters: N (CPU/memory cost, a power of two), r (block size), p (parallelism). */
export interface ScryptParams {
  N: number
  r: number
  p: number
}

/** ~32 MiB and tens of milliseconds per hash: the memory-hard default for stored operator passwords. */
export const defaultScryptParams: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 15, r: 8, p: 1 })

/** Cheap parameters for tests only (about a millisecond per hash); never use them for real passwords. */
export const cheapScryptParamsForTests: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 10, r: 8, p: 1 })

const SALT_BYTES = 16
const KEY_BYTES = 32

// Bounds on what a stored string may ask for: a corrupted or planted hash must not make a login allocate
// gigabytes or spin for minutes. The default (N·r = 2^18, 32 MiB) sits well inside them.
const MAX_N = 2 ** 20
const MAX_R = 32
const MAX_P = 16
const MAX_N_TIMES_R = 2 ** 20 // 128 MiB of working memory
const MAX_N_TIMES_R_TIMES_P = 2 ** 22 // CPU: 16 times the default
const MAX_KEY_BYTES = 128
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** Hashes a password into a self-describing `scrypt$N$r$p$saltB64$hashB64` string. */
export async function hashPassword(password: string, params: ScryptParams = defaultScryptParams): Promise<string> {
  assertUsableParams(params)
  const salt = randomBytes(SALT_BYTES)
  const key = await deriveKey(password, salt, KEY_BYTES, params)
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), key.toString('base64')].join('$')
}

/**
 * True when `password` matches `stored`. Compares in constant time. A malformed, unsupported or
 * out-of-bounds stored string yields false, never an exception.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (typeof password !== 'string') return false
  const parsed = parseStoredHash(stored)
  if (!parsed) return false
  try {
    const key = await deriveKey(password, parsed.salt, parsed.key.length, parsed.params)
    return timingSafeEqual(key, parsed.key)
  } catch {
    return false
  }
}

const dummySalt = randomBytes(SALT_BYTES)
const dummyKey = randomBytes(KEY_BYTES)

/**
 * Spends what a real verification spends, then answers false: called when the email is unknown, so the
 * response time does not tell an attacker which emails have an operator behind them.
 */
export async function dummyVerify(password: string, params: ScryptParams = defaultScryptParams): Promise<false> {
  try {
    const key = await deriveKey(typeof password === 'string' ? password : '', dummySalt, KEY_BYTES, params)
    timingSafeEqual(key, dummyKey)
  } catch {
    // Nothing to report: the answer is false whatever happened.
  }
  return false
}

/** True when `stored` was made with other parameters than `params` (e.g. after the default cost was raised). */
export function needsRehash(stored: string, params: ScryptParams = defaultScryptParams): boolean {
  const parsed = parseStoredHash(stored)
  if (!parsed) return true
  return parsed.params.N !== params.N || parsed.params.r !== params.r || parsed.params.p !== params.p
}

interface ParsedHash {
  params: ScryptParams
  salt: Buffer
  key: Buffer
}

function parseStoredHash(stored: unknown): ParsedHash | null {
  if (typeof stored !== 'string') return null
  const parts = stored.split('$')
  if (parts.length !== 6) return null
  const [algorithm, n, r, p, saltB64, keyB64] = parts as [string, string, string, string, string, string]
  if (algorithm !== 'scrypt') return null
  const params = { N: parsePositiveInt(n), r: parsePositiveInt(r), p: parsePositiveInt(p) }
  if (!isUsable(params)) return null
  if (!BASE64.test(saltB64) || !BASE64.test(keyB64)) return null
  const salt = Buffer.from(saltB64, 'base64')
  const key = Buffer.from(keyB64, 'base64')
  if (salt.length === 0 || key.length < 16 || key.length > MAX_KEY_BYTES) return null
  return { params, salt, key }
}

function parsePositiveInt(text: string): number {
  return /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : 0
}

function isUsable(params: ScryptParams): boolean {
  const { N, r, p } = params
  return (
    Number.isInteger(N) && N >= 2 && N <= MAX_N && (N & (N - 1)) === 0 &&
    Number.isInteger(r) && r >= 1 && r <= MAX_R &&
    Number.isInteger(p) && p >= 1 && p <= MAX_P &&
    N * r <= MAX_N_TIMES_R && N * r * p <= MAX_N_TIMES_R_TIMES_P
  )
}

function assertUsableParams(params: ScryptParams): void {
  if (!isUsable(params)) throw new RangeError(`unsupported scrypt parameters N=${params.N} r=${params.r} p=${params.p}`)
}

function deriveKey(password: string, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
  // Node refuses to run when 128·N·r reaches maxmem (32 MiB by default, exactly what N=2^15, r=8 needs),
  // so allow twice the working set.
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 }
  // NFKC so that the same password typed on different keyboards/platforms yields the same bytes (NIST SP 800-63B).
  const normalized = password.normalize('NFKC')
  return new Promise((resolve, reject) => {
    scrypt(normalized, salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)))
  })
}
