import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Context } from 'hono'
import { HttpProblem } from '../problem.js'
import { readBodyBytes } from '../request-body.js'

/** Form field and header that carry the CSRF token. */
export const CSRF_FIELD = '_csrf'
export const CSRF_HEADER = 'x-csrf-token'

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/

export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url')
}

export function isWellFormedCsrfToken(token: string | undefined): token is string {
  return typeof token === 'string' && TOKEN_PATTERN.test(token)
}

/** Constant-time comparison (of digests, so lengths need not match); a missing token never matches. */
export function csrfTokensMatch(expected: string | undefined, given: string | undefined): boolean {
  if (!expected || !given) return false
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest()
  return timingSafeEqual(digest(expected), digest(given))
}

/**
 * Defence in depth beside the token: a browser's POST whose Origin names another host is refused. Only the
 * host is compared, since a TLS-terminating proxy makes the request URL http while the Origin is https.
 */
export function isCrossOriginRequest(c: Context): boolean {
  const origin = c.req.header('origin')
  if (origin === undefined) return false
  // "null" is an opaque origin (sandboxed frame, data: URL) — or our own form under a no-referrer policy,
  // which browsers also send as "null". Fetch metadata tells the two apart; without it, refuse.
  if (origin === 'null') return c.req.header('sec-fetch-site') !== 'same-origin'
  try {
    return new URL(origin).host !== new URL(c.req.url).host
  } catch {
    return true
  }
}

/** The token a request presents: the header (script requests) or the form field (form posts). */
export async function presentedCsrfToken(c: Context): Promise<string | undefined> {
  const header = c.req.header(CSRF_HEADER)
  if (header) return header
  const contentType = c.req.header('content-type') ?? ''
  if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(contentType)) return undefined
  const body = await readFormBody(c)
  const field = body[CSRF_FIELD]
  return typeof field === 'string' ? field : undefined
}

/** Requests whose body was read, bounded, into memory: parsing it again reads it from there. */
const boundedBodies = new WeakSet<Request>()

/**
 * The form body, read when a guard or handler first asks for it (after the session and capability checks),
 * at most MAX_BODY_BYTES (413 beyond), and parsed once per request. One that cannot be parsed (broken
 * multipart, no boundary) is the client's error, a 400.
 */
export async function readFormBody(c: Context): Promise<Record<string, string | File | (string | File)[]>> {
  if (!boundedBodies.has(c.req.raw)) {
    const bytes = await readBodyBytes(c)
    c.req.raw = new Request(c.req.raw, { body: bytes })
    boundedBodies.add(c.req.raw)
  }
  try {
    return await c.req.parseBody()
  } catch {
    throw new HttpProblem(400, 'the form body could not be read', { errors: [{ field: '(body)', message: 'malformed form data' }] })
  }
}
