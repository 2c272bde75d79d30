import type { Target } from '../api-client.js'
import { UsageError } from '../exit-codes.js'

export interface TargetOptions {
  allTenants?: boolean
  tenant?: number
}

/** `--all-tenants` or `--tenant ID`, exactly one: which tenants the service accepts is its own decision. */
export function targetOf(options: TargetOptions): Target {
  if (options.allTenants && options.tenant !== undefined) throw new UsageError('give either --all-tenants or --tenant ID, not both')
  if (options.allTenants) return { scope: 'all_tenants' }
  if (options.tenant !== undefined) return { scope: 'single_tenant', tenantId: options.tenant }
  throw new UsageError('choose the target: --all-tenants or --tenant ID (see `rcp tenants`)')
}

export function describeTarget(target: Target): string {
  return target.scope === 'all_tenants' ? 'all tenants' : `tenant #${target.tenantId}`
}

/** The API's body fields as the options that fill them, for validation messages. */
export const targetFieldFlags: Record<string, string> = {
  scope: '--all-tenants | --tenant',
  tenantId: '--tenant',
}
