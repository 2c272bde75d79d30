import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  credentialsPath,
  DEFAULT_URL,
  deleteCredentials,
  normalizeBaseUrl,
  readCredentials,
  resolveConnection,
  saveCredentials,
  type StoredCredentials,
} from '../../src/cli/credentials.js'

const stored: StoredCredentials = {
  url: 'https://ops.example.test',
  email: 'op@example.test',
  token: 'rcp_stored-token',
  savedAt: '2025-06-02T09:00:00.000Z',
  expiresAt: null,
}

describe('which URL and token a command uses', () => {
  it('URL: --url, then $RCP_URL, then the logged-in URL, then localhost:8080', () => {
    expect(resolveConnection({ RCP_URL: 'http://env.test' }, 'http://flag.test/', stored).baseUrl).toBe('http://flag.test')
    expect(resolveConnection({ RCP_URL: 'http://env.test' }, undefined, stored).baseUrl).toBe('http://env.test')
    expect(resolveConnection({}, undefined, stored).baseUrl).toBe('https://ops.example.test')
    expect(resolveConnection({}, undefined, null).baseUrl).toBe(DEFAULT_URL)
  })

  it('$RCP_TOKEN overrides the stored token', () => {
    expect(resolveConnection({ RCP_TOKEN: 'rcp_env' }, undefined, stored)).toMatchObject({ token: 'rcp_env', tokenSource: 'RCP_TOKEN' })
    expect(resolveConnection({}, undefined, stored)).toMatchObject({ token: stored.token, tokenSource: 'credentials' })
  })

  it('never sends the stored token to another URL than the one that issued it', () => {
    expect(resolveConnection({}, 'https://ops.example.test/', stored).token).toBe(stored.token)
    expect(resolveConnection({}, 'https://evil.example.test', stored)).toMatchObject({ token: null, tokenSource: 'none' })
    expect(resolveConnection({ RCP_URL: 'http://ops.example.test' }, undefined, stored).token).toBeNull()
  })

  it('refuses URLs that are not plain http(s) base URLs', () => {
    expect(() => normalizeBaseUrl('localhost:8080')).toThrow(/http/)
    expect(() => normalizeBaseUrl('not a url')).toThrow(/not a URL/)
    expect(() => normalizeBaseUrl('https://user:secret@ops.example.test')).toThrow(/credentials/)
    expect(normalizeBaseUrl('https://ops.example.test/prefix/')).toBe('https://ops.example.test/prefix')
  })

  it('the credentials file: $RCP_CONFIG, else ~/.config/rcp/credentials.json', () => {
    expect(credentialsPath({ RCP_CONFIG: '/x/creds.json', HOME: '/home/op' })).toBe('/x/creds.json')
    expect(credentialsPath({ HOME: '/home/op' })).toBe('/home/op/.config/rcp/credentials.json')
  })
})

describe('the credentials file', () => {
  let folder: string
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'rcp-credentials-'))
  })
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true })
  })

  it('is written 0600 even over a world-readable file, and read back; no temporary file is left', async () => {
    const path = join(folder, 'nested', 'credentials.json')
    await saveCredentials(path, stored)
    await writeFile(path, '{}', { mode: 0o644 })
    await saveCredentials(path, stored)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await readCredentials(path)).toEqual(stored)
    expect(await readdir(join(folder, 'nested'))).toEqual(['credentials.json'])
  })

  it('a missing or corrupt file reads as no login; delete reports whether there was one', async () => {
    const path = join(folder, 'corrupt.json')
    expect(await readCredentials(path)).toBeNull()
    await writeFile(path, 'not json', { mode: 0o600 })
    expect(await readCredentials(path)).toBeNull()
    expect(await deleteCredentials(path)).toBe(true)
    expect(await deleteCredentials(path)).toBe(false)
    await expect(readFile(path)).rejects.toThrow(/ENOENT/)
  })
})
