import type { z } from 'zod'
import type { Sql, TransactionSql } from '../db/database.js'
import type { Migration } from '../db/migrations.js'

/** A runbook's parameters as validated: a JSON object (defaults filled in), stored on the run. */
export type RunbookParameters = Record<string, unknown>

/**
 * One repair the control plane can run per tenant. Adding a runbook means one module exporting
 * `defineRunbook({...})` and one entry in `built-in-runbooks.ts`; nothing else changes (SPEC §13).
 * Runbooks hold no locks and never commit: the tenant worker owns the transaction and the per-tenant
 * exclusion, so a tenant is repaired wholly or not at all.
 */
export interface RunbookDefinition<Schema extends z.ZodObject> {
  key: string
  label: string
  description: string
  requiredCapability: string
  /** What the run's counts count, plural (e.g. `findings`): shown wherever a count of them is. */
  unit: string
  /** Human text for the catalog, e.g. "about 1 s per 10,000 findings". */
  estimatedDuration: string
  /**
   * The parameters a run takes, as a zod object whose fields all have defaults (so `{}` is valid): the
   * catalog publishes it as JSON Schema, starts are validated against it, and the run records the result.
   */
  parameters: Schema
  /** Counts without changing anything; runs inside the caller's transaction/connection. */
  preflightTenant(sql: Sql | TransactionSql, tenantId: number, parameters: z.output<Schema>): Promise<TenantPreflight>
  /**
   * Repairs one tenant inside the caller's transaction `tx` (the caller commits or rolls back).
   * Throws RunbookDataError (reasonCode 'INVALID_DATA', message naming the record) when unsafe.
   */
  executeTenant(tx: TransactionSql, tenantId: number, parameters: z.output<Schema>): Promise<TenantRepair>
  /**
   * The platform tables `executeTenant` updates (default `['findings']`), each with `id` and `tenant_id`.
   * The worker keeps a before-image of every row of the tenant it changes there (SPEC §11), so a run can
   * be reverted; a repair updates rows in place (it inserts and deletes none).
   */
  repairs?: readonly string[]
  /** The runbook's own tables, as versioned migrations applied on start (owner `runbook:<key>`). */
  migrations?: readonly Migration[]
}

/** A runbook as the rest of the service holds it: its parameters' type erased behind their schema. */
export type Runbook = RunbookDefinition<z.ZodObject> & {
  preflightTenant(sql: Sql | TransactionSql, tenantId: number, parameters: RunbookParameters): Promise<TenantPreflight>
  executeTenant(tx: TransactionSql, tenantId: number, parameters: RunbookParameters): Promise<TenantRepair>
}

/**
 * Types a runbook module against its own parameters. The service only ever calls it with the output of
 * `parameters` (validated at start, parsed again by the worker), which is what makes the erasure safe.
 */
export function defineRunbook<Schema extends z.ZodObject>(definition: RunbookDefinition<Schema>): Runbook {
  return definition as unknown as Runbook
}

export interface TenantPreflight {
  /** Rows the run would update. */
  affected: number
  /** Rows scanned. */
  total: number
  /**
   * The repair would fail for this tenant (the run would meet a RunbookDataError): found by the preview,
   * not discovered by the run (SPEC §11). Absent or null: it would not.
   */
  wouldFail?: { reasonCode: 'INVALID_DATA'; message: string } | null
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

/**
 * For a runbook's fixed statements (`sql.unsafe(TEXT, params, PREPARED)`): each connection parses and
 * plans a statement once instead of per tenant — on small tenants planning the repair's CTEs cost more
 * than running them.
 */
export const PREPARED = { prepare: true } as const
