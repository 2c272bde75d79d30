import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/database.js'
import { findingsSlaRecalculate as recalculate, slaRecalculateParameters } from '../../src/runbooks/findings-sla-recalculate.js'
import { RunbookDataError } from '../../src/runbooks/runbook.js'
import { databaseFlavours } from '../support/databases.js'
import { DAY, HOUR, T0, createPlatformTables, finding, insertFindings, insertTenant, readFindings, type FindingRow } from './findings-fixture.js'
import { referenceSlaRecalculation, referenceSlaRows, type SlaDays } from './sla-reference.js'

const MAX_FINDINGS = 12

/** Timestamps cluster on a few instants so equal values happen often; milliseconds are exercised too. */
const instant = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(T0, T0 + HOUR, T0 - DAY) },
  { weight: 1, arbitrary: fc.integer({ min: T0 - 400 * DAY, max: T0 + 400 * DAY }) },
)
const nullable = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: null, freq: 3 })
const dayCount = fc.oneof(fc.constantFrom(1, 3, 7, 30, 90, 365), fc.integer({ min: 1, max: 365 }))

/** Any subset of the four severities' days, or no `slaDays` at all. */
const slaDaysShape: fc.Arbitrary<Partial<SlaDays> | undefined> = fc.option(
  fc.record({ critical: dayCount, high: dayCount, medium: dayCount, low: dayCount }, { requiredKeys: [] }),
  { nil: undefined, freq: 4 },
)

const findingShape = fc.record({
  severity: fc.oneof(
    { weight: 30, arbitrary: fc.constantFrom('critical', 'high', 'medium', 'low', 'info') },
    { weight: 1, arbitrary: fc.constantFrom('urgent', 'Critical', '', 'high ') },
  ),
  status: fc.constantFrom(
    'new', 'triaged', 'in_progress', 'resolved', 'risk_accepted',
    'open', 'acknowledged', 'fixed', 'closed',
    'reopened', 'New', '',
  ),
  firstSeenAt: nullable(instant),
  /** A stored due date: none, any instant, or one that may already be right (first sighting + typical days). */
  slaDue: fc.oneof(
    fc.constant({ kind: 'null' as const }),
    instant.map((at) => ({ kind: 'at' as const, at })),
    dayCount.map((days) => ({ kind: 'days' as const, days })),
  ),
  updatedAt: instant,
})

const tenantShape = fc.record({
  findings: fc.array(findingShape, { maxLength: MAX_FINDINGS }),
  /** Ids in shuffled order, so that id order and insertion order differ. */
  ids: fc.uniqueArray(fc.integer({ min: 1, max: 99 }), { minLength: MAX_FINDINGS, maxLength: MAX_FINDINGS }),
  slaDays: slaDaysShape,
  /** Days of a second run: the same parameters, or others. */
  secondSlaDays: fc.option(slaDaysShape, { nil: null, freq: 2 }),
})

describe.each(databaseFlavours())('findings.sla.recalculate matches the reference of SPEC §13 on $name', ({ name, open }) => {
  let db: Database
  let nextTenantId = 1
  const bystanderId = 99_999
  let bystander: FindingRow[] = []

  beforeAll(async () => {
    db = await open()
    await createPlatformTables(db.sql)
    await insertTenant(db.sql, { id: bystanderId })
    await insertFindings(db.sql, [
      finding(bystanderId * 100 + 1, bystanderId, { severity: 'critical', status: 'new' }),
      finding(bystanderId * 100 + 2, bystanderId, { severity: 'low', status: 'triaged', slaDueAt: T0 }),
    ])
    bystander = await readFindings(db.sql, bystanderId)
  })
  afterAll(async () => {
    await db?.close()
  })

  async function execute(tenantId: number, slaDays: Partial<SlaDays> | undefined) {
    return db.sql.begin(async (tx) => {
      const result = await recalculate
        .executeTenant(tx, tenantId, slaRecalculateParameters.parse(slaDays === undefined ? {} : { slaDays }))
        .then(
          (repair) => ({ repair }),
          (error: unknown) => ({ error }),
        )
      const [row] = await tx<Array<{ now: Date }>>`select now() as now`
      return { ...result, now: row!.now.getTime() }
    })
  }

  it('recalculates random tenants exactly like the reference, counts like its preflight, and is idempotent', async () => {
    await fc.assert(
      fc.asyncProperty(tenantShape, async ({ findings, ids, slaDays, secondSlaDays }) => {
        const tenantId = nextTenantId++
        const rows: FindingRow[] = findings.map(({ slaDue, ...shape }, index) =>
          finding(tenantId * 100 + ids[index]!, tenantId, {
            ...shape,
            slaDueAt:
              slaDue.kind === 'null' ? null
              : slaDue.kind === 'at' ? slaDue.at
              : shape.firstSeenAt === null ? null
              : shape.firstSeenAt + slaDue.days * DAY,
          }),
        )
        await insertTenant(db.sql, { id: tenantId })
        await insertFindings(db.sql, rows)
        const stored = await readFindings(db.sql, tenantId)
        const expected = referenceSlaRecalculation(stored, slaDays)
        const params = slaRecalculateParameters.parse(slaDays === undefined ? {} : { slaDays })

        const preflight = await recalculate.preflightTenant(db.sql, tenantId, params)
        expect(preflight.total).toBe(stored.length)
        expect(await readFindings(db.sql, tenantId)).toEqual(stored)

        const outcome = await execute(tenantId, slaDays)
        // The preview names the tenant's repair as failing exactly when the repair then fails (SPEC §11).
        expect(preflight.wouldFail ?? null).toEqual(
          expected.invalidFindingId === null ? null : { reasonCode: 'INVALID_DATA', message: expect.stringContaining(`finding ${expected.invalidFindingId} `) },
        )
        if (expected.invalidFindingId !== null) {
          expect('error' in outcome && outcome.error).toBeInstanceOf(RunbookDataError)
          const error = (outcome as { error: RunbookDataError }).error
          expect(error.reasonCode).toBe('INVALID_DATA')
          expect(error.recordId).toBe(expected.invalidFindingId)
          expect(error.message).toContain(`finding ${expected.invalidFindingId}`)
          expect(await readFindings(db.sql, tenantId)).toEqual(stored)
          return
        }
        if (!('repair' in outcome)) throw outcome.error
        expect(preflight).toEqual({ affected: expected.wouldUpdate, total: stored.length, wouldFail: null })
        expect(outcome.repair).toEqual({ total: stored.length, updated: expected.wouldUpdate })
        const afterFirst = await readFindings(db.sql, tenantId)
        expect(afterFirst).toEqual(referenceSlaRows(stored, slaDays ?? {}, outcome.now))

        // The same parameters again: nothing left to do.
        expect(await recalculate.preflightTenant(db.sql, tenantId, params)).toEqual({ affected: 0, total: stored.length, wouldFail: null })
        const again = await execute(tenantId, slaDays)
        expect(again).toMatchObject({ repair: { total: stored.length, updated: 0 } })
        expect(await readFindings(db.sql, tenantId)).toEqual(afterFirst)

        // Other parameters: exactly what the reference says about the repaired rows.
        if (secondSlaDays !== null) {
          const secondExpected = referenceSlaRecalculation(afterFirst, secondSlaDays)
          const second = await execute(tenantId, secondSlaDays)
          if (!('repair' in second)) throw second.error
          expect(second.repair).toEqual({ total: stored.length, updated: secondExpected.wouldUpdate })
          expect(await readFindings(db.sql, tenantId)).toEqual(referenceSlaRows(afterFirst, secondSlaDays ?? {}, second.now))
        }
      }),
      { numRuns: name === 'PostgreSQL' ? 150 : 100 },
    )
    expect(await readFindings(db.sql, bystanderId)).toEqual(bystander)
  })
})
