/** Bound of a failure message in the failure summary (SPEC §3 "bounded length"). */
export const FAILURE_MESSAGE_MAX = 300

const REDACTIONS: Array<[RegExp, string]> = [
  // URLs with credentials and connection strings of any scheme (postgres://user:pw@host, nats://, esdb://, ...)
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi, '[redacted-url]'],
  // before key=value, so that "Authorization: Bearer x" loses x, not only the word Bearer
  [/\bbearer\s+[A-Za-z0-9._~+/-]+=*/gi, 'Bearer [redacted]'],
  // key=value / key: value secrets, as in libpq strings, env variables (PGPASSWORD=, DB_PASSWORD=), JSON and headers
  [
    /([A-Za-z0-9_-]*(?:password|passwd|pwd|secret|token|api[_-]?key|authorization|credentials?))(["']?)\s*[=:]\s*(?!Bearer \[redacted\])("[^"]*"|'[^']*'|[^\s,;}]+)/gi,
    '$1$2=[redacted]',
  ],
  // our own API tokens and long opaque strings (hex/base64 keys, JWTs)
  [/\brcp_[A-Za-z0-9_-]+/g, '[redacted-token]'],
  [/\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[redacted-token]'],
  [/\b[A-Za-z0-9+/_-]{32,}={0,2}/g, '[redacted]'],
]

/**
 * Makes an error text safe for the failure summary, events and logs: first line only (no stack trace),
 * secrets and connection strings redacted, control characters removed, bounded length.
 */
export function sanitizeFailureMessage(raw: string): string {
  const firstLine = raw.split(/\r?\n/).find((line) => line.trim().length > 0) ?? ''
  let text = firstLine.replace(/\s+at\s+\S+\s+\(.*\)$/, '')
  for (const [pattern, replacement] of REDACTIONS) text = text.replace(pattern, replacement)
  text = text.replace(/[\u0000-\u001f\u007f]/g, ' ').trim()
  if (text.length === 0) return 'no message'
  return text.length > FAILURE_MESSAGE_MAX ? `${text.slice(0, FAILURE_MESSAGE_MAX - 1)}…` : text
}
