import type { FailureReasonCode } from '../../events/index.js'

/** Bound of a failure message in the failure summary (SPEC §3 "bounded length"). */
export const FAILURE_MESSAGE_MAX = 300

/*
 * Failure messages end up in immutable events, the failure summary, result rows and logs, so they are
 * built from an ALLOW-LIST: a fixed vocabulary of sentences whose only variable parts are numeric ids
 * (finding, tenant), a PostgreSQL SQLSTATE of a known class, or a driver/network error code from a
 * fixed table. No text of an error is ever copied: whatever is not recognised is dropped and replaced by
 * a fixed "details withheld" sentence. A deny-list of secret patterns cannot be complete (quotes inside
 * URL passwords, `pw=`, Basic auth, zero-width characters in key names, full-width `＝`, ...); this can.
 */

/** PostgreSQL SQLSTATEs the control plane meets, with a fixed description. */
export const KNOWN_SQLSTATES: Readonly<Record<string, string>> = {
  '08000': 'connection exception',
  '08001': 'the client could not establish the connection',
  '08003': 'the connection does not exist',
  '08004': 'the server rejected the connection',
  '08006': 'connection failure',
  '08P01': 'protocol violation',
  '0A000': 'feature not supported',
  '22001': 'string data too long',
  '22003': 'numeric value out of range',
  '22007': 'invalid datetime format',
  '22008': 'datetime field overflow',
  '22012': 'division by zero',
  '22P02': 'invalid text representation',
  '23502': 'not-null violation',
  '23503': 'foreign key violation',
  '23505': 'unique violation',
  '23514': 'check violation',
  '25P02': 'the transaction was aborted',
  '28000': 'invalid authorization',
  '28P01': 'authentication failed',
  '3D000': 'the database does not exist',
  '40001': 'serialization failure',
  '40P01': 'deadlock detected',
  '42501': 'insufficient privilege',
  '42601': 'syntax error',
  '42703': 'undefined column',
  '42883': 'undefined function',
  '42P01': 'undefined table',
  '53000': 'insufficient resources',
  '53100': 'disk full',
  '53200': 'out of memory',
  '53300': 'too many connections',
  '55000': 'object not in prerequisite state',
  '55P03': 'lock timeout (lock not available)',
  '57014': 'statement timeout (query canceled)',
  '57P01': 'the server is shutting down (admin shutdown)',
  '57P02': 'the server crashed (crash shutdown)',
  '57P03': 'the server cannot accept connections now',
  '58000': 'system error',
  '58030': 'I/O error',
  XX000: 'internal error',
  XX001: 'data corrupted',
  XX002: 'index corrupted',
}

/** PostgreSQL SQLSTATE classes (first two characters), for codes not listed above. */
export const SQLSTATE_CLASSES: Readonly<Record<string, string>> = {
  '00': 'successful completion',
  '01': 'warning',
  '02': 'no data',
  '03': 'SQL statement not yet complete',
  '08': 'connection exception',
  '09': 'triggered action exception',
  '0A': 'feature not supported',
  '0B': 'invalid transaction initiation',
  '0F': 'locator exception',
  '0L': 'invalid grantor',
  '0P': 'invalid role specification',
  '0Z': 'diagnostics exception',
  '20': 'case not found',
  '21': 'cardinality violation',
  '22': 'data exception',
  '23': 'integrity constraint violation',
  '24': 'invalid cursor state',
  '25': 'invalid transaction state',
  '26': 'invalid SQL statement name',
  '27': 'triggered data change violation',
  '28': 'invalid authorization',
  '2B': 'dependent privilege descriptors still exist',
  '2D': 'invalid transaction termination',
  '2F': 'SQL routine exception',
  '34': 'invalid cursor name',
  '38': 'external routine exception',
  '39': 'external routine invocation exception',
  '3B': 'savepoint exception',
  '3D': 'invalid catalog name',
  '3F': 'invalid schema name',
  '40': 'transaction rollback',
  '42': 'syntax error or access rule violation',
  '44': 'WITH CHECK OPTION violation',
  '53': 'insufficient resources',
  '54': 'program limit exceeded',
  '55': 'object not in prerequisite state',
  '57': 'operator intervention',
  '58': 'system error',
  '72': 'snapshot failure',
  F0: 'configuration file error',
  HV: 'foreign data wrapper error',
  P0: 'PL/pgSQL error',
  XX: 'internal error',
}

/** Driver (postgres.js) and network (Node) error codes, with a fixed description. */
export const KNOWN_DRIVER_CODES: Readonly<Record<string, string>> = {
  ECONNRESET: 'connection reset by peer',
  ECONNREFUSED: 'connection refused',
  ECONNABORTED: 'connection aborted',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'broken pipe',
  EHOSTUNREACH: 'host unreachable',
  EHOSTDOWN: 'host is down',
  ENETUNREACH: 'network unreachable',
  ENETDOWN: 'network is down',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'temporary name resolution failure',
  EADDRNOTAVAIL: 'address not available',
  CONNECTION_CLOSED: 'connection closed',
  CONNECTION_ENDED: 'connection ended',
  CONNECTION_DESTROYED: 'connection destroyed',
  CONNECT_TIMEOUT: 'connection timeout',
}

/** The codes that make a failure a connection problem (reason code DB_ERROR, transient). */
export const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set(Object.keys(KNOWN_DRIVER_CODES))

const SEVERITY_LIST = 'critical|high|medium|low|info'
const NOT_REPAIRED = 'the tenant was not repaired'

/** The fixed sentences, per reason code, used when nothing more specific is known. */
export const FALLBACK_MESSAGES: Readonly<Record<FailureReasonCode, string>> = {
  INVALID_DATA: `the tenant's data makes the repair unsafe; ${NOT_REPAIRED}`,
  TENANT_LOCKED: 'the tenant is being repaired by another run',
  TENANT_NOT_ALLOWED: 'the tenant left the allowed universe (archived, platform or deleted) before it was repaired',
  TIMEOUT: 'the tenant repair exceeded its statement timeout',
  DB_ERROR: 'database error (details withheld)',
  UNKNOWN: 'unexpected error (details withheld)',
}

/** SPEC §11: a revert's tenant whose before-images were purged before it ran (a fixed sentence: no ids). */
export const BEFORE_IMAGES_GONE_MESSAGE = "the tenant's before-images are gone (purged after their retention); nothing was put back"

/** What sanitizeFailureMessage returns for text it does not recognise. */
export const WITHHELD_MESSAGE = 'error (details withheld)'
const EMPTY_MESSAGE = 'no message'

// ---- renderers: the only way a message with a variable part is built -------------------------------

const ID = /^(?:0|[1-9][0-9]{0,15})$/

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

export function invalidSeverityMessage(findingId: number): string {
  return `finding ${findingId} has a severity outside ${SEVERITY_LIST}; ${NOT_REPAIRED}`
}

export function timesSeenOverflowMessage(findingId: number): string {
  return `finding ${findingId} would get a times_seen sum over its duplicates beyond the integer range; ${NOT_REPAIRED}`
}

export function dueDateOutOfRangeMessage(findingId: number): string {
  return `finding ${findingId} would get an SLA due date beyond the latest timestamp PostgreSQL holds; ${NOT_REPAIRED}`
}

export function unsafeFindingMessage(findingId: number): string {
  return `finding ${findingId} makes the repair unsafe; ${NOT_REPAIRED}`
}

export function tenantNotAllowedMessage(tenantId: number): string {
  return `tenant ${tenantId} left the allowed universe (archived, platform or deleted) before it was repaired`
}

/** The description of a SQLSTATE, or undefined when it is not a well-formed code of a known class. */
export function describeSqlState(code: string): string | undefined {
  if (!/^[0-9A-Z]{5}$/.test(code)) return undefined
  return KNOWN_SQLSTATES[code] ?? SQLSTATE_CLASSES[code.slice(0, 2)]
}

export function sqlStateMessage(code: string): string | undefined {
  const description = describeSqlState(code)
  return description === undefined ? undefined : `database error SQLSTATE ${code}: ${description}`
}

export function driverCodeMessage(code: string): string | undefined {
  const description = Object.hasOwn(KNOWN_DRIVER_CODES, code) ? KNOWN_DRIVER_CODES[code] : undefined
  return description === undefined ? undefined : `connection error ${code}: ${description}`
}

/** A message for an error code, whichever table it belongs to. */
export function codeMessage(code: string): string | undefined {
  return driverCodeMessage(code) ?? sqlStateMessage(code)
}

// ---- recognition of the vocabulary (idempotence) ------------------------------------------------------

const FIXED_MESSAGES: ReadonlySet<string> = new Set([...Object.values(FALLBACK_MESSAGES), BEFORE_IMAGES_GONE_MESSAGE, WITHHELD_MESSAGE, EMPTY_MESSAGE])

/** The sentences about one finding that name what is wrong with it (the unsafe one is their fallback). */
const FINDING_SENTENCES: ReadonlyArray<(findingId: number) => string> = [invalidSeverityMessage, timesSeenOverflowMessage, dueDateOutOfRangeMessage]

/**
 * Every sentence whose one variable part is an id, with the pattern that finds it in a text: the sentence
 * itself rendered around a sentinel id, so that a sentence and its pattern cannot drift apart.
 */
const ID_SENTENCES = [...FINDING_SENTENCES, unsafeFindingMessage, tenantNotAllowedMessage].map((render) => {
  const SENTINEL = '4242424242'
  const [before, after] = render(Number(SENTINEL)).split(SENTINEL) as [string, string]
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return { render, pattern: new RegExp(`\\b${escape(before)}([0-9]{1,16})${escape(after)}`) }
})

/** The id sentence found in `text` (prefixed, say, by "Error: "), rendered anew from its id alone. */
function idSentenceIn(text: string): string | undefined {
  for (const { render, pattern } of ID_SENTENCES) {
    const id = pattern.exec(text)?.[1]
    if (id !== undefined && ID.test(id)) return render(Number(id))
  }
  return undefined
}

/**
 * The vocabulary sentence `text` is, re-rendered from its parsed parts, or undefined. A template match
 * is accepted only when rendering its parts gives back exactly `text`, so nothing else can slip through.
 */
function asVocabulary(text: string): string | undefined {
  if (FIXED_MESSAGES.has(text)) return text
  if (idSentenceIn(text) === text) return text
  const templates: Array<[RegExp, (part: string) => string | undefined]> = [
    [/^database error SQLSTATE ([0-9A-Z]{5}): /, sqlStateMessage],
    [/^connection error ([A-Z_]+): /, driverCodeMessage],
  ]
  for (const [pattern, render] of templates) {
    const part = pattern.exec(text)?.[1]
    if (part !== undefined && render(part) === text) return text
  }
  return undefined
}

// ---- recognition inside free text -------------------------------------------------------------------

/** Server/driver phrases that identify a known failure; only the code they map to is used. */
const KNOWN_PHRASES: Array<[RegExp, string]> = [
  [/deadlock detected/i, '40P01'],
  [/canceling statement due to statement timeout/i, '57014'],
  [/canceling statement due to lock timeout|could not obtain lock|lock_timeout/i, '55P03'],
  [/could not serialize access/i, '40001'],
  [/too many clients already|too many connections/i, '53300'],
  [/password authentication failed/i, '28P01'],
  [/terminating connection due to administrator command/i, '57P01'],
  [/the database system is (?:starting up|shutting down|in recovery mode)/i, '57P03'],
  [/connection terminated unexpectedly/i, 'CONNECTION_CLOSED'],
]

/** Letters only, case folded, width folded (full-width forms), invisible and control characters gone. */
function normalised(raw: string): string {
  return raw
    .normalize('NFKC')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ')
    .replace(/\s+/g, ' ')
}

/** The first known failure the text speaks of, as a vocabulary sentence. */
function recognised(raw: string): string | undefined {
  const text = normalised(raw)
  // Our own sentences, possibly with a prefix such as "Error: "; only digits are taken from the text.
  const ours = idSentenceIn(text)
  if (ours) return ours
  for (const fixed of FIXED_MESSAGES) if (fixed !== EMPTY_MESSAGE && fixed !== WITHHELD_MESSAGE && text.includes(fixed)) return fixed
  // An explicit SQLSTATE ("SQLSTATE 40P01", "sqlstate: '40P01'", "code: '40P01'") of the known table only:
  // looked up, never copied.
  for (const match of text.matchAll(/\b(?:sqlstate|code)\b["']?\s*[:=]?\s*["'([]?([0-9A-Z]{5})\b/gi)) {
    const code = match[1]!
    if (Object.hasOwn(KNOWN_SQLSTATES, code)) return sqlStateMessage(code)
  }
  for (const match of text.matchAll(/\b[A-Z][A-Z_]{3,24}\b/g)) {
    const message = driverCodeMessage(match[0])
    if (message) return message
  }
  for (const [phrase, code] of KNOWN_PHRASES) if (phrase.test(text)) return codeMessage(code)
  return undefined
}

function bounded(text: string): string {
  return text.length > FAILURE_MESSAGE_MAX ? `${text.slice(0, FAILURE_MESSAGE_MAX - 1)}…` : text
}

/**
 * Makes a failure text safe for the failure summary, events and logs by ALLOW-LIST: the result is one
 * of a fixed vocabulary of sentences (with at most a numeric id, a SQLSTATE or a known driver code in
 * it); nothing of `raw` is copied. A sentence of the vocabulary is returned unchanged, so applying it
 * again to its own output changes nothing (the decider sanitizes whatever reaches it again).
 */
export function sanitizeFailureMessage(raw: string): string {
  if (raw.trim().length === 0) return EMPTY_MESSAGE
  return bounded(asVocabulary(raw) ?? recognised(raw) ?? WITHHELD_MESSAGE)
}

// ---- structured entry point ---------------------------------------------------------------------------

/** The error code of an error and of its causes (`error.code`, `error.cause.code`, AggregateError members). */
function errorCodes(error: unknown, depth = 0): string[] {
  if (depth > 3 || typeof error !== 'object' || error === null) return []
  const codes: string[] = []
  const record = error as { code?: unknown; cause?: unknown; errors?: unknown }
  if (typeof record.code === 'string') codes.push(record.code)
  codes.push(...errorCodes(record.cause, depth + 1))
  if (Array.isArray(record.errors)) for (const member of record.errors.slice(0, 5)) codes.push(...errorCodes(member, depth + 1))
  return codes
}

/** The structured code of an error: the first one of its codes (or its causes') that the tables know. */
export function failureCodeOf(error: unknown): string | undefined {
  const codes = errorCodes(error)
  return codes.find((code) => codeMessage(code) !== undefined) ?? codes.find((code) => /^[0-9A-Z]{5}$/.test(code))
}

/**
 * The failure message of `error`, already classified as `reasonCode`, built from structured fields only:
 * a RunbookDataError's finding id (`recordId`), a TenantNotAllowedError's tenant id, the error's
 * SQLSTATE or driver code. The error's own text is used only to recognise our own fixed sentences.
 */
export function describeFailure(error: unknown, reasonCode: FailureReasonCode): string {
  const fields = (typeof error === 'object' && error !== null ? error : {}) as {
    recordId?: unknown
    findingId?: unknown
    tenantId?: unknown
    message?: unknown
  }
  const text = typeof fields.message === 'string' ? fields.message : ''
  if (reasonCode === 'INVALID_DATA') {
    if (text === BEFORE_IMAGES_GONE_MESSAGE) return text
    const findingId = isId(fields.findingId) ? fields.findingId : isId(fields.recordId) ? fields.recordId : undefined
    if (findingId === undefined) return FALLBACK_MESSAGES.INVALID_DATA
    return FINDING_SENTENCES.some((render) => render(findingId) === text) ? text : unsafeFindingMessage(findingId)
  }
  if (reasonCode === 'TENANT_NOT_ALLOWED') {
    return isId(fields.tenantId) ? tenantNotAllowedMessage(fields.tenantId) : FALLBACK_MESSAGES.TENANT_NOT_ALLOWED
  }
  if (reasonCode === 'TENANT_LOCKED' || reasonCode === 'TIMEOUT') return FALLBACK_MESSAGES[reasonCode]
  const code = failureCodeOf(error)
  const fromCode = code === undefined ? undefined : codeMessage(code)
  if (fromCode) return fromCode
  const fromText = text ? recognised(text) : undefined
  return fromText ?? FALLBACK_MESSAGES[reasonCode]
}
