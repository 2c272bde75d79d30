import { CONNECTION_ERROR_CODES, failureCodeOf } from '../commands/run/failure-message.js'
import { adapterOutageCodeOf } from '../dependency-outages.js'

/** Seconds a client is asked to wait while a dependency is down: about what a restart of one takes. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5

// SQLSTATEs of a server that is not there for now: connection exceptions (class 08), admin/crash
// shutdown and "cannot connect now" (57P01–57P03), too many connections (53300).
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[1-3]|53300)$/

/**
 * True when `error` says a dependency (PostgreSQL, NATS, EventStoreDB) cannot be reached right now rather
 * than that the request was wrong: the answer is then 503 with Retry-After, not a 500, and the request may
 * simply be sent again once the dependency is back.
 */
export function isDependencyUnavailable(error: unknown): boolean {
  return unavailableCodeOf(error) !== null
}

/**
 * Which dependency code says so (a SQLSTATE, a driver or NATS code; what a log line may carry, never the
 * error's text), or null when `error`, and the causes it wraps, say nothing of the kind.
 */
export function unavailableCodeOf(error: unknown): string | null {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    // NATS and EventStoreDB: what their adapters recognise (src/queue/nats-job-queue.ts, src/store/eventstoredb-event-store.ts).
    const adapterCode = adapterOutageCodeOf(current)
    if (adapterCode !== null) return adapterCode
    const code = failureCodeOf(current)
    if (code !== undefined && (CONNECTION_ERROR_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return code
    current = (current as { cause?: unknown }).cause
  }
  return null
}
