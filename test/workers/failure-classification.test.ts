import { describe, expect, it } from 'vitest'
import { invalidSeverityMessage, sanitizeFailureMessage } from '../../src/commands/run/failure-message.js'
import { KNOWN_SEVERITIES } from '../../src/runbooks/findings-vocabulary.js'
import { RunbookDataError } from '../../src/runbooks/runbook.js'
import { classifyFailure, TenantNotAllowedError } from '../../src/workers/failure-classification.js'

/** A driver error as postgres.js raises it: the server's text (which may quote anything) and a code. */
const driverError = (code: string, text = 'postgres://app:hunter2@db.internal:5432/platform password=hunter2') =>
  Object.assign(new Error(`${text}\n    at Connection.parseE (/srv/node_modules/postgres/src/connection.js:1:1)`), { code })

describe('classifyFailure: known codes → reason code and fixed message', () => {
  const table: Array<[code: string, reasonCode: string, transient: boolean, message: string]> = [
    ['40P01', 'DB_ERROR', true, 'database error SQLSTATE 40P01: deadlock detected'],
    ['40001', 'DB_ERROR', true, 'database error SQLSTATE 40001: serialization failure'],
    ['55P03', 'TENANT_LOCKED', true, 'the tenant is being repaired by another run'],
    ['57014', 'TIMEOUT', true, 'the tenant repair exceeded its statement timeout'],
    ['08006', 'DB_ERROR', true, 'database error SQLSTATE 08006: connection failure'],
    ['08001', 'DB_ERROR', true, 'database error SQLSTATE 08001: the client could not establish the connection'],
    ['57P01', 'DB_ERROR', true, 'database error SQLSTATE 57P01: the server is shutting down (admin shutdown)'],
    ['53300', 'DB_ERROR', true, 'database error SQLSTATE 53300: too many connections'],
    ['28P01', 'DB_ERROR', true, 'database error SQLSTATE 28P01: authentication failed'],
    ['42P01', 'DB_ERROR', true, 'database error SQLSTATE 42P01: undefined table'],
    ['23505', 'DB_ERROR', true, 'database error SQLSTATE 23505: unique violation'],
    ['22P02', 'DB_ERROR', true, 'database error SQLSTATE 22P02: invalid text representation'],
    ['XX000', 'DB_ERROR', true, 'database error SQLSTATE XX000: internal error'],
    // Codes outside the table are described by their class.
    ['40003', 'DB_ERROR', true, 'database error SQLSTATE 40003: transaction rollback'],
    ['22P05', 'DB_ERROR', true, 'database error SQLSTATE 22P05: data exception'],
    ['08P99', 'DB_ERROR', true, 'database error SQLSTATE 08P99: connection exception'],
    // A well-formed code of no known class: still a database error, with nothing of it copied.
    ['ZZ999', 'DB_ERROR', true, 'database error (details withheld)'],
    ['ECONNRESET', 'DB_ERROR', true, 'connection error ECONNRESET: connection reset by peer'],
    ['ECONNREFUSED', 'DB_ERROR', true, 'connection error ECONNREFUSED: connection refused'],
    ['ETIMEDOUT', 'DB_ERROR', true, 'connection error ETIMEDOUT: connection timed out'],
    ['EPIPE', 'DB_ERROR', true, 'connection error EPIPE: broken pipe'],
    ['ENOTFOUND', 'DB_ERROR', true, 'connection error ENOTFOUND: host name not found'],
    ['EHOSTUNREACH', 'DB_ERROR', true, 'connection error EHOSTUNREACH: host unreachable'],
    ['CONNECTION_CLOSED', 'DB_ERROR', true, 'connection error CONNECTION_CLOSED: connection closed'],
    ['CONNECTION_ENDED', 'DB_ERROR', true, 'connection error CONNECTION_ENDED: connection ended'],
    ['CONNECTION_DESTROYED', 'DB_ERROR', true, 'connection error CONNECTION_DESTROYED: connection destroyed'],
    ['CONNECT_TIMEOUT', 'DB_ERROR', true, 'connection error CONNECT_TIMEOUT: connection timeout'],
    // Codes the tables do not know: an unexpected error, with nothing of it copied.
    ['ERR_INVALID_ARG_TYPE', 'UNKNOWN', true, 'unexpected error (details withheld)'],
    ['hunter2', 'UNKNOWN', true, 'unexpected error (details withheld)'],
  ]

  it.each(table)('%s → %s: %s', (code, reasonCode, transient, message) => {
    const failure = classifyFailure(driverError(code))
    expect(failure).toEqual({ reasonCode, transient, message })
    // The decider sanitizes again what the worker stored: unchanged.
    expect(sanitizeFailureMessage(failure.message)).toBe(failure.message)
  })

  it('reads the code of a cause or of an AggregateError member when the error itself has none', () => {
    expect(classifyFailure(new Error('query failed password=hunter2', { cause: driverError('40P01') }))).toEqual({
      reasonCode: 'DB_ERROR',
      transient: true,
      message: 'database error SQLSTATE 40P01: deadlock detected',
    })
    const aggregate = new AggregateError([driverError('ECONNREFUSED'), driverError('ECONNREFUSED')], 'connect to app:hunter2@db failed')
    expect(classifyFailure(aggregate).message).toBe('connection error ECONNREFUSED: connection refused')
  })

  it('an error without a code is UNKNOWN; its text is used only to recognise a known failure', () => {
    expect(classifyFailure(new Error('relation "findings" does not exist; password=hunter2'))).toEqual({
      reasonCode: 'UNKNOWN',
      transient: true,
      message: 'unexpected error (details withheld)',
    })
    expect(classifyFailure(new Error('write ECONNRESET app:hunter2@db')).message).toBe('connection error ECONNRESET: connection reset by peer')
    expect(classifyFailure('a thrown string with token rcp_abcdefghijklmnop').message).toBe('unexpected error (details withheld)')
    expect(classifyFailure(null).message).toBe('unexpected error (details withheld)')
  })
})

describe('classifyFailure: INVALID_DATA and TENANT_NOT_ALLOWED name their ids (SPEC §2, §3)', () => {
  it('keeps the findings runbook sentence with the finding id', () => {
    const sentence = `finding 573 has a severity outside ${KNOWN_SEVERITIES.join('|')}; the tenant was not repaired`
    // The allow-list's sentence is the one the findings runbook raises.
    expect(invalidSeverityMessage(573)).toBe(sentence)
    expect(classifyFailure(new RunbookDataError(sentence, 573))).toEqual({ reasonCode: 'INVALID_DATA', transient: false, message: sentence })
  })

  it('takes the id from the structured field, never the text', () => {
    expect(classifyFailure(new RunbookDataError('finding 9 secret=hunter2 is broken', 9)).message).toBe(
      'finding 9 makes the repair unsafe; the tenant was not repaired',
    )
    expect(classifyFailure(new RunbookDataError('finding 9 is broken: password=hunter2')).message).toBe(
      "the tenant's data makes the repair unsafe; the tenant was not repaired",
    )
  })

  it('names the tenant that left the universe', () => {
    expect(classifyFailure(new TenantNotAllowedError(42))).toEqual({
      reasonCode: 'TENANT_NOT_ALLOWED',
      transient: false,
      message: 'tenant 42 left the allowed universe (archived, platform or deleted) before it was repaired',
    })
  })
})
