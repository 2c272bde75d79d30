import { InvalidArgumentError } from 'commander'
import type { CanaryRequest } from '../api-client.js'
import { UsageError } from '../exit-codes.js'

/**
 * SPEC §11 "Canary tenants" in `rcp start`: `--canary-count N` or `--canary-tenants 11,12`, and
 * `--auto-promote`. Only the shape of the options is checked here; which tenants may be canaries (targets
 * of the run, at most as many as it has) is the service's decision, named back as these options.
 */

export interface CanaryOptions {
  /** `--canary-count N`: the N target tenants with the fewest findings. */
  canaryCount?: number
  /** `--canary-tenants 11,12`, parsed by `canaryTenantIds`. */
  canaryTenants?: number[]
  autoPromote?: boolean
}

export const canaryFieldFlags: Record<string, string> = {
  canary: '--canary-count | --canary-tenants',
  'canary.tenantIds': '--canary-tenants',
  'canary.count': '--canary-count',
  'canary.autoPromote': '--auto-promote',
}

const TENANT_ID = /^\d{1,16}$/

/** `--canary-tenants 11,12`: positive tenant ids, comma-separated (blanks around them allowed). */
export function canaryTenantIds(value: string): number[] {
  const parts = value.split(',').map((part) => part.trim())
  const ids = parts.map(Number)
  if (parts.some((part) => !TENANT_ID.test(part)) || ids.some((id) => id < 1 || !Number.isSafeInteger(id))) {
    throw new InvalidArgumentError('--canary-tenants must be tenant ids separated by commas, e.g. 11,12 (ids: rcp tenants)')
  }
  return ids
}

/**
 * The canary a start carries, or none. Both ways of choosing at once, or `--auto-promote` with no canary
 * to promote, is a usage error before any request (the service would refuse the first and ignore nothing).
 */
export function canaryOf(options: CanaryOptions): CanaryRequest | undefined {
  const byCount = options.canaryCount !== undefined
  const byIds = options.canaryTenants !== undefined
  if (byCount && byIds) throw new UsageError('give either --canary-count N or --canary-tenants IDS, not both')
  if (!byCount && !byIds) {
    if (options.autoPromote) throw new UsageError('--auto-promote needs a canary: --canary-count N or --canary-tenants IDS')
    return undefined
  }
  return {
    ...(byCount ? { count: options.canaryCount } : { tenantIds: options.canaryTenants }),
    autoPromote: options.autoPromote === true,
  }
}
