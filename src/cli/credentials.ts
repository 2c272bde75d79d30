import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { UsageError } from './exit-codes.js'

/**
 * Where the CLI keeps its API token between commands, and which token and URL a command uses.
 * The file holds a bearer token, so it is written owner-only (0600, in a 0700 folder) and atomically
 * (a temporary file renamed over it), so a crash never leaves a half-written or world-readable token.
 */

export interface StoredCredentials {
  /** The base URL the token was issued by; the token is only ever sent there. */
  url: string
  email: string
  token: string
  savedAt: string
  /** When the token stops working, if the service said (ISO-8601). */
  expiresAt: string | null
}

export const DEFAULT_URL = 'http://localhost:8080'

export function credentialsPath(env: Record<string, string | undefined>): string {
  if (env.RCP_CONFIG) return env.RCP_CONFIG
  return join(env.HOME || homedir(), '.config', 'rcp', 'credentials.json')
}

/** The stored credentials, or null when there are none or the file is not ours to read. */
export async function readCredentials(path: string): Promise<StoredCredentials | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    // Missing, a directory, not readable: no stored login. `rcp login` writes a fresh file (or says why not).
    return null
  }
  try {
    const parsed = JSON.parse(text) as Partial<StoredCredentials>
    if (typeof parsed.url !== 'string' || typeof parsed.token !== 'string') return null
    return {
      url: parsed.url,
      token: parsed.token,
      email: typeof parsed.email === 'string' ? parsed.email : '',
      savedAt: typeof parsed.savedAt === 'string' ? parsed.savedAt : '',
      expiresAt: typeof parsed.expiresAt === 'string' ? parsed.expiresAt : null,
    }
  } catch {
    // A corrupt file is as good as no login: the next `rcp login` overwrites it.
    return null
  }
}

export async function saveCredentials(path: string, credentials: StoredCredentials): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeFile(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
    // The umask cannot widen 0600, but a chmod states the intent whatever the platform did.
    await chmod(temporary, 0o600)
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
}

/** Removes the stored credentials; false when there were none. */
export async function deleteCredentials(path: string): Promise<boolean> {
  try {
    await rm(path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

/** `http(s)://host[:port][/prefix]` without a trailing slash; anything else is a usage error. */
export function normalizeBaseUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`--url: "${text}" is not a URL (expected e.g. ${DEFAULT_URL})`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--url: must be an http:// or https:// URL')
  if (url.username || url.password) throw new UsageError('--url: must not carry credentials; use `rcp login`')
  if (url.search || url.hash) throw new UsageError('--url: must not carry a query or fragment')
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

export type TokenSource = 'RCP_TOKEN' | 'credentials' | 'none'

export interface Connection {
  baseUrl: string
  token: string | null
  tokenSource: TokenSource
}

/**
 * The URL: `--url`, else `$RCP_URL`, else the URL of the stored login, else http://localhost:8080.
 * The token: `$RCP_TOKEN`, else the stored token — but only for the URL it was issued by, so pointing the
 * CLI at another server never hands it this one's token.
 */
export function resolveConnection(
  env: Record<string, string | undefined>,
  urlOption: string | undefined,
  stored: StoredCredentials | null,
): Connection {
  const baseUrl = normalizeBaseUrl(urlOption || env.RCP_URL || stored?.url || DEFAULT_URL)
  if (env.RCP_TOKEN) return { baseUrl, token: env.RCP_TOKEN, tokenSource: 'RCP_TOKEN' }
  if (stored && sameBaseUrl(stored.url, baseUrl)) return { baseUrl, token: stored.token, tokenSource: 'credentials' }
  return { baseUrl, token: null, tokenSource: 'none' }
}

function sameBaseUrl(a: string, b: string): boolean {
  try {
    return normalizeBaseUrl(a) === normalizeBaseUrl(b)
  } catch {
    return false
  }
}
