import { createHash, timingSafeEqual } from 'node:crypto'
import { BlockList, isIP } from 'node:net'

export type MetricsAccess = { allowed: true } | { allowed: false; status: 401 | 403; detail: string }

/**
 * SPEC §12: with `METRICS_TOKEN` set, /metrics is served to whoever presents it as a bearer token (from
 * anywhere: a Prometheus server is rarely on the same host); without it, only to loopback clients. The
 * token is compared in constant time (both sides hashed first, so their lengths tell nothing either).
 */
export function metricsAccess(request: { authorization: string | undefined; clientIp: string | null }, metricsToken: string | undefined): MetricsAccess {
  if (metricsToken) {
    const presented = /^Bearer +(\S+) *$/i.exec(request.authorization ?? '')?.[1]
    if (presented !== undefined && sameSecret(presented, metricsToken)) return { allowed: true }
    return { allowed: false, status: 401, detail: 'metrics need the METRICS_TOKEN as a bearer token' }
  }
  if (isLoopback(request.clientIp)) return { allowed: true }
  return { allowed: false, status: 403, detail: 'metrics are served to loopback clients only (set METRICS_TOKEN to serve them to others)' }
}

function sameSecret(presented: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest()
  return timingSafeEqual(digest(presented), digest(expected))
}

const loopback = new BlockList()
loopback.addSubnet('127.0.0.0', 8, 'ipv4')
loopback.addAddress('::1', 'ipv6')

/** 127.0.0.0/8 and ::1 (an IPv4-mapped address arrives already in its IPv4 form, see client-address.ts). */
export function isLoopback(ip: string | null): boolean {
  const family = ip ? isIP(ip) : 0
  if (family === 0) return false
  return loopback.check(ip!, family === 4 ? 'ipv4' : 'ipv6')
}
