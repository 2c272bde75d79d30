import type { Context } from 'hono'

/**
 * Requests whose handler said they changed no credential, by their Context (the raw Request may be replaced
 * on the way, as the truncated-body guard and the console's form reading do; weak keys: nothing leaks).
 */
const unchanged = new WeakSet<Context>()

/**
 * Says that this write request changed no credential — a refused login (failed, rate-limited, busy, client
 * gone) — so the app's write middleware neither empties the token cache nor waits for the other API
 * processes to sync (two queries and a NOTIFY on PostgreSQL). Without it every one of a flood's refusals
 * paid that, which undid the point of refusing it without a database round trip.
 */
export function markCredentialsUnchanged(c: Context): void {
  unchanged.add(c)
}

export function credentialsUnchanged(c: Context): boolean {
  return unchanged.has(c)
}
