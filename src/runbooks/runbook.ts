import type { Sql, TransactionSql } from '../db/database.js'

/**
 * One repair the control plane can run per tenant. Adding a runbook means one module implementing this
 * interface and one entry in `catalog.ts`. Runbooks hold no locks and never commit: the tenant worker
 * owns the transaction and the per-tenant exclusion, so a tenant is repaired wholly or not at all.
 */
export interface Runbook {
  key: string
  label: string
  description: string
  requiredCapability: string
  /** Human text for the catalog, e.g. "about 1 s per 10,000 findings". */
  estimatedDuration: string
  /** Counts without changing anything; runs inside the caller's transaction/connection. */
  preflightTenant(sql: Sql | TransactionSql, tenantId: number): Promise<TenantPreflight>
  /**
   * Repairs one tenant inside the caller's transaction `tx` (the caller commits or rolls back).
   * Throws RunbookDataError (reasonCode 'INVALID_DATA', message naming the finding id) when unsafe.
   */
  executeTenant(tx: TransactionSql, tenantId: number): Promise<TenantRepair>
}

export interface TenantPreflight {
  /** Rows the run would update. */
  affected: number
  /** Rows scanned. */
  total: number
}

export interface TenantRepair {
  total: number
  updated: number
}

/**
 * The tenant's data makes the repair unsafe. Its message is operator-facing (it ends up in the run's
 * failure summary), so it names the offending record and nothing secret.
 */
export class RunbookDataError extends Error {
  readonly reasonCode = 'INVALID_DATA' as const

  constructor(
    message: string,
    /** The record that made the repair unsafe, when there is one. */
    readonly recordId?: number,
  ) {
    super(message)
    this.name = 'RunbookDataError'
  }
}
