import { z } from 'zod'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/database.js'
import { findingsSlaRecalculate as recalculate, slaRecalculateParameters } from '../../src/runbooks/findings-sla-recalculate.js'
import { RunbookDataError } from '../../src/runbooks/runbook.js'
import { databaseFlavours } from '../support/databases.js'
import { DAY, HOUR, T0, createPlatformTables, finding, insertFindings, insertTenant, readFindings, type FindingRow } from './findings-fixture.js'
import { referenceSlaRecalculation, referenceSlaRows, type SlaDays } from './sla-reference.js'

describe('findings.sla.recalculate parameters', () => {
  it('publish the four day counts as a JSON Schema with the defaults 3/7/30/90 and bounds 1–365', () => {
    const schema = z.toJSONSchema(slaRecalculateParameters, { io: 'input' }) as unknown as {
      type: string
      required?: string[]
      additionalProperties: boolean
      properties: {
        slaDays: {
          type: string
          default: unknown
          required?: string[]
          additionalProperties: boolean
          properties: Record<string, { type: string; default: number; minimum: number; maximum: number }>
        }
      }
    }
    expect(schema.type).toBe('object')
    expect(schema.required ?? []).toEqual([])
    const slaDays = schema.properties.slaDays
    expect(slaDays.type).toBe('object')
    expect(slaDays.default).toEqual({ critical: 3, high: 7, medium: 30, low: 90 })
    // Any subset may be given: on input, none of the four is required.
    expect(slaDays.required ?? []).toEqual([])
    expect(Object.keys(slaDays.properties)).toEqual(['critical', 'high', 'medium', 'low'])
    const expected = { critical: 3, high: 7, medium: 30, low: 90 }
    for (const [severity, fallback] of Object.entries(expected)) {
      expect(slaDays.properties[severity]).toMatchObject({ type: 'integer', default: fallback, minimum: 1, maximum: 365 })
    }
  })

  it('fill in the defaults for any subset and refuse days outside 1–365, fractions and unknown keys', () => {
    expect(slaRecalculateParameters.parse({})).toEqual({ slaDays: { critical: 3, high: 7, medium: 30, low: 90 } })
    expect(slaRecalculateParameters.parse({ slaDays: {} })).toEqual({ slaDays: { critical: 3, high: 7, medium: 30, low: 90 } })
    expect(slaRecalculateParameters.parse({ slaDays: { critical: 1, low: 365 } })).toEqual({
      slaDays: { critical: 1, high: 7, medium: 30, low: 365 },
    })
    for (const slaDays of [{ critical: 0 }, { high: 366 }, { medium: 1.5 }, { low: -1 }, { low: '9' }, { info: 2 }]) {
      const result = slaRecalculateParameters.safeParse({ slaDays })
      expect(result.success, JSON.stringify(slaDays)).toBe(false)
    }
    expect(slaRecalculateParameters.safeParse({ days: 3 }).success).toBe(false)
  })
})

describe.each(databaseFlavours())('findings.sla.recalculate on $name', ({ open }) => {
  let db: Database
  let nextTenantId = 1
  let nextFindingId = 1

  beforeAll(async () => {
    db = await open()
    await createPlatformTables(db.sql)
  })
  afterAll(async () => {
    await db?.close()
  })

  /** A new tenant holding findings built from per-finding overrides; returns the tenant id and stored rows. */
  async function tenantWith(...overrides: Array<Partial<FindingRow>>): Promise<{ tenantId: number; before: FindingRow[] }> {
    const tenantId = nextTenantId++
    await insertTenant(db.sql, { id: tenantId })
    await insertFindings(
      db.sql,
      overrides.map((o) => finding(nextFindingId++, tenantId, o)),
    )
    return { tenantId, before: await readFindings(db.sql, tenantId) }
  }

  const parameters = (slaDays?: Partial<SlaDays>) => slaRecalculateParameters.parse(slaDays === undefined ? {} : { slaDays })

  /** Executes the runbook on one tenant in its own transaction; returns its counts and the transaction time. */
  async function execute(tenantId: number, slaDays?: Partial<SlaDays>) {
    return db.sql.begin(async (tx) => {
      const repair = await recalculate.executeTenant(tx, tenantId, parameters(slaDays))
      const [row] = await tx<Array<{ now: Date }>>`select now() as now`
      return { repair, now: row!.now.getTime() }
    })
  }

  /** Executes on a tenant holding the given findings, checks counts and rows against the reference, returns the rows. */
  async function recalculated(slaDays: Partial<SlaDays> | undefined, ...overrides: Array<Partial<FindingRow>>): Promise<FindingRow[]> {
    const { tenantId, before } = await tenantWith(...overrides)
    const { repair, now } = await execute(tenantId, slaDays)
    const expected = referenceSlaRecalculation(before, slaDays)
    expect(repair).toEqual({ total: expected.total, updated: expected.wouldUpdate })
    const after = await readFindings(db.sql, tenantId)
    expect(after).toEqual(referenceSlaRows(before, slaDays ?? {}, now))
    return after
  }

  describe('which findings', () => {
    it('recalculates new, triaged and in_progress findings', async () => {
      const rows = await recalculated(
        undefined,
        { status: 'new', severity: 'high', slaDueAt: null },
        { status: 'triaged', severity: 'high', slaDueAt: T0 + HOUR },
        { status: 'in_progress', severity: 'high', slaDueAt: T0 + 100 * DAY },
      )
      expect(rows.map((r) => r.slaDueAt)).toEqual([T0 + 7 * DAY, T0 + 7 * DAY, T0 + 7 * DAY])
    })

    it('leaves resolved, risk_accepted, legacy and any other status alone', async () => {
      const statuses = ['resolved', 'risk_accepted', 'open', 'acknowledged', 'fixed', 'closed', 'reopened', 'New', 'IN_PROGRESS', '', ' new']
      const rows = await recalculated(
        undefined,
        ...statuses.flatMap((status) => [
          { status, severity: 'critical', slaDueAt: null },
          { status, severity: 'critical', slaDueAt: T0 + HOUR },
        ]),
      )
      expect(rows.map((r) => r.slaDueAt)).toEqual(statuses.flatMap(() => [null, T0 + HOUR]))
      expect(rows.map((r) => r.updatedAt)).toEqual(rows.map(() => T0 + 2 * DAY))
    })

    it('gives each severity its default days: critical 3, high 7, medium 30, low 90 (of 24 hours)', async () => {
      const first = T0 - 2 * DAY + 5 * HOUR + 17
      const rows = await recalculated(
        undefined,
        { severity: 'critical', status: 'new', firstSeenAt: first },
        { severity: 'high', status: 'new', firstSeenAt: first },
        { severity: 'medium', status: 'new', firstSeenAt: first },
        { severity: 'low', status: 'new', firstSeenAt: first },
      )
      expect(rows.map((r) => (r.slaDueAt! - first) / HOUR)).toEqual([72, 168, 720, 2160])
    })

    it('leaves info findings alone, with or without a due date', async () => {
      const rows = await recalculated(
        undefined,
        { severity: 'info', status: 'new', slaDueAt: null },
        { severity: 'info', status: 'triaged', slaDueAt: T0 + DAY },
        { severity: 'info', status: 'in_progress', slaDueAt: T0 - DAY },
      )
      expect(rows.map((r) => r.slaDueAt)).toEqual([null, T0 + DAY, T0 - DAY])
    })

    it('leaves findings without first_seen_at alone (it is not coalesced from created_at)', async () => {
      const rows = await recalculated(
        undefined,
        { severity: 'critical', status: 'new', firstSeenAt: null, slaDueAt: null, createdAt: T0 - 5 * DAY },
        { severity: 'high', status: 'triaged', firstSeenAt: null, slaDueAt: T0 + 3 * DAY },
      )
      expect(rows.map((r) => [r.firstSeenAt, r.slaDueAt])).toEqual([
        [null, null],
        [null, T0 + 3 * DAY],
      ])
    })
  })

  describe('parameters', () => {
    it('takes custom days for all four severities', async () => {
      const rows = await recalculated(
        { critical: 1, high: 2, medium: 365, low: 45 },
        { severity: 'critical', status: 'new' },
        { severity: 'high', status: 'triaged' },
        { severity: 'medium', status: 'in_progress' },
        { severity: 'low', status: 'new' },
        { severity: 'info', status: 'new' },
      )
      expect(rows.map((r) => r.slaDueAt)).toEqual([T0 + DAY, T0 + 2 * DAY, T0 + 365 * DAY, T0 + 45 * DAY, null])
    })

    it('takes a subset of the days and the defaults for the others', async () => {
      const rows = await recalculated(
        { critical: 1 },
        { severity: 'critical', status: 'new' },
        { severity: 'high', status: 'new' },
        { severity: 'medium', status: 'new' },
        { severity: 'low', status: 'new' },
      )
      expect(rows.map((r) => (r.slaDueAt! - T0) / DAY)).toEqual([1, 7, 30, 90])
      const more = await recalculated(
        { high: 14, low: 1 },
        { severity: 'critical', status: 'new' },
        { severity: 'high', status: 'new' },
        { severity: 'medium', status: 'new' },
        { severity: 'low', status: 'new' },
      )
      expect(more.map((r) => (r.slaDueAt! - T0) / DAY)).toEqual([3, 14, 30, 1])
    })
  })

  describe('counts and updated_at', () => {
    it('counts only findings whose sla_due_at changes and bumps updated_at on those only', async () => {
      const { tenantId, before } = await tenantWith(
        { severity: 'critical', status: 'new', slaDueAt: null }, // changes
        { severity: 'critical', status: 'new', slaDueAt: T0 + 3 * DAY }, // already correct
        { severity: 'high', status: 'triaged', slaDueAt: T0 + 3 * DAY }, // changes
        { severity: 'medium', status: 'resolved', slaDueAt: null }, // left alone
        { severity: 'info', status: 'new', slaDueAt: null }, // left alone
        { severity: 'low', status: 'in_progress', slaDueAt: T0 + 90 * DAY + 1 }, // changes by 1 ms
      )
      const { repair, now } = await execute(tenantId)
      expect(repair).toEqual({ total: 6, updated: 3 })
      const after = await readFindings(db.sql, tenantId)
      expect(now).not.toBe(T0 + 2 * DAY)
      expect(after.map((r) => r.updatedAt)).toEqual([now, T0 + 2 * DAY, now, T0 + 2 * DAY, T0 + 2 * DAY, now])
      expect(after.map((r) => r.slaDueAt)).toEqual([T0 + 3 * DAY, T0 + 3 * DAY, T0 + 7 * DAY, null, null, T0 + 90 * DAY])
      // Nothing but sla_due_at and updated_at moves.
      expect(after.map(({ slaDueAt: _s, updatedAt: _u, ...rest }) => rest)).toEqual(
        before.map(({ slaDueAt: _s, updatedAt: _u, ...rest }) => rest),
      )
    })

    it('counts 0 and touches nothing when every due date is already right', async () => {
      const { tenantId, before } = await tenantWith(
        { severity: 'critical', status: 'new', slaDueAt: T0 + 3 * DAY },
        { severity: 'high', status: 'triaged', slaDueAt: T0 + 7 * DAY },
        { severity: 'medium', status: 'in_progress', slaDueAt: T0 + 30 * DAY },
        { severity: 'low', status: 'new', slaDueAt: T0 + 90 * DAY },
        { severity: 'info', status: 'new', slaDueAt: null },
        { severity: 'high', status: 'resolved', slaDueAt: null },
      )
      expect((await execute(tenantId)).repair).toEqual({ total: 6, updated: 0 })
      expect(await readFindings(db.sql, tenantId)).toEqual(before)
    })

    it('is idempotent for the same parameters and updates again for different ones', async () => {
      const { tenantId } = await tenantWith(
        { severity: 'critical', status: 'new' },
        { severity: 'high', status: 'triaged', slaDueAt: T0 },
        { severity: 'medium', status: 'in_progress' },
        { severity: 'low', status: 'open' },
        { severity: 'info', status: 'new' },
      )
      expect((await execute(tenantId)).repair).toEqual({ total: 5, updated: 3 })
      const afterFirst = await readFindings(db.sql, tenantId)
      expect((await execute(tenantId)).repair).toEqual({ total: 5, updated: 0 })
      expect(await readFindings(db.sql, tenantId)).toEqual(afterFirst)
      // Explicit defaults are the same parameters.
      expect((await execute(tenantId, { critical: 3, high: 7, medium: 30, low: 90 })).repair).toEqual({ total: 5, updated: 0 })

      // Only the severities whose days differ move.
      const { repair, now } = await execute(tenantId, { critical: 1, medium: 30 })
      expect(repair).toEqual({ total: 5, updated: 1 })
      const afterSecond = await readFindings(db.sql, tenantId)
      expect(afterSecond).toEqual(referenceSlaRows(afterFirst, { critical: 1, medium: 30 }, now))
      expect(afterSecond[0]).toMatchObject({ slaDueAt: T0 + DAY, updatedAt: now })
      expect((await execute(tenantId, { critical: 1 })).repair).toEqual({ total: 5, updated: 0 })
      // And back to the defaults.
      expect((await execute(tenantId)).repair).toEqual({ total: 5, updated: 1 })
      expect((await readFindings(db.sql, tenantId)).map((r) => r.slaDueAt)).toEqual(afterFirst.map((r) => r.slaDueAt))
    })

    it('answers zero for a tenant without findings', async () => {
      const { tenantId } = await tenantWith()
      expect((await execute(tenantId)).repair).toEqual({ total: 0, updated: 0 })
      expect(await recalculate.preflightTenant(db.sql, tenantId, parameters())).toEqual({ affected: 0, total: 0, wouldFail: null })
    })
  })

  describe('unsafe data', () => {
    it('fails the tenant with INVALID_DATA naming the lowest unknown-severity finding, and changes nothing', async () => {
      const tenantId = nextTenantId++
      await insertTenant(db.sql, { id: tenantId })
      await insertFindings(db.sql, [
        finding(9001, tenantId, { severity: 'critical', status: 'new' }),
        finding(9002, tenantId, { severity: 'high', status: 'triaged', slaDueAt: T0 }),
        finding(9030, tenantId, { severity: 'urgent', status: 'new' }),
        // An unknown severity on a finding the rule would leave alone still makes the tenant unsafe.
        finding(9020, tenantId, { severity: 'Critical', status: 'resolved' }),
        finding(9025, tenantId, { severity: '', status: 'new' }),
        finding(9003, tenantId, { severity: 'low', status: 'in_progress' }),
      ])
      const stored = await readFindings(db.sql, tenantId)
      expect(referenceSlaRecalculation(stored).invalidFindingId).toBe(9020)

      const error = await db.sql.begin(async (tx) => {
        const failure = await recalculate.executeTenant(tx, tenantId, parameters()).then(
          () => null,
          (e: unknown) => e,
        )
        // Even before any rollback, the transaction has changed nothing.
        expect(await readFindings(tx, tenantId)).toEqual(stored)
        return failure
      })
      expect(error).toBeInstanceOf(RunbookDataError)
      const dataError = error as RunbookDataError
      expect(dataError.reasonCode).toBe('INVALID_DATA')
      expect(dataError.recordId).toBe(9020)
      expect(dataError.message).toMatch(/\bfinding 9020\b/)
      expect(await readFindings(db.sql, tenantId)).toEqual(stored)
    })

    it('fails a tenant whose only unknown severity is on a finding without first_seen_at', async () => {
      const { tenantId, before } = await tenantWith(
        { severity: 'critical', status: 'new' },
        { severity: 'severe', status: 'new', firstSeenAt: null },
      )
      await expect(execute(tenantId)).rejects.toMatchObject({ reasonCode: 'INVALID_DATA', recordId: before[1]!.id })
      expect(await readFindings(db.sql, tenantId)).toEqual(before)
    })
  })

  it('fails a tenant whose due date would pass the latest timestamp, naming the finding, in its preview too', async () => {
    const { tenantId } = await tenantWith({ severity: 'low', status: 'new' }, { severity: 'critical', status: 'new' }, { severity: 'low', status: 'new' })
    const [far, infinite] = [nextFindingId - 3, nextFindingId - 1]
    await db.sql`update findings set first_seen_at = '294276-12-20 00:00:00+00' where id = ${far}`
    await db.sql`update findings set first_seen_at = 'infinity' where id = ${infinite}`
    const stored = await readFindings(db.sql, tenantId)
    const preview = await recalculate.preflightTenant(db.sql, tenantId, parameters())
    expect(preview.wouldFail).toEqual({ reasonCode: 'INVALID_DATA', message: expect.stringContaining(`finding ${far} would get an SLA due date beyond`) })
    await expect(execute(tenantId)).rejects.toMatchObject({ reasonCode: 'INVALID_DATA', recordId: far })
    expect(await readFindings(db.sql, tenantId)).toEqual(stored)
    // Three days (critical) from the same moment still fit: the tenant is repaired, the infinite one stays infinite.
    await db.sql`update findings set severity = 'critical' where id = ${far}`
    await db.sql`update findings set first_seen_at = '294276-12-20 00:00:00+00' where id = ${far}`
    expect((await recalculate.preflightTenant(db.sql, tenantId, parameters())).wouldFail).toBeNull()
    expect((await execute(tenantId)).repair.updated).toBe(3)
    const [row] = await db.sql<Array<{ due: string }>>`select sla_due_at::text as due from findings where id = ${infinite}`
    expect(row?.due).toBe('infinity')
  })

  it('leaves other tenants untouched, even unsafe ones', async () => {
    const target = await tenantWith(
      { severity: 'critical', status: 'new' },
      { severity: 'high', status: 'triaged', slaDueAt: T0 },
    )
    const bystander = await tenantWith(
      { severity: 'critical', status: 'new' },
      { severity: 'high', status: 'triaged', slaDueAt: T0 },
      { severity: 'medium', status: 'in_progress' },
    )
    const unsafeBystander = await tenantWith({ severity: 'critical', status: 'new' }, { severity: 'bogus', status: 'new' })
    const { repair } = await execute(target.tenantId, { critical: 2 })
    expect(repair).toEqual({ total: 2, updated: 2 })
    expect(await readFindings(db.sql, bystander.tenantId)).toEqual(bystander.before)
    expect(await readFindings(db.sql, unsafeBystander.tenantId)).toEqual(unsafeBystander.before)
  })

  it('preflight counts what the run then updates, total = findings of the tenant, and changes nothing', async () => {
    const overrides: Array<Partial<FindingRow>> = [
      { severity: 'critical', status: 'new' },
      { severity: 'critical', status: 'new', slaDueAt: T0 + 3 * DAY },
      { severity: 'high', status: 'triaged', slaDueAt: T0 + 7 * DAY },
      { severity: 'medium', status: 'in_progress', slaDueAt: T0 },
      { severity: 'low', status: 'open' },
      { severity: 'low', status: 'new', firstSeenAt: null },
      { severity: 'info', status: 'new' },
      { severity: 'high', status: 'resolved' },
    ]
    for (const slaDays of [undefined, { high: 7 }, { critical: 5, high: 1 }] as const) {
      const { tenantId, before } = await tenantWith(...overrides)
      const expected = referenceSlaRecalculation(before, slaDays)
      const preflight = await recalculate.preflightTenant(db.sql, tenantId, parameters(slaDays))
      expect(await readFindings(db.sql, tenantId)).toEqual(before)
      expect(preflight).toEqual({ affected: expected.wouldUpdate, total: 8, wouldFail: null })
      const { repair } = await execute(tenantId, slaDays)
      expect(repair).toEqual({ updated: preflight.affected, total: preflight.total })
      expect(await db.sql.begin((tx) => recalculate.preflightTenant(tx, tenantId, parameters(slaDays)))).toEqual({ affected: 0, total: 8, wouldFail: null })
    }
  })

  it('counts a day as 24 hours whatever the session time zone, across DST changes', async () => {
    // America/New_York springs forward on 2025-03-09 and falls back on 2025-11-02.
    const springFirst = Date.UTC(2025, 2, 7, 17)
    const fallFirst = Date.UTC(2025, 9, 31, 12)
    const { tenantId, before } = await tenantWith(
      { severity: 'critical', status: 'new', firstSeenAt: springFirst },
      { severity: 'high', status: 'triaged', firstSeenAt: springFirst },
      { severity: 'critical', status: 'in_progress', firstSeenAt: fallFirst },
      { severity: 'medium', status: 'new', firstSeenAt: Date.UTC(2025, 1, 20, 3) },
      { severity: 'low', status: 'new', firstSeenAt: Date.UTC(2025, 8, 1, 12) },
    )
    const slaDays = { critical: 3, high: 2 }
    const { zone, preflight, repair, now } = await db.sql.begin(async (tx) => {
      await tx`set local time zone 'America/New_York'`
      const preflight = await recalculate.preflightTenant(tx, tenantId, parameters(slaDays))
      const repair = await recalculate.executeTenant(tx, tenantId, parameters(slaDays))
      const [row] = await tx<Array<{ zone: string; now: Date }>>`select current_setting('TimeZone') as zone, now() as now`
      return { zone: row!.zone, preflight, repair, now: row!.now.getTime() }
    })
    expect(zone).toBe('America/New_York')
    expect(preflight).toEqual({ affected: 5, total: 5, wouldFail: null })
    expect(repair).toEqual({ updated: 5, total: 5 })
    const rows = await readFindings(db.sql, tenantId)
    expect(rows).toEqual(referenceSlaRows(before, slaDays, now))
    expect(rows.map((r) => (r.slaDueAt! - r.firstSeenAt!) / HOUR)).toEqual([72, 48, 72, 720, 2160])
    // 12:00 EST on Friday 7 March + 72 h is 13:00 EDT on Monday 10 March, not 12:00.
    expect(rows[0]!.slaDueAt).toBe(Date.UTC(2025, 2, 10, 17))
    expect(rows[2]!.slaDueAt).toBe(Date.UTC(2025, 10, 3, 12))

    // A second run under another zone agrees: nothing to update.
    const again = await db.sql.begin(async (tx) => {
      await tx`set local time zone 'Pacific/Chatham'`
      return recalculate.executeTenant(tx, tenantId, parameters(slaDays))
    })
    expect(again).toEqual({ updated: 0, total: 5 })
  })
})
