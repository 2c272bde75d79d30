import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/** scrypt cost parameters: N (CPU/memory cost, a power of two), r (block size), p (parallelism). */
export interface ScryptParams {
  N: number
  r: number
  p: number
}

/**
 * The memory-hard default for stored operator passwords: OWASP's Password Storage Cheat Sheet recommends
 * scrypt with N=2^17, r=8, p=1 — 128 MiB of working memory and ~0.4 s of one core per hash here. Hashes
 * made with older parameters (N=2^15 before) still verify, and the first login that proves the password
 * replaces them (`needsRehash`, used by `authenticate`).
 * That cost is why login hashing runs behind a gate (`hashing-gate.ts`).
 */
export const defaultScryptParams: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 17, r: 8, p: 1 })

/** Cheap parameters for tests only (about a millisecond per hash); never use them for real passwords. */
export const cheapScryptParamsForTests: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 10, r: 8, p: 1 })

const SALT_BYTES = 16
const KEY_BYTES = 32

// Bounds on what a stored string may ask for: a corrupted or planted hash must not make a login allocate
// gigabytes or spin for minutes. The default (N·r = 2^20, 128 MiB) sits inside them, with room for one
// more doubling of N.
const MAX_N = 2 ** 21
const MAX_R = 32
const MAX_P = 16
const MAX_N_TIMES_R = 2 ** 21 // 256 MiB of working memory
const MAX_N_TIMES_R_TIMES_P = 2 ** 22 // CPU: 4 times the default
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

/** The `maxmem` a scrypt with these parameters is given: twice its working set plus 1 MiB. */
export function scryptMaxmem(params: ScryptParams): number {
  return 2 * 128 * params.r * (params.N + params.p + 2) + 1024 * 1024
}

/**
 * True when `stored` should be replaced by a fresh `hashPassword(password)` after a successful login:
 * it was made at a lower cost than `params` (e.g. before the default was raised to OWASP's N=2^17), or it
 * is not a hash this module can read. A hash made at a higher cost is kept. Call it only after `verifyPassword` answered true.
 */
export function needsRehash(stored: string, params: ScryptParams = defaultScryptParams): boolean {
  const parsed = parseStoredHash(stored)
  if (!parsed) return true
  // Only upwards: a deployment configured with a lower cost must not weaken the hashes it already has.
  return parsed.params.N < params.N || parsed.params.r < params.r || parsed.params.p < params.p || parsed.key.length < KEY_BYTES
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
  // Node (OpenSSL) refuses to run when its working set, 128·r·(N + p + 2) bytes, exceeds maxmem, whose
  // default is 32 MiB — a quarter of what the default N=2^17, r=8 needs. Allow the working set with room
  // (maxmem is a ceiling, not an allocation).
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: scryptMaxmem(params) }
  // NFKC so that the same password typed on different keyboards/platforms yields the same bytes (NIST SP 800-63B).
  const normalized = password.normalize('NFKC')
  return new Promise((resolve, reject) => {
    scrypt(normalized, salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)))
  })
}
