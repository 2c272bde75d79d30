import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/database.js'
import { findingsLifecycleBackfill as backfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import { RunbookDataError } from '../../src/runbooks/runbook.js'
import { databaseFlavours } from '../support/databases.js'
import { DAY, HOUR, T0, createPlatformTables, insertFindings, insertTenant, readFindings, type FindingRow } from './findings-fixture.js'
import { referenceRepair } from './lifecycle-reference.js'

const MAX_FINDINGS = 12

/** Timestamps cluster on a few instants so ties and equal first/last values happen often. */
const instant = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(T0, T0 + HOUR, T0 - DAY) },
  { weight: 1, arbitrary: fc.integer({ min: T0 - 120 * DAY, max: T0 + 120 * DAY }) },
)
const nullable = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: null, freq: 3 })

const findingShape = fc.record({
  fingerprint: fc.constantFrom('a', 'b', 'c'),
  severity: fc.oneof(
    { weight: 30, arbitrary: fc.constantFrom('critical', 'high', 'medium', 'low', 'info') },
    { weight: 1, arbitrary: fc.constantFrom('urgent', 'Critical', '') },
  ),
  status: fc.constantFrom(
    'open', 'acknowledged', 'fixed', 'closed',
    'new', 'triaged', 'in_progress', 'resolved', 'risk_accepted',
    'reopened', 'Open',
  ),
  firstSeenAt: nullable(instant),
  lastSeenAt: nullable(instant),
  timesSeen: nullable(fc.integer({ min: -2, max: 5 })),
  slaDueAt: fc.option(instant, { nil: null, freq: 1 }),
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

const tenantShape = fc.record({
  findings: fc.array(findingShape, { maxLength: MAX_FINDINGS, size: 'max' }),
  /** Ids in shuffled order, so that id order and insertion order differ. */
  ids: fc.uniqueArray(fc.integer({ min: 1, max: 99 }), { minLength: MAX_FINDINGS, maxLength: MAX_FINDINGS }),
})

describe.each(databaseFlavours())('findings.lifecycle.backfill matches the reference of SPEC §2 on $name', ({ name, open }) => {
  let db: Database
  let nextTenantId = 1

  beforeAll(async () => {
    db = await open()
    await createPlatformTables(db.sql)
  })
  afterAll(async () => {
    await db?.close()
  })

  it('repairs random tenants exactly like the reference, counts like its preflight, and is idempotent', async () => {
    await fc.assert(
      fc.asyncProperty(tenantShape, async ({ findings, ids }) => {
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
        const stored = await readFindings(db.sql, tenantId)
        const expected = referenceRepair(stored)

        const preflight = await backfill.preflightTenant(db.sql, tenantId, {})
        const outcome = await db.sql.begin(async (tx) => {
          const result = await backfill.executeTenant(tx, tenantId, {}).then(
            (repair) => ({ repair }),
            (error: unknown) => ({ error }),
          )
          const [row] = await tx<Array<{ now: Date }>>`select now() as now`
          return { ...result, now: row!.now.getTime() }
        })

        // The preview names the tenant's repair as failing exactly when the repair then fails (SPEC §11).
        expect(preflight.wouldFail ?? null).toEqual(
          expected.invalidFindingId === null ? null : { reasonCode: 'INVALID_DATA', message: expect.stringContaining(`finding ${expected.invalidFindingId} `) },
        )
        if (expected.invalidFindingId !== null) {
          expect('error' in outcome && outcome.error).toBeInstanceOf(RunbookDataError)
          expect((outcome as { error: RunbookDataError }).error.recordId).toBe(expected.invalidFindingId)
          expect(await readFindings(db.sql, tenantId)).toEqual(stored)
          return
        }
        if (!('repair' in outcome)) throw outcome.error
        const changed = expected.rows.filter((row) => row.changed).length
        expect(outcome.repair).toEqual({ total: stored.length, updated: changed })
        expect(preflight).toEqual({ affected: changed, total: stored.length, wouldFail: null })
        expect(await readFindings(db.sql, tenantId)).toEqual(
          expected.rows.map(({ repaired, changed }) => ({ ...repaired, updatedAt: changed ? outcome.now : repaired.updatedAt })),
        )
        expect(await db.sql.begin((tx) => backfill.executeTenant(tx, tenantId, {}))).toEqual({ total: stored.length, updated: 0 })
      }),
      { numRuns: name === 'PostgreSQL' ? 150 : 100 },
    )
  })
})
