import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  beforeImageSchema,
  keepBeforeImages,
  type BeforeImage,
  purgeBeforeImages,
  readBeforeImages,
  revertTenantRows,
  snapshotTenantRows,
} from '../../src/db/before-images.js'
import type { Database, Sql, TransactionSql } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrations.js'
import { findingsLifecycleBackfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import { findingsSlaRecalculate, slaRecalculateParameters } from '../../src/runbooks/findings-sla-recalculate.js'
import { RunbookDataError, type TenantRepair } from '../../src/runbooks/runbook.js'
import { databaseFlavours } from '../support/databases.js'
import { DAY, HOUR, T0, createPlatformTables, insertFindings, insertTenant, readFindings, type FindingRow } from '../runbooks/findings-fixture.js'

/**
 * SPEC §11 before-images, as the tenant worker's `attempt()` takes them: in ONE transaction
 * `snapshotTenantRows` → the runbook's `executeTenant` (or `revertTenantRows` for a revert run) →
 * `keepBeforeImages`, over random messy tenants of both built-in runbooks.
 */

const MAX_FINDINGS = 10
const TABLES = ['findings'] as const
const KNOWN_SEVERITIES = ['critical', 'high', 'medium', 'low', 'info']

/** Timestamps cluster on a few instants so ties, equal first/last values and already-right SLAs happen often. */
const instant = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(T0, T0 + HOUR, T0 - DAY, T0 + 7 * DAY) },
  { weight: 1, arbitrary: fc.integer({ min: T0 - 120 * DAY, max: T0 + 120 * DAY }) },
)
const nullable = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: null, freq: 3 })
const dayCount = fc.oneof(fc.constantFrom(1, 3, 7, 30, 90, 365), fc.integer({ min: 1, max: 365 }))

const validSeverity = fc.constantFrom('critical', 'high', 'medium', 'low', 'info')
const anySeverity = fc.oneof(
  { weight: 40, arbitrary: validSeverity },
  { weight: 1, arbitrary: fc.constantFrom('urgent', 'Critical', '') },
)

const findingShape = (severity: fc.Arbitrary<string>) =>
  fc.record({
    fingerprint: fc.constantFrom('a', 'b', 'c'),
    severity,
    status: fc.constantFrom(
      'open', 'acknowledged', 'fixed', 'closed',
      'new', 'triaged', 'in_progress', 'resolved', 'risk_accepted',
      'reopened', 'Open',
    ),
    firstSeenAt: nullable(instant),
    lastSeenAt: nullable(instant),
    timesSeen: nullable(fc.integer({ min: -2, max: 5 })),
    slaDueAt: fc.option(instant, { nil: null, freq: 2 }),
    resolvedAt: nullable(instant),
    resolvedReason: nullable(fc.constantFrom('fixed', 'wont_fix', 'duplicate')),
    /** Index of the finding this one was already consolidated into (or 'external'), usually none. */
    duplicateOf: fc.option(fc.oneof(fc.integer({ min: 0, max: MAX_FINDINGS - 1 }), fc.constant('external' as const)), {
      nil: null,
      freq: 4,
    }),
    createdAt: instant,
    updatedAt: instant,
  })

/** One of the two built-in runbooks with random valid parameters. */
const repairShape = fc.oneof(
  fc.constant({ runbook: 'findings.lifecycle.backfill' as const }),
  fc
    .option(fc.record({ critical: dayCount, high: dayCount, medium: dayCount, low: dayCount }, { requiredKeys: [] }), {
      nil: undefined,
      freq: 4,
    })
    .map((slaDays) => ({ runbook: 'findings.sla.recalculate' as const, slaDays })),
)
type RepairShape = typeof repairShape extends fc.Arbitrary<infer T> ? T : never

const tenantShape = (severity: fc.Arbitrary<string>) =>
  fc.record({
    findings: fc.array(findingShape(severity), { maxLength: MAX_FINDINGS, size: 'max' }),
    /** Ids in shuffled order, so that id order and insertion order differ. */
    ids: fc.uniqueArray(fc.integer({ min: 1, max: 99 }), { minLength: MAX_FINDINGS, maxLength: MAX_FINDINGS }),
    repair: repairShape,
  })

type TenantShape = typeof tenantShape extends (s: never) => fc.Arbitrary<infer T> ? T : never

function repairStep(repair: RepairShape, tenantId: number): (tx: TransactionSql) => Promise<TenantRepair> {
  if (repair.runbook === 'findings.lifecycle.backfill') return (tx) => findingsLifecycleBackfill.executeTenant(tx, tenantId, {})
  const parameters = slaRecalculateParameters.parse(repair.slaDays === undefined ? {} : { slaDays: repair.slaDays })
  return (tx) => findingsSlaRecalculate.executeTenant(tx, tenantId, parameters)
}

/** What the worker's `attempt()` does around a repair (or a revert): one transaction, snapshot → step → keep. */
async function workerStep(
  sql: Sql,
  runId: string,
  tenantId: number,
  step: (tx: TransactionSql) => Promise<TenantRepair>,
  timeZone?: string,
): Promise<{ repair: TenantRepair; kept: number } | { error: unknown }> {
  return sql
    .begin(async (tx) => {
      if (timeZone !== undefined) await tx`select set_config('TimeZone', ${timeZone}, true)`
      const snapshots = await snapshotTenantRows(tx, tenantId, TABLES)
      const repair = await step(tx)
      const kept = await keepBeforeImages(tx, runId, tenantId, snapshots)
      return { repair, kept }
    })
    .then(
      (done) => done as { repair: TenantRepair; kept: number },
      (error: unknown) => ({ error }),
    )
}

function succeeded(outcome: { repair: TenantRepair; kept: number } | { error: unknown }): { repair: TenantRepair; kept: number } {
  if ('error' in outcome) throw outcome.error
  return outcome
}

/** Stored column name → field of FindingRow, and how a before-image's JSON value reads back. */
const COLUMNS: ReadonlyArray<[column: string, field: keyof FindingRow, kind: 'time' | 'plain']> = [
  ['id', 'id', 'plain'],
  ['tenant_id', 'tenantId', 'plain'],
  ['fingerprint', 'fingerprint', 'plain'],
  ['severity', 'severity', 'plain'],
  ['status', 'status', 'plain'],
  ['first_seen_at', 'firstSeenAt', 'time'],
  ['last_seen_at', 'lastSeenAt', 'time'],
  ['times_seen', 'timesSeen', 'plain'],
  ['sla_due_at', 'slaDueAt', 'time'],
  ['resolved_at', 'resolvedAt', 'time'],
  ['resolved_reason', 'resolvedReason', 'plain'],
  ['duplicate_of_id', 'duplicateOfId', 'plain'],
  ['created_at', 'createdAt', 'time'],
  ['updated_at', 'updatedAt', 'time'],
]
const KIND = new Map(COLUMNS.map(([column, , kind]) => [column, kind]))

/** The columns (stored names) whose values differ between two versions of a finding, `updated_at` aside. */
function changedColumns(before: FindingRow, after: FindingRow): string[] {
  return COLUMNS.filter(([column, field]) => column !== 'updated_at' && before[field] !== after[field])
    .map(([column]) => column)
    .sort()
}

/** A before-image's values as FindingRow values (timestamps as epoch ms), keyed by stored column name. */
function readImageValues(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(values).map(([column, value]) => [
      column,
      value !== null && KIND.get(column) === 'time' ? Date.parse(value as string) : value,
    ]),
  )
}

function pick(row: FindingRow, columns: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(columns.map((column) => [column, row[COLUMNS.find(([c]) => c === column)![1]]]))
}

async function imagesOf(sql: Sql, runId: string, tenantId?: number): Promise<BeforeImage[]> {
  return (await readBeforeImages(sql, runId, tenantId)).sort((a, b) => a.rowId - b.rowId)
}

const withoutUpdatedAt = ({ updatedAt: _, ...rest }: FindingRow) => rest

/**
 * How a later edit (an engineer, another system) changes one column the run wrote, always to a value other
 * than the one the run wrote, moving `updated_at` like any change.
 */
const EDIT: Readonly<Record<string, string>> = {
  status: `status = status || '-edited'`,
  resolved_reason: `resolved_reason = coalesce(resolved_reason || '-edited', 'edited')`,
  first_seen_at: `first_seen_at = coalesce(first_seen_at + interval '1 hour', timestamptz '2030-01-01 00:00Z')`,
  last_seen_at: `last_seen_at = coalesce(last_seen_at + interval '1 hour', timestamptz '2030-01-01 00:00Z')`,
  sla_due_at: `sla_due_at = coalesce(sla_due_at + interval '1 hour', timestamptz '2030-01-01 00:00Z')`,
  resolved_at: `resolved_at = coalesce(resolved_at + interval '1 hour', timestamptz '2030-01-01 00:00Z')`,
  times_seen: `times_seen = coalesce(times_seen + 1000, 1000)`,
  duplicate_of_id: `duplicate_of_id = coalesce(duplicate_of_id + 1000000, 1000000)`,
}

describe.each(databaseFlavours())('before-images and revert (SPEC §11) on $name', ({ name, open }) => {
  let db: Database
  let nextTenantId = 1
  let nextRun = 1
  const bystanderId = 99_999
  let bystander: FindingRow[] = []
  const runs = name === 'PostgreSQL' ? 80 : 50

  beforeAll(async () => {
    db = await open()
    await createPlatformTables(db.sql)
    await applyMigrations(db.sql, [beforeImageSchema])
    // A tenant both runbooks would change: no step on another tenant may touch it.
    await insertTenant(db.sql, { id: bystanderId })
    await insertFindings(db.sql, [
      { id: bystanderId * 100 + 1, tenantId: bystanderId, fingerprint: 'a', severity: 'critical', status: 'open', firstSeenAt: null, lastSeenAt: null, timesSeen: null, slaDueAt: null, resolvedAt: null, resolvedReason: null, duplicateOfId: null, createdAt: T0, updatedAt: T0 },
      { id: bystanderId * 100 + 2, tenantId: bystanderId, fingerprint: 'a', severity: 'low', status: 'fixed', firstSeenAt: T0, lastSeenAt: null, timesSeen: 0, slaDueAt: T0, resolvedAt: null, resolvedReason: null, duplicateOfId: null, createdAt: T0, updatedAt: T0 },
    ])
    bystander = await readFindings(db.sql, bystanderId)
  })
  afterAll(async () => {
    await db?.close()
  })

  /** Inserts the generated tenant; returns its id and its rows as stored. */
  async function seedTenant({ findings, ids }: TenantShape): Promise<{ tenantId: number; stored: FindingRow[] }> {
    const tenantId = nextTenantId++
    const idOf = (index: number) => tenantId * 100 + ids[index]!
    const rows: FindingRow[] = findings.map(({ duplicateOf, ...shape }, index) => ({
      ...shape,
      id: idOf(index),
      tenantId,
      duplicateOfId: duplicateOf === null ? null : duplicateOf === 'external' ? 1 : idOf(duplicateOf % Math.max(findings.length, 1)),
    }))
    await insertTenant(db.sql, { id: tenantId })
    await insertFindings(db.sql, rows)
    return { tenantId, stored: await readFindings(db.sql, tenantId) }
  }

  const newRunId = () => `run-${name === 'PostgreSQL' ? 'pg' : 'pglite'}-${nextRun++}`

  it('keeps one before-image per changed finding, with exactly its changed columns; none when the repair fails', async () => {
    await fc.assert(
      fc.asyncProperty(tenantShape(anySeverity), async (shape) => {
        const { tenantId, stored } = await seedTenant(shape)
        const runId = newRunId()
        const outcome = await workerStep(db.sql, runId, tenantId, repairStep(shape.repair, tenantId))

        const unsafe = stored.some((row) => !KNOWN_SEVERITIES.includes(row.severity))
        if (unsafe) {
          expect('error' in outcome && outcome.error).toBeInstanceOf(RunbookDataError)
          expect(await imagesOf(db.sql, runId)).toEqual([])
          expect(await readFindings(db.sql, tenantId)).toEqual(stored)
          return
        }
        const { repair, kept } = succeeded(outcome)
        const repaired = await readFindings(db.sql, tenantId)
        const images = await imagesOf(db.sql, runId)
        expect(images.length).toBe(repair.updated)
        expect(kept).toBe(repair.updated)

        const expected = stored
          .map((before, index) => ({ before, after: repaired[index]!, columns: changedColumns(before, repaired[index]!) }))
          .filter(({ columns }) => columns.length > 0)
        expect(images.map((image) => image.rowId)).toEqual(expected.map(({ before }) => before.id))
        for (const [index, image] of images.entries()) {
          const { before, columns } = expected[index]!
          expect({ tableName: image.tableName, tenantId: image.tenantId }).toEqual({ tableName: 'findings', tenantId })
          expect(Object.keys(image.before).sort()).toEqual(columns)
          expect(columns).not.toContain('updated_at')
          expect(readImageValues(image.before)).toEqual(pick(before, columns))
        }
        // A finding left alone keeps its updated_at (the runbooks move it only with a change).
        for (const [index, before] of stored.entries()) {
          if (changedColumns(before, repaired[index]!).length === 0) expect(repaired[index]).toEqual(before)
        }
        expect(await readFindings(db.sql, bystanderId)).toEqual(bystander)
      }),
      { numRuns: runs },
    )
  })

  it('run then revert gives back every column but updated_at of every finding; a bystander tenant is untouched', async () => {
    await fc.assert(
      fc.asyncProperty(tenantShape(validSeverity), async (shape) => {
        const { tenantId, stored } = await seedTenant(shape)
        const runId = newRunId()
        const { repair } = succeeded(await workerStep(db.sql, runId, tenantId, repairStep(shape.repair, tenantId)))
        const images = await imagesOf(db.sql, runId)
        const repaired = new Map((await readFindings(db.sql, tenantId)).map((row) => [row.id, row]))

        const revertId = newRunId()
        const reverted = succeeded(await workerStep(db.sql, revertId, tenantId, (tx) => revertTenantRows(tx, runId, tenantId)))
        expect(reverted.repair).toEqual({ total: repair.updated, updated: repair.updated })
        const after = await readFindings(db.sql, tenantId)
        expect(after.map(withoutUpdatedAt)).toEqual(stored.map(withoutUpdatedAt))

        // The revert run's own before-images are the original's, the other way round.
        const revertImages = await imagesOf(db.sql, revertId)
        expect(reverted.kept).toBe(repair.updated)
        expect(revertImages.map(({ rowId, before }) => ({ rowId, before: readImageValues(before) }))).toEqual(
          images.map(({ rowId, before }) => ({ rowId, before: pick(repaired.get(rowId)!, Object.keys(before)) })),
        )
        // The original's images are still there (a second revert is refused by the command side, not here).
        expect(await imagesOf(db.sql, runId)).toEqual(images)
        expect(await readFindings(db.sql, bystanderId)).toEqual(bystander)
        expect(await imagesOf(db.sql, runId, bystanderId)).toEqual([])
      }),
      { numRuns: runs },
    )
  })

  it('revert leaves alone exactly the findings changed since in a column the run wrote, and puts back the others', async () => {
    await fc.assert(
      fc.asyncProperty(
        tenantShape(validSeverity),
        fc.array(fc.boolean(), { minLength: MAX_FINDINGS, maxLength: MAX_FINDINGS }),
        fc.array(fc.nat(), { minLength: MAX_FINDINGS, maxLength: MAX_FINDINGS }),
        fc.array(fc.boolean(), { minLength: MAX_FINDINGS, maxLength: MAX_FINDINGS }),
        async (shape, editMask, editColumn, otherEditMask) => {
          const { tenantId, stored } = await seedTenant(shape)
          const runId = newRunId()
          succeeded(await workerStep(db.sql, runId, tenantId, repairStep(shape.repair, tenantId)))
          const images = await imagesOf(db.sql, runId)

          // Edits after the run: some findings in a column the run wrote (revert must skip them), others
          // only in a column it did not write (fingerprint: revert still puts back what the run changed).
          const edited = new Set<number>()
          const otherEdited = new Set<number>()
          for (const [index, image] of images.entries()) {
            const columns = Object.keys(image.before).sort()
            if (editMask[index]) {
              const column = columns[editColumn[index]! % columns.length]!
              const edit = EDIT[column]
              if (!edit) throw new Error(`no edit for column ${column}`)
              await db.sql.unsafe(`update findings set ${edit}, updated_at = now() where id = $1`, [image.rowId])
              edited.add(image.rowId)
            } else if (otherEditMask[index]) {
              await db.sql`update findings set fingerprint = fingerprint || '-renamed', updated_at = now() where id = ${image.rowId}`
              otherEdited.add(image.rowId)
            }
          }
          const beforeRevert = await readFindings(db.sql, tenantId)

          const reverted = succeeded(await workerStep(db.sql, newRunId(), tenantId, (tx) => revertTenantRows(tx, runId, tenantId)))
          const skipped = reverted.repair.total - reverted.repair.updated
          expect(reverted.repair.total).toBe(images.length)
          expect(reverted.repair.updated + skipped).toBe(images.length)
          expect(skipped).toBe(edited.size)

          const after = await readFindings(db.sql, tenantId)
          const imaged = new Set(images.map((image) => image.rowId))
          for (const [index, row] of after.entries()) {
            const original = stored[index]!
            const current = beforeRevert[index]!
            if (edited.has(row.id)) expect(row).toEqual(current)
            else if (otherEdited.has(row.id)) expect(withoutUpdatedAt(row)).toEqual({ ...withoutUpdatedAt(original), fingerprint: current.fingerprint })
            else if (imaged.has(row.id)) expect(withoutUpdatedAt(row)).toEqual(withoutUpdatedAt(original))
            else expect(row).toEqual(original)
          }
          expect(await readFindings(db.sql, bystanderId)).toEqual(bystander)
        },
      ),
      { numRuns: runs },
    )
  })

  it('revert puts back whatever the session time zone of the run and of the revert', async () => {
    const zones = fc.constantFrom('UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham')
    await fc.assert(
      fc.asyncProperty(tenantShape(validSeverity), zones, zones, async (shape, runZone, revertZone) => {
        const { tenantId, stored } = await seedTenant(shape)
        const runId = newRunId()
        const { repair } = succeeded(await workerStep(db.sql, runId, tenantId, repairStep(shape.repair, tenantId), runZone))
        const reverted = succeeded(
          await workerStep(db.sql, newRunId(), tenantId, (tx) => revertTenantRows(tx, runId, tenantId), revertZone),
        )
        expect(reverted.repair).toEqual({ total: repair.updated, updated: repair.updated })
        expect((await readFindings(db.sql, tenantId)).map(withoutUpdatedAt)).toEqual(stored.map(withoutUpdatedAt))
      }),
      { numRuns: Math.ceil(runs / 2) },
    )
  })

  it('purgeBeforeImages drops exactly the images older than the retention', async () => {
    const rollback = new Error('rollback')
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }),
        // Ages in milliseconds, many right at the retention's edge.
        fc.array(
          fc.oneof(
            fc.integer({ min: 0, max: 120 * DAY }),
            fc.constantFrom(-1000, -1, 0, 1, 1000).map((delta) => ({ delta })),
          ),
          { maxLength: 12 },
        ),
        async (retentionDays, ageShapes) => {
          const ages = ageShapes.map((age) => (typeof age === 'number' ? age : retentionDays * DAY + age.delta))
          // In one transaction (rolled back at the end): now() is the same instant for the inserts and the purge.
          await db.sql
            .begin(async (tx) => {
              await tx`set local time zone 'UTC'`
              const runId = newRunId()
              for (const [index, age] of ages.entries()) {
                await tx`
                  insert into ops_before_images (run_id, tenant_id, table_name, images, row_count, recorded_at)
                  values (${runId}, ${index + 1}, 'findings', '{"1": {"status": ["open", "new"]}}', 1,
                          now() - ${age}::bigint * interval '1 millisecond')`
              }
              const purged = await purgeBeforeImages(tx as unknown as Sql, retentionDays)
              const left = await tx<Array<{ row_id: string }>>`select tenant_id::text as row_id from ops_before_images where run_id = ${runId} order by tenant_id`
              const older = ages.filter((age) => age > retentionDays * DAY).length
              expect(purged).toBe(older)
              expect(left.map((row) => Number(row.row_id))).toEqual(
                ages.flatMap((age, index) => (age > retentionDays * DAY ? [] : [index + 1])),
              )
              throw rollback
            })
            .catch((error: unknown) => {
              if (error !== rollback) throw error
            })
        },
      ),
      { numRuns: runs },
    )
  })

  it('purgeBeforeImages outside a transaction keeps younger images and images of the other properties', async () => {
    const runId = newRunId()
    const before = (await db.sql<Array<{ n: number }>>`select count(*)::integer as n from ops_before_images`)[0]!.n
    await db.sql`
      insert into ops_before_images (run_id, tenant_id, table_name, images, row_count, recorded_at)
      values (${runId}, 1, 'findings', '{"1": {"status": ["open", "new"]}}', 1, now() - interval '30 days' - interval '1 hour'),
             (${runId}, 2, 'findings', '{"2": {"status": ["open", "new"]}}', 1, now() - interval '30 days' + interval '1 hour'),
             (${runId}, 3, 'findings', '{"3": {"status": ["open", "new"]}}', 1, now() - interval '400 days')`
    expect(await purgeBeforeImages(db.sql, 30)).toBe(2)
    expect((await imagesOf(db.sql, runId)).map((image) => image.rowId)).toEqual([2])
    const after = (await db.sql<Array<{ n: number }>>`select count(*)::integer as n from ops_before_images`)[0]!.n
    expect(after).toBe(before + 1)
  })
})
