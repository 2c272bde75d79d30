import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  describeFailure,
  FAILURE_MESSAGE_MAX,
  FALLBACK_MESSAGES,
  invalidSeverityMessage,
  KNOWN_DRIVER_CODES,
  KNOWN_SQLSTATES,
  sanitizeFailureMessage,
  SQLSTATE_CLASSES,
  tenantNotAllowedMessage,
  timesSeenOverflowMessage,
  dueDateOutOfRangeMessage,
  unsafeFindingMessage,
  WITHHELD_MESSAGE,
} from '../../../src/commands/run/failure-message.js'
import { failureReasonCodeSchema } from '../../../src/events/index.js'

/** Every message the allow-list can produce, one of each kind. */
const vocabulary = [
  ...Object.values(FALLBACK_MESSAGES),
  WITHHELD_MESSAGE,
  'no message',
  invalidSeverityMessage(573),
  unsafeFindingMessage(9_007_199_254_740_991),
  timesSeenOverflowMessage(4_001),
  dueDateOutOfRangeMessage(4_002),
  tenantNotAllowedMessage(12),
  ...Object.keys(KNOWN_SQLSTATES).map((code) => `database error SQLSTATE ${code}: ${KNOWN_SQLSTATES[code]}`),
  ...Object.keys(SQLSTATE_CLASSES).map((cls) => sanitizeFailureMessage(`SQLSTATE ${cls}ZZZ`)),
  ...Object.keys(KNOWN_DRIVER_CODES).map((code) => `connection error ${code}: ${KNOWN_DRIVER_CODES[code]}`),
]

describe('sanitizeFailureMessage (allow-list)', () => {
  it('keeps the INVALID_DATA sentence naming the finding id (SPEC §2), also behind an "Error: " prefix', () => {
    const sentence = 'finding 573 has a severity outside critical|high|medium|low|info; the tenant was not repaired'
    expect(sanitizeFailureMessage(sentence)).toBe(sentence)
    expect(sanitizeFailureMessage(`RunbookDataError: ${sentence}\n    at executeTenant (/srv/app/x.js:1:2)`)).toBe(sentence)
  })

  it('never copies free text: unknown errors become a fixed sentence', () => {
    for (const raw of [
      'could not connect to postgres://repair:hunter2@db.internal:5432/platform (timeout)',
      'relation "findings" does not exist',
      'boom',
      'a\u0000b\u0007c',
      `key ${'A1b2'.repeat(10)} invalid`,
    ]) {
      expect(sanitizeFailureMessage(raw), raw).toBe(WITHHELD_MESSAGE)
    }
  })

  it('drops the secrets the deny-list let through (issue 7)', () => {
    const leaks = [
      ["postgres://app:pa'ss@db:5432/x refused", "pa'ss"],
      ['auth failed password hunter2', 'hunter2'],
      ['bad config pass=hunter2', 'hunter2'],
      ['bad config pw=hunter2', 'hunter2'],
      ['bad config private_key=MIIEvQIBADANBg', 'MIIEvQIBADANBg'],
      ['ssl passphrase hunter2 rejected', 'hunter2'],
      ['Authorization: Basic YXBwOmh1bnRlcjI=', 'YXBwOmh1bnRlcjI'],
      ['connect to app:hunter2@db.internal:5432 failed', 'hunter2'],
      ['stripe key sk_live_4eC39HqLyjWDarjtT1zdp7dc rejected', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'],
      ['pass\u200bword=hunter2', 'hunter2'],
      ['pass\u0007word=hunter2', 'hunter2'],
      ['password＝hunter2', 'hunter2'],
    ] as const
    for (const [raw, secret] of leaks) {
      const text = sanitizeFailureMessage(raw)
      expect(text, raw).not.toContain(secret)
      expect(text, raw).toBe(WITHHELD_MESSAGE)
    }
  })

  it('keeps what is recognised: SQLSTATEs, driver codes and known server phrases, by their fixed description', () => {
    expect(sanitizeFailureMessage('error: deadlock detected (SQLSTATE 40P01) for user app password=x')).toBe(
      'database error SQLSTATE 40P01: deadlock detected',
    )
    expect(sanitizeFailureMessage('deadlock detected')).toBe('database error SQLSTATE 40P01: deadlock detected')
    expect(sanitizeFailureMessage("PostgresError: canceling statement due to statement timeout code: '57014'")).toBe(
      'database error SQLSTATE 57014: statement timeout (query canceled)',
    )
    expect(sanitizeFailureMessage('connect ECONNREFUSED 10.1.2.3:5432')).toBe('connection error ECONNREFUSED: connection refused')
    expect(sanitizeFailureMessage('write CONNECTION_CLOSED db.internal:5432')).toBe('connection error CONNECTION_CLOSED: connection closed')
    expect(sanitizeFailureMessage('password authentication failed for user "app"')).toBe(
      'database error SQLSTATE 28P01: authentication failed',
    )
  })

  it('takes a SQLSTATE out of free text only from the known table (5 characters are never copied blindly)', () => {
    expect(sanitizeFailureMessage('SQLSTATE 42ZZZ near password=abc')).toBe(WITHHELD_MESSAGE)
    expect(sanitizeFailureMessage('code=ABCDE')).toBe(WITHHELD_MESSAGE)
  })

  it('is idempotent: every sentence of the vocabulary comes back unchanged', () => {
    for (const sentence of vocabulary) {
      expect(sentence.length).toBeLessThanOrEqual(FAILURE_MESSAGE_MAX)
      expect(sanitizeFailureMessage(sentence), sentence).toBe(sentence)
    }
  })

  it('rejects look-alikes of the vocabulary with something appended or changed', () => {
    expect(sanitizeFailureMessage(`${invalidSeverityMessage(5)} password=hunter2`)).toBe(invalidSeverityMessage(5))
    expect(sanitizeFailureMessage('finding 5 has a severity outside hunter2')).toBe(WITHHELD_MESSAGE)
    expect(sanitizeFailureMessage('database error SQLSTATE 40P01: hunter2')).toBe('database error SQLSTATE 40P01: deadlock detected')
    expect(sanitizeFailureMessage('connection error ECONNRESET: hunter2@db')).toBe('connection error ECONNRESET: connection reset by peer')
    expect(sanitizeFailureMessage('connection error HUNTERTWO: x')).toBe(WITHHELD_MESSAGE)
  })

  it('keeps no stack trace, no control character, and never returns an empty message', () => {
    const error = new Error('relation "findings" does not exist')
    expect(sanitizeFailureMessage(error.stack!)).toBe(WITHHELD_MESSAGE)
    expect(sanitizeFailureMessage('')).toBe('no message')
    expect(sanitizeFailureMessage('  \n \n')).toBe('no message')
  })

  it('bounds the length', () => {
    expect(sanitizeFailureMessage('x '.repeat(5_000)).length).toBeLessThanOrEqual(FAILURE_MESSAGE_MAX)
  })

  it('property: any input gives a bounded, one-line sentence of the vocabulary, and sanitizing it again changes nothing', () => {
    const pieces = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.string({ maxLength: 60, unit: 'grapheme' }),
      fc.constantFrom(...vocabulary, 'SQLSTATE 40P01', 'ECONNRESET', 'deadlock detected', '\n', '\u200b', '＝', 'finding 12 '),
    )
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 8 }), (parts) => {
        const raw = parts.join(' ')
        const text = sanitizeFailureMessage(raw)
        expect(text.length).toBeLessThanOrEqual(FAILURE_MESSAGE_MAX)
        expect(text).not.toMatch(/[\p{Cc}\p{Cf}]/u)
        expect(sanitizeFailureMessage(text)).toBe(text)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('describeFailure', () => {
  it('names the finding id from the structured field, and keeps the severity sentence', () => {
    const sentence = invalidSeverityMessage(573)
    expect(describeFailure(Object.assign(new Error(sentence), { recordId: 573 }), 'INVALID_DATA')).toBe(sentence)
    // A text that does not match its own id is not trusted: only the id is.
    expect(describeFailure(Object.assign(new Error('finding 573 secret=hunter2'), { recordId: 573 }), 'INVALID_DATA')).toBe(
      unsafeFindingMessage(573),
    )
    expect(describeFailure(new Error('bad data password=hunter2'), 'INVALID_DATA')).toBe(FALLBACK_MESSAGES.INVALID_DATA)
  })

  it('keeps the times_seen overflow sentence of its own finding only', () => {
    const sentence = timesSeenOverflowMessage(4_001)
    expect(describeFailure(Object.assign(new Error(sentence), { recordId: 4_001 }), 'INVALID_DATA')).toBe(sentence)
    expect(describeFailure(Object.assign(new Error(sentence), { recordId: 4_002 }), 'INVALID_DATA')).toBe(unsafeFindingMessage(4_002))
  })

  it('for each reason code, falls back to its fixed sentence, which the sanitizer keeps', () => {
    for (const reasonCode of failureReasonCodeSchema.options) {
      const message = describeFailure(new Error('postgres://u:hunter2@h/db'), reasonCode)
      expect(message).toBe(FALLBACK_MESSAGES[reasonCode])
      expect(sanitizeFailureMessage(message)).toBe(message)
    }
  })
})
