/**
 * The floor of a backfill: the runbook's repair SQL alone, one transaction per tenant, `concurrency`
 * tenants at a time, nothing else (no events, no queue, no projections). With `withBeforeImages`, what
 * the tenant worker runs in that transaction (SPEC §11): the tenant's rows copied, the repair, the
 * before-images of the changed rows kept.
 */
import { performance } from 'node:perf_hooks'
import type { Sql } from '../../src/db/database.js'
import { keepBeforeImages, snapshotTenantRows } from '../../src/db/before-images.js'
import { builtInRunbooks } from '../../src/runbooks/built-in-runbooks.js'
import { createRunbookCatalog, repairedTables } from '../../src/runbooks/catalog.js'
import { universeTenantIds } from '../../src/runbooks/tenant-universe.js'
import { RUNBOOK } from './env.js'

export const catalog = createRunbookCatalog(builtInRunbooks)

export interface RepairTimes {
  seconds: number
  tenants: number
  updated: number
  /** Before-images kept (0 for the floor). */
  images: number
  /** Time spent in each statement, summed over the tenants (the workers overlap: compare as shares). */
  phases: { snapshot: number; repair: number; keep: number; transaction: number }
}

export const BEFORE_IMAGE_RUN = 'bench-before-images'

export async function repairTransactions(sql: Sql, concurrency: number, withBeforeImages = false): Promise<RepairTimes> {
  const runbook = catalog.find(RUNBOOK)!
  const tables = repairedTables(runbook)
  let updated = 0
  let images = 0
  const phases = { snapshot: 0, repair: 0, keep: 0, transaction: 0 }
  const { seconds, tenants } = await eachTenant(sql, concurrency, async (tenantId) => {
    const began = performance.now()
    const result = await sql.begin(async (tx) => {
      if (!withBeforeImages) return { repair: await runbook.executeTenant(tx, tenantId, {}), kept: 0 }
      const t0 = performance.now()
      const snapshots = await snapshotTenantRows(tx, tenantId, tables)
      const t1 = performance.now()
      const repair = await runbook.executeTenant(tx, tenantId, {})
      const t2 = performance.now()
      const kept = await keepBeforeImages(tx, BEFORE_IMAGE_RUN, tenantId, snapshots)
      phases.snapshot += t1 - t0
      phases.repair += t2 - t1
      phases.keep += performance.now() - t2
      return { repair, kept }
    })
    phases.transaction += performance.now() - began
    updated += result.repair.updated
    images += result.kept
  })
  return { seconds, tenants, updated, images, phases }
}

/**
 * The scan every run makes before its first repair (SPEC: the run's context carries its own preflight
 * counts): the runbook's preflight statement alone, one per tenant, `concurrency` at a time. Not part of
 * the floor: it says how much of the end-to-end time the start's required scan accounts for.
 */
export async function preflightScans(sql: Sql, concurrency: number): Promise<{ seconds: number }> {
  const runbook = catalog.find(RUNBOOK)!
  return eachTenant(sql, concurrency, async (tenantId) => void (await runbook.preflightTenant(sql, tenantId, {})))
}

/** `work` for every tenant of the universe, `concurrency` at a time; how long it took in all. */
async function eachTenant(sql: Sql, concurrency: number, work: (tenantId: number) => Promise<void>): Promise<{ seconds: number; tenants: number }> {
  const ids = await universeTenantIds(sql)
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ids.length) await work(ids[next++]!)
    }),
  )
  return { seconds: (performance.now() - started) / 1000, tenants: ids.length }
}
