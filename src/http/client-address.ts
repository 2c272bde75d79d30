import { getConnInfo } from '@hono/node-server/conninfo'
import type { Context, MiddlewareHandler } from 'hono'
import { isIP } from 'node:net'

/**
 * Addresses resolved by `trustedProxyAddresses`, per request. Keyed by the request's Context (one per
 * request, also in mounted sub-apps; nothing leaks), not by `c.req.raw`: middleware may replace the raw
 * request — the truncated-body guard and the console's form reading do — and the address would be lost then.
 */
const resolved = new WeakMap<Context, string>()

function socketAddress(c: Context): string | null {
  try {
    return getConnInfo(c).remote.address ?? null
  } catch {
    return null
  }
}

function normalise(ip: string): string {
  const trimmed = ip.trim()
  // An IPv4 client seen through an IPv6 socket: the same client as its IPv4 form.
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(trimmed) ? trimmed.slice(7) : trimmed
}

/**
 * Behind `hops` trusted reverse proxies, the client is the address the outermost trusted proxy saw:
 * `X-Forwarded-For`'s entry `hops` from the right. Entries further left are client-controlled and never
 * trusted. With `hops` 0 (the default) the socket's address is the client.
 */
export function trustedProxyAddresses(hops: number): MiddlewareHandler {
  return async (c, next) => {
    if (hops > 0) {
      const chain = (c.req.header('x-forwarded-for') ?? '').split(',').map((entry) => entry.trim()).filter(Boolean)
      const candidate = chain[chain.length - hops]
      if (candidate && isIP(normalise(candidate))) resolved.set(c, normalise(candidate))
    }
    await next()
  }
}

/** Where a request came from, for the audit log and the login rate limit. */
export function clientAddress(c: Context): { ip: string | null; userAgent: string | null } {
  const socket = socketAddress(c)
  const ip = resolved.get(c) ?? (socket ? normalise(socket) : null)
  const userAgent = c.req.header('user-agent')?.slice(0, 512) ?? null
  return { ip, userAgent }
}

/**
 * The address a login rate-limit budget belongs to: an IPv6 client is its /64 (one subscriber's whole
 * network, which it can hop through freely), an IPv4 client its address.
 */
export function rateLimitAddress(ip: string | null): string {
  if (!ip) return 'unknown'
  if (isIP(ip) !== 6) return ip
  const [head] = ip.split('%')
  const halves = head!.split('::')
  const left = halves[0] ? halves[0].split(':') : []
  const right = halves.length > 1 && halves[1] ? halves[1].split(':') : []
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${groups.slice(0, 4).map((g) => parseInt(g || '0', 16).toString(16)).join(':')}::/64`
}
