import { BlockList, isIP } from 'node:net'

/**
 * SPEC §12: which hosts a webhook may point at. Unset (null): any host, loopback included (a local
 * receiver works). Set from OPS_WEBHOOK_ALLOWED_HOSTS: host names (exact, case-insensitive; `*.example.com`
 * for its subdomains) and CIDR ranges or single addresses. A range matches a URL whose host IS an address
 * in it: names are not resolved (a name's addresses can change between the check and the send, so a
 * deployment that wants to allow a network lists its names, or posts to addresses) — except `localhost`,
 * which is loopback by definition (RFC 6761): a range holding 127.0.0.1 or ::1 admits it.
 */
export interface WebhookHostPolicy {
  names: ReadonlySet<string>
  suffixes: readonly string[]
  addresses: BlockList
  /** The entries as configured, for messages. */
  entries: readonly string[]
}

export class InvalidAllowedHostError extends Error {}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/

/** Parses the comma-separated list; throws `InvalidAllowedHostError` naming the first entry it cannot read. */
export function parseAllowedHosts(list: string): WebhookHostPolicy {
  const entries = list.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  if (entries.length === 0) throw new InvalidAllowedHostError('lists no host')
  const names = new Set<string>()
  const suffixes: string[] = []
  const addresses = new BlockList()
  for (const entry of entries) {
    const [address, prefix, extra] = entry.split('/')
    const family = isIP(unbracketed(address!))
    if (family !== 0 && extra === undefined) {
      const type = family === 4 ? 'ipv4' : 'ipv6'
      const bits = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix)
      if (!/^\d{1,3}$/.test(prefix ?? '0') || bits > (family === 4 ? 32 : 128)) throw new InvalidAllowedHostError(`'${entry}' is not a CIDR range`)
      addresses.addSubnet(unbracketed(address!), bits, type)
      continue
    }
    const name = entry.toLowerCase()
    if (name.startsWith('*.') && HOST_NAME.test(name.slice(2))) suffixes.push(name.slice(1).replace(/\.$/, ''))
    else if (HOST_NAME.test(name)) names.add(name.replace(/\.$/, ''))
    else throw new InvalidAllowedHostError(`'${entry}' is neither a host name nor a CIDR range`)
  }
  return { names, suffixes, addresses, entries }
}

/** Whether a URL's host (as `URL.hostname` gives it) is allowed; null policy: every host is. */
export function hostAllowed(policy: WebhookHostPolicy | null, hostname: string): boolean {
  if (policy === null) return true
  const host = unbracketed(hostname).toLowerCase().replace(/\.$/, '')
  const family = isIP(host)
  if (family !== 0) return policy.addresses.check(host, family === 4 ? 'ipv4' : 'ipv6')
  if (policy.names.has(host) || policy.suffixes.some((suffix) => host.endsWith(suffix))) return true
  return (host === 'localhost' || host.endsWith('.localhost')) && (policy.addresses.check('127.0.0.1', 'ipv4') || policy.addresses.check('::1', 'ipv6'))
}

function unbracketed(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}
