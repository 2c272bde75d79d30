import type { UniverseTenant } from '../../runbooks/tenant-universe.js'

/**
 * How the console's tenant picker names a tenant: "Acme Logistics (#2)". The name is for the operator, the
 * id is what the server reads back; a bare id is accepted too, so the field works without the script.
 */
export function formatTenantReference(tenant: Pick<UniverseTenant, 'id' | 'name'>): string {
  return `${tenant.name} (#${tenant.id})`
}

/** The tenant id in a picker value; null when the value is empty; 'invalid' when it names no id. */
export function parseTenantReference(text: string): number | null | 'invalid' {
  const trimmed = text.trim()
  if (trimmed === '') return null
  const match = /\(#(\d{1,16})\)$/.exec(trimmed) ?? /^#?(\d{1,16})$/.exec(trimmed)
  if (!match) return 'invalid'
  const id = Number(match[1])
  return Number.isSafeInteger(id) && id > 0 ? id : 'invalid'
}
