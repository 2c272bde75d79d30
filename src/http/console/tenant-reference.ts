import type { UniverseTenant } from '../../runbooks/tenant-universe.js'

/**
 * How the console's tenant picker names a tenant: "Acme Logistics (#2)". The name is for the operator, the
 * id is what the server reads back; a bare id is accepted too, so the field works without the script.
 */
export function formatTenantReference(tenant: Pick<UniverseTenant, 'id' | 'name'>): string {
  return `${tenant.name} (#${tenant.id})`
}

/** Tenant names by id, for labelling tenants the console shows by id. */
export type TenantNames = ReadonlyMap<number, string>

export function tenantNamesOf(tenants: UniverseTenant[]): TenantNames {
  return new Map(tenants.map((tenant) => [tenant.id, tenant.name]))
}

/** "Acme Logistics (#2)" when the name is known (the tenant is in the universe), "#2" otherwise. */
export function tenantLabel(names: TenantNames, id: number): string {
  const name = names.get(id)
  return name === undefined ? `#${id}` : formatTenantReference({ id, name })
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
