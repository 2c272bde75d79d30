import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FAILURE_MESSAGE_MAX, sanitizeFailureMessage } from '../../../src/commands/run/failure-message.js'

describe('sanitizeFailureMessage', () => {
  it('redacts connection strings with credentials', () => {
    const text = sanitizeFailureMessage('could not connect to postgres://repair:hunter2@db.internal:5432/platform (timeout)')
    expect(text).not.toMatch(/hunter2|repair:|db\.internal/)
    expect(text).toContain('could not connect to')
    expect(sanitizeFailureMessage('nats://svc:s3cr3t@nats:4222 refused')).not.toContain('s3cr3t')
  })

  it('redacts password=… and key: value secrets in their usual spellings', () => {
    for (const raw of [
      'auth failed host=db user=app password=hunter2 dbname=x',
      'auth failed password = hunter2',
      "pwd='hunter2' rejected",
      'secret: hunter2',
    ]) {
      const text = sanitizeFailureMessage(raw)
      expect(text, raw).not.toContain('hunter2')
      expect(text, raw).toMatch(/\[redacted\]/)
    }
  })

  it('redacts Bearer tokens, rcp_ API tokens, JWTs and long opaque keys', () => {
    expect(sanitizeFailureMessage('upstream said 401 for Bearer abc.def-123')).not.toContain('abc.def-123')
    expect(sanitizeFailureMessage('token rcp_9fJ2kLmN0pQ rejected')).not.toContain('rcp_9fJ2kLmN0pQ')
    expect(sanitizeFailureMessage('jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig expired')).not.toContain('eyJzdWIiOiIxIn0')
    expect(sanitizeFailureMessage(`key ${'A1b2'.repeat(10)} invalid`)).not.toContain('A1b2A1b2')
  })

  // BUG (reported): the key=value rule runs first and eats "Authorization: Bearer" as the key and its
  // value, so the token after it is left in clear (short tokens; ≥32 chars are caught by the opaque rule).
  it('redacts the token of an Authorization header', () => {
    expect(sanitizeFailureMessage('request failed: Authorization: Bearer abc.def-123')).not.toContain('abc.def-123')
  })

  // BUG (reported): `\bpassword` needs a word boundary before "password", so environment-style names
  // (PGPASSWORD, DB_PASSWORD, NATS_TOKEN) keep their value.
  it('redacts prefixed secret names such as PGPASSWORD and DB_PASSWORD', () => {
    expect(sanitizeFailureMessage('spawn failed: PGPASSWORD=hunter2')).not.toContain('hunter2')
    expect(sanitizeFailureMessage('bad env DB_PASSWORD=hunter2')).not.toContain('hunter2')
  })

  // BUG (reported): the key rule expects `=`/`:` right after the key, so a JSON key (`"password": "…"`),
  // which the rule's own comment says it covers, keeps its value: the closing quote sits in between.
  it('redacts secrets written as JSON keys', () => {
    expect(sanitizeFailureMessage('bad config {"password": "hunter2"}')).not.toContain('hunter2')
  })

  it('keeps the first line only, so no stack trace', () => {
    const error = new Error('relation "findings" does not exist')
    const text = sanitizeFailureMessage(error.stack!)
    expect(text).toBe('Error: relation "findings" does not exist')
    expect(sanitizeFailureMessage('\n\nboom\n    at f (/srv/app/x.js:1:2)\n    at g (/srv/app/y.js:3:4)')).toBe('boom')
    expect(sanitizeFailureMessage('boom    at Object.<anonymous> (/srv/app/x.js:1:1)')).toBe('boom')
  })

  it('removes control characters and never returns an empty message', () => {
    expect(sanitizeFailureMessage('a\u0000b\u0007c')).toBe('a b c')
    expect(sanitizeFailureMessage('')).toBe('no message')
    expect(sanitizeFailureMessage('  \n \n')).toBe('no message')
  })

  it('bounds the length', () => {
    const text = sanitizeFailureMessage('x '.repeat(5_000))
    expect(text.length).toBeLessThanOrEqual(FAILURE_MESSAGE_MAX)
    expect(text.endsWith('…')).toBe(true)
    expect(sanitizeFailureMessage('short')).toBe('short')
  })

  it('property: bounded, one line, and the embedded secret never survives', () => {
    const secret = fc.stringMatching(/^[A-Za-z0-9]{8,20}$/)
    const wrap = fc.constantFrom(
      (s: string) => `could not connect to postgres://app:${s}@db:5432/x`,
      (s: string) => `login failed password=${s} for user app`,
      (s: string) => `upstream 401 Bearer ${s}`,
      (s: string) => `token rcp_${s} revoked`,
    )
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), secret, wrap, fc.string({ maxLength: 400 }), (before, s, embed, after) => {
        const text = sanitizeFailureMessage(`${before.replace(/\s/g, '_')} ${embed(s)} ${after}`)
        expect(text.length).toBeLessThanOrEqual(FAILURE_MESSAGE_MAX)
        expect(text).not.toMatch(/[\r\n]/)
        expect(text).not.toContain(s)
      }),
      { numRuns: 500 },
    )
  })
})
