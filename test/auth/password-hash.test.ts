import { describe, expect, it } from 'vitest'
import {
  cheapScryptParamsForTests as cheap,
  defaultScryptParams,
  dummyVerify,
  hashPassword,
  needsRehash,
  verifyPassword,
} from '../../src/auth/password-hash.js'

describe('password hashing', () => {
  it('verifies the password it hashed and rejects another', async () => {
    const stored = await hashPassword('correct horse battery staple', cheap)
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true)
    expect(await verifyPassword('correct horse battery stapl', stored)).toBe(false)
    expect(await verifyPassword('', stored)).toBe(false)
  })

  it('stores a self-describing string that is not the password, with a fresh salt each time', async () => {
    const a = await hashPassword('s3cret-password', cheap)
    const b = await hashPassword('s3cret-password', cheap)
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/)
    expect(a).not.toContain('s3cret-password')
    expect(a.split('$')[4]).not.toBe(b.split('$')[4])
    expect(a).not.toBe(b)
  })

  it("uses OWASP's scrypt parameters N=2^17, r=8, p=1 unless told otherwise", async () => {
    expect(defaultScryptParams).toEqual({ N: 2 ** 17, r: 8, p: 1 })
    const stored = await hashPassword('default-cost password')
    expect(stored.startsWith('scrypt$131072$8$1$')).toBe(true)
    expect(await verifyPassword('default-cost password', stored)).toBe(true)
    expect(needsRehash(stored, defaultScryptParams)).toBe(false)
    expect(needsRehash(await hashPassword('x', cheap), defaultScryptParams)).toBe(true)
  })

  it('asks for a re-hash only upwards: a hash stronger than the configured cost is kept', async () => {
    const stronger = await hashPassword('x', { ...cheap, N: cheap.N * 4 })
    expect(needsRehash(stronger, cheap)).toBe(false)
    expect(needsRehash(await hashPassword('x', cheap), { ...cheap, N: cheap.N * 2 })).toBe(true)
    expect(needsRehash('not a hash', cheap)).toBe(true)
  })

  it('treats a Unicode password the same in composed and decomposed form', async () => {
    const stored = await hashPassword('caf\u00e9-passw0rd', cheap)
    expect(await verifyPassword('cafe\u0301-passw0rd', stored)).toBe(true)
  })

  it('answers false, without throwing, for malformed or out-of-bounds stored strings', async () => {
    const good = await hashPassword('pw', cheap)
    const [, , , , salt, key] = good.split('$')
    const malformed = [
      '',
      'pw',
      'scrypt',
      `bcrypt$1024$8$1$${salt}$${key}`,
      `scrypt$1000$8$1$${salt}$${key}`, // N not a power of two
      `scrypt$0$8$1$${salt}$${key}`,
      `scrypt$-1024$8$1$${salt}$${key}`,
      `scrypt$1073741824$8$1$${salt}$${key}`, // would need 1 TiB
      `scrypt$1024$8$1$${salt}`,
      `scrypt$1024$8$1$${salt}$${key}$extra`,
      `scrypt$1024$8$1$$${key}`,
      `scrypt$1024$8$1$${salt}$not*base64`,
      `scrypt$1024$8$1$${salt}$AAAA`, // a 3-byte key
      `scrypt$1e3$8$1$${salt}$${key}`,
    ]
    for (const stored of malformed) {
      await expect(verifyPassword('pw', stored), stored).resolves.toBe(false)
    }
    await expect(verifyPassword('pw', null as unknown as string)).resolves.toBe(false)
    expect(await verifyPassword('pw', good)).toBe(true)
  })

  it('dummyVerify always answers false', async () => {
    expect(await dummyVerify('anything', cheap)).toBe(false)
  })
})
