import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/database.js'
import { findingsLifecycleBackfill as backfill } from '../../src/runbooks/findings-lifecycle-backfill.js'
import { RunbookDataError } from '../../src/runbooks/runbook.js'
import { databaseFlavours } from '../support/databases.js'
import {
  DAY,
  HOUR,
  T0,
  createPlatformTables,
  finding,
  insertFindings,
  insertTenant,
  readFindings,
  type FindingRow,
} from './findings-fixture.js'

/** A tenant mixing every kind of mess of SPEC §2, ids starting at `firstId`. */
function messyTenant(tenantId: number, firstId: number): FindingRow[] {
  let id = firstId
  const f = (overrides: Partial<FindingRow>) => finding(id++, tenantId, overrides)
  return [
    f({ status: 'open', severity: 'critical', firstSeenAt: null }),
    f({ status: 'acknowledged', severity: 'high', lastSeenAt: null, timesSeen: null }),
    f({ status: 'fixed', severity: 'low', resolvedReason: null }),
    f({ status: 'closed', severity: 'medium', lastSeenAt: T0 - DAY }),
    f({ status: 'new', severity: 'info', resolvedAt: T0 }),
    f({ fingerprint: 'dup', status: 'new', severity: 'high', firstSeenAt: T0 + DAY, timesSeen: 2 }),
    f({ fingerprint: 'dup', status: 'open', severity: 'high', firstSeenAt: T0 - DAY, timesSeen: 0 }),
    f({ status: 'reopened', severity: 'medium' }), // unknown status, no rule applies: unchanged
    f({}),
  ]
}

describe.each(databaseFlavours())('findings.lifecycle.backfill on $name', ({ open }) => {
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

  /** A new tenant holding `rows` built from per-finding overrides; returns the tenant id and stored rows. */
  async function tenantWith(...overrides: Array<Partial<FindingRow>>): Promise<{ tenantId: number; before: FindingRow[] }> {
    const tenantId = nextTenantId++
    await insertTenant(db.sql, { id: tenantId })
    const rows = overrides.map((o) => finding(nextFindingId++, tenantId, o))
    await insertFindings(db.sql, rows)
    return { tenantId, before: rows }
  }

  function repair(tenantId: number) {
    return db.sql.begin((tx) => backfill.executeTenant(tx, tenantId, {}))
  }

  /** Repairs a tenant holding the given findings and returns their stored rows afterwards. */
  async function repaired(...overrides: Array<Partial<FindingRow>>): Promise<FindingRow[]> {
    const { tenantId } = await tenantWith(...overrides)
    await repair(tenantId)
    return readFindings(db.sql, tenantId)
  }

  describe('step 1: normalise', () => {
    it('maps legacy statuses and coalesces resolved_reason only where fixed or closed is mapped', async () => {
      const rows = await repaired(
        { status: 'open' },
        { status: 'acknowledged' },
        { status: 'fixed', resolvedReason: null },
        { status: 'closed', resolvedReason: null },
        { status: 'closed', resolvedReason: 'wont_fix' },
        { status: 'fixed', resolvedReason: 'patched' },
        { status: 'resolved', resolvedReason: null, resolvedAt: T0 + DAY },
        { status: 'new' },
        { status: 'triaged', resolvedReason: 'stale' },
        { status: 'in_progress' },
        { status: 'risk_accepted' },
        { status: 'reopened', resolvedReason: 'x' },
        { status: 'Open' },
      )
      expect(rows.map((r) => [r.status, r.resolvedReason])).toEqual([
        ['new', null],
        ['triaged', null],
        ['resolved', 'fixed'],
        ['resolved', 'fixed'],
        ['resolved', 'wont_fix'],
        ['resolved', 'patched'],
        ['resolved', null],
        ['new', null],
        ['triaged', 'stale'],
        ['in_progress', null],
        ['risk_accepted', null],
        ['reopened', 'x'],
        ['Open', null],
      ])
    })

    it('coalesces first and last seen from created_at and updated_at and clamps last to first', async () => {
      const created = T0 - 3 * DAY
      const updated = T0 + 5 * DAY
      const rows = await repaired(
        { firstSeenAt: null, lastSeenAt: T0, createdAt: created, updatedAt: updated },
        { firstSeenAt: T0, lastSeenAt: null, createdAt: created, updatedAt: updated },
        { firstSeenAt: T0, lastSeenAt: T0 - HOUR },
        { firstSeenAt: T0 + 10 * DAY, lastSeenAt: null, updatedAt: updated },
        { firstSeenAt: null, lastSeenAt: null, createdAt: created, updatedAt: updated },
        { firstSeenAt: null, lastSeenAt: T0 - 4 * DAY, createdAt: created },
      )
      expect(rows.map((r) => [r.firstSeenAt, r.lastSeenAt])).toEqual([
        [created, T0],
        [T0, updated],
        [T0, T0],
        [T0 + 10 * DAY, T0 + 10 * DAY],
        [created, updated],
        [created, created],
      ])
    })

    it('sets times_seen to at least 1', async () => {
      const rows = await repaired({ timesSeen: null }, { timesSeen: 0 }, { timesSeen: -3 }, { timesSeen: 1 }, { timesSeen: 5 })
      expect(rows.map((r) => r.timesSeen)).toEqual([1, 1, 1, 1, 5])
    })
  })

  describe('step 2: duplicates', () => {
    it('makes the earliest finding canonical with min/max/sum and resolves the others as its duplicates', async () => {
      const rows = await repaired(
        { fingerprint: 'g', firstSeenAt: T0 - 10 * DAY, lastSeenAt: T0 - 9 * DAY, timesSeen: 2, status: 'new' },
        { fingerprint: 'g', firstSeenAt: T0 - 20 * DAY, lastSeenAt: T0 - 15 * DAY, timesSeen: 3, status: 'triaged' },
        { fingerprint: 'g', firstSeenAt: T0 - 5 * DAY, lastSeenAt: T0 + 4 * DAY, timesSeen: null, status: 'open' },
        { fingerprint: 'other', firstSeenAt: T0 - 30 * DAY, lastSeenAt: T0 + 30 * DAY, timesSeen: 7 },
      )
      const [a, canonical, c, other] = rows
      expect(canonical).toMatchObject({
        status: 'triaged',
        duplicateOfId: null,
        firstSeenAt: T0 - 20 * DAY,
        lastSeenAt: T0 + 4 * DAY,
        timesSeen: 6,
        resolvedReason: null,
        resolvedAt: null,
      })
      for (const [member, ownFirst, ownLast, ownTimes] of [
        [a, T0 - 10 * DAY, T0 - 9 * DAY, 2],
        [c, T0 - 5 * DAY, T0 + 4 * DAY, 1],
      ] as const) {
        expect(member).toMatchObject({
          status: 'resolved',
          resolvedReason: 'duplicate',
          duplicateOfId: canonical!.id,
          firstSeenAt: ownFirst,
          lastSeenAt: ownLast,
          timesSeen: ownTimes,
          resolvedAt: ownLast,
        })
      }
      expect(other).toMatchObject({ duplicateOfId: null, timesSeen: 7, status: 'triaged' })
    })

    it('breaks ties on first_seen_at by the lowest id', async () => {
      const rows = await repaired(
        { fingerprint: 'tie', firstSeenAt: T0, lastSeenAt: T0 + DAY, timesSeen: 1 },
        { fingerprint: 'tie', firstSeenAt: T0, lastSeenAt: T0 + 2 * DAY, timesSeen: 4 },
        { fingerprint: 'tie', firstSeenAt: T0 + HOUR, lastSeenAt: T0 + 3 * DAY, timesSeen: 1 },
      )
      const [lowest, second, third] = rows
      expect(lowest).toMatchObject({ duplicateOfId: null, status: 'triaged', timesSeen: 6, lastSeenAt: T0 + 3 * DAY })
      expect(second).toMatchObject({ duplicateOfId: lowest!.id, status: 'resolved', resolvedReason: 'duplicate' })
      expect(third).toMatchObject({ duplicateOfId: lowest!.id, status: 'resolved', resolvedReason: 'duplicate' })
    })

    it('groups on first_seen_at after step 1, so one coalesced from created_at can be canonical', async () => {
      const rows = await repaired(
        { fingerprint: 'c', firstSeenAt: T0 - 5 * DAY, lastSeenAt: T0 },
        { fingerprint: 'c', firstSeenAt: null, createdAt: T0 - 8 * DAY, lastSeenAt: T0 - 7 * DAY },
      )
      const [later, earlier] = rows
      expect(earlier).toMatchObject({ duplicateOfId: null, firstSeenAt: T0 - 8 * DAY, lastSeenAt: T0, timesSeen: 2 })
      expect(later).toMatchObject({ duplicateOfId: earlier!.id, status: 'resolved' })
    })

    it('leaves already-consolidated duplicates out of the groups', async () => {
      const { tenantId, before } = await tenantWith(
        { fingerprint: 'k', firstSeenAt: T0 - 3 * DAY, lastSeenAt: T0 - 2 * DAY },
        { fingerprint: 'k', firstSeenAt: T0 - 9 * DAY, lastSeenAt: T0 + 9 * DAY, timesSeen: 50, status: 'open' },
        { fingerprint: 'k', firstSeenAt: T0 - DAY, lastSeenAt: T0 },
      )
      // The earliest finding was consolidated earlier into the first one.
      await db.sql`update findings set duplicate_of_id = ${before[0]!.id} where id = ${before[1]!.id}`
      await repair(tenantId)
      const [canonical, consolidated, duplicate] = await readFindings(db.sql, tenantId)
      expect(canonical).toMatchObject({ duplicateOfId: null, firstSeenAt: T0 - 3 * DAY, lastSeenAt: T0, timesSeen: 2 })
      expect(consolidated).toMatchObject({
        duplicateOfId: before[0]!.id,
        status: 'new',
        firstSeenAt: T0 - 9 * DAY,
        lastSeenAt: T0 + 9 * DAY,
        timesSeen: 50,
        resolvedReason: null,
      })
      expect(duplicate).toMatchObject({ duplicateOfId: canonical!.id, status: 'resolved', resolvedReason: 'duplicate' })
    })

    it('leaves a group of one unchanged, and a lone finding among consolidated ones too', async () => {
      const { tenantId, before } = await tenantWith({ fingerprint: 'solo' }, { fingerprint: 'pair', duplicateOfId: null })
      await db.sql`update findings set duplicate_of_id = 999999 where id = ${before[1]!.id}`
      await insertFindings(db.sql, [finding(nextFindingId++, tenantId, { fingerprint: 'pair' })])
      const stored = await readFindings(db.sql, tenantId)
      expect(await repair(tenantId)).toEqual({ total: 3, updated: 0 })
      expect(await readFindings(db.sql, tenantId)).toEqual(stored)
    })
  })

  describe('step 3: consistency and SLA', () => {
    it('sets resolved_at of resolved findings to last_seen_at and clears it on unresolved ones', async () => {
      const rows = await repaired(
        { status: 'resolved', resolvedAt: null, lastSeenAt: null, updatedAt: T0 + 6 * DAY },
        { status: 'fixed', resolvedAt: null, lastSeenAt: T0 - DAY },
        { status: 'resolved', resolvedAt: T0 + 12 * HOUR },
        { status: 'triaged', resolvedAt: T0 },
        { status: 'open', resolvedAt: T0 },
        { status: 'risk_accepted', resolvedAt: T0 },
        { status: 'reopened', resolvedAt: T0 },
      )
      expect(rows.map((r) => r.resolvedAt)).toEqual([T0 + 6 * DAY, T0, T0 + 12 * HOUR, null, null, null, null])
    })

    it('sets the SLA by severity from first_seen_at on new, triaged and in_progress findings only', async () => {
      const first = T0 - 2 * DAY
      const rows = await repaired(
        { severity: 'critical', status: 'new', firstSeenAt: first },
        { severity: 'high', status: 'triaged', firstSeenAt: first },
        { severity: 'medium', status: 'in_progress', firstSeenAt: first },
        { severity: 'low', status: 'open', firstSeenAt: first },
        { severity: 'info', status: 'new', firstSeenAt: first },
        { severity: 'critical', status: 'resolved', firstSeenAt: first },
        { severity: 'critical', status: 'risk_accepted', firstSeenAt: first },
        { severity: 'critical', status: 'reopened', firstSeenAt: first },
        { severity: 'high', status: 'new', firstSeenAt: first, slaDueAt: T0 + HOUR },
        { severity: 'high', status: 'new', firstSeenAt: null, createdAt: T0 - 4 * DAY },
      )
      expect(rows.map((r) => r.slaDueAt)).toEqual([
        first + 72 * HOUR,
        first + 168 * HOUR,
        first + 720 * HOUR,
        first + 2160 * HOUR,
        null,
        null,
        null,
        null,
        T0 + HOUR,
        T0 - 4 * DAY + 168 * HOUR,
      ])
    })

    it('takes the canonical finding’s SLA from the group minimum, and gives resolved duplicates none', async () => {
      const rows = await repaired(
        { fingerprint: 's', severity: 'critical', status: 'new', firstSeenAt: T0 - DAY },
        { fingerprint: 's', severity: 'critical', status: 'new', firstSeenAt: null, createdAt: T0 - 3 * DAY },
      )
      expect(rows.map((r) => r.slaDueAt)).toEqual([null, T0 - 3 * DAY + 72 * HOUR])
    })

    it('counts SLA days as 24 hours under a DST time zone', async () => {
      // America/New_York springs forward on 2025-03-09 and falls back on 2025-11-02.
      const springFirst = Date.UTC(2025, 2, 7, 17)
      const fallFirst = Date.UTC(2025, 8, 1, 12)
      const { tenantId } = await tenantWith(
        { severity: 'critical', status: 'new', firstSeenAt: springFirst },
        { severity: 'medium', status: 'new', firstSeenAt: Date.UTC(2025, 1, 20, 3) },
        { severity: 'low', status: 'new', firstSeenAt: fallFirst },
        { severity: 'high', status: 'new', firstSeenAt: Date.UTC(2025, 9, 30, 23) },
      )
      const zone = await db.sql.begin(async (tx) => {
        await tx`set local time zone 'America/New_York'`
        await backfill.executeTenant(tx, tenantId, {})
        const [row] = await tx<Array<{ zone: string }>>`select current_setting('TimeZone') as zone`
        return row!.zone
      })
      expect(zone).toBe('America/New_York')
      const rows = await readFindings(db.sql, tenantId)
      expect(rows.map((r) => (r.slaDueAt! - r.firstSeenAt!) / HOUR)).toEqual([72, 720, 2160, 168])
      expect(rows[0]!.slaDueAt).toBe(Date.UTC(2025, 2, 10, 17))
    })
  })

  it('bumps updated_at to the transaction time on changed rows only', async () => {
    const { tenantId, before } = await tenantWith({ status: 'open' }, {}, { timesSeen: null }, {})
    const now = await db.sql.begin(async (tx) => {
      await backfill.executeTenant(tx, tenantId, {})
      const [row] = await tx<Array<{ now: Date }>>`select now() as now`
      return row!.now.getTime()
    })
    const after = await readFindings(db.sql, tenantId)
    expect(after.map((r) => r.updatedAt)).toEqual([now, before[1]!.updatedAt, now, before[3]!.updatedAt])
    expect(now).not.toBe(before[1]!.updatedAt)
  })

  it('refuses a tenant with an unknown severity, naming the lowest offending finding, and changes nothing', async () => {
    const tenantId = nextTenantId++
    await insertTenant(db.sql, { id: tenantId })
    const rows = [
      ...messyTenant(tenantId, 5000),
      finding(5020, tenantId, { severity: 'urgent', status: 'open' }),
      finding(5010, tenantId, { severity: 'Critical' }),
    ]
    await insertFindings(db.sql, rows)
    const stored = await readFindings(db.sql, tenantId)

    const error = await db.sql
      .begin(async (tx) => {
        const failure = await backfill.executeTenant(tx, tenantId, {}).then(
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
    expect(dataError.recordId).toBe(5010)
    expect(dataError.message).toContain('finding 5010')
    expect(await readFindings(db.sql, tenantId)).toEqual(stored)
  })

  it('refuses a tenant whose duplicate group sums times_seen beyond the integer column, in its preview too', async () => {
    const tenantId = nextTenantId++
    await insertTenant(db.sql, { id: tenantId })
    const rows = [
      finding(5100, tenantId, { fingerprint: 'many', firstSeenAt: T0, timesSeen: 2_147_483_000 }),
      finding(5101, tenantId, { fingerprint: 'many', firstSeenAt: T0 + DAY, timesSeen: 1_000 }),
      finding(5102, tenantId, { status: 'open' }),
    ]
    await insertFindings(db.sql, rows)
    const stored = await readFindings(db.sql, tenantId)

    const preview = await backfill.preflightTenant(db.sql, tenantId, {})
    expect(preview.wouldFail).toEqual({ reasonCode: 'INVALID_DATA', message: expect.stringContaining('finding 5100 would get a times_seen sum') })

    const error = await repair(tenantId).then(() => null, (e: unknown) => e)
    expect(error).toBeInstanceOf(RunbookDataError)
    expect((error as RunbookDataError).reasonCode).toBe('INVALID_DATA')
    expect((error as RunbookDataError).recordId).toBe(5100)
    expect(await readFindings(db.sql, tenantId)).toEqual(stored)
  })

  it('refuses a tenant whose SLA due date would pass the latest timestamp, in its preview too', async () => {
    const { tenantId } = await tenantWith({ status: 'new', severity: 'low', slaDueAt: null }, { status: 'open', severity: 'high', slaDueAt: null })
    const far = nextFindingId - 2
    await db.sql`update findings set first_seen_at = '294276-12-20 00:00:00+00' where id = ${far}`
    const stored = await readFindings(db.sql, tenantId)
    const preview = await backfill.preflightTenant(db.sql, tenantId, {})
    expect(preview.wouldFail).toEqual({ reasonCode: 'INVALID_DATA', message: expect.stringContaining(`finding ${far} would get an SLA due date beyond`) })
    await expect(repair(tenantId)).rejects.toMatchObject({ reasonCode: 'INVALID_DATA', recordId: far })
    expect(await readFindings(db.sql, tenantId)).toEqual(stored)
  })

  it('sums times_seen up to the integer column\'s largest value', async () => {
    const rows = await repaired(
      { fingerprint: 'edge', firstSeenAt: T0, timesSeen: 2_147_483_000 },
      { fingerprint: 'edge', firstSeenAt: T0 + DAY, timesSeen: 647 },
    )
    expect(rows.map((r) => r.timesSeen)).toEqual([2_147_483_647, 647])
  })

  it('is idempotent: a second run updates nothing', async () => {
    const tenantId = nextTenantId++
    await insertTenant(db.sql, { id: tenantId })
    await insertFindings(db.sql, messyTenant(tenantId, 6000))
    const first = await repair(tenantId)
    expect(first).toEqual({ total: 9, updated: 7 })
    const afterFirst = await readFindings(db.sql, tenantId)
    expect(await repair(tenantId)).toEqual({ total: 9, updated: 0 })
    expect(await readFindings(db.sql, tenantId)).toEqual(afterFirst)
  })

  it('preflight counts exactly what the run then updates, and changes nothing itself', async () => {
    const tenantId = nextTenantId++
    await insertTenant(db.sql, { id: tenantId })
    await insertFindings(db.sql, messyTenant(tenantId, 7000))
    const stored = await readFindings(db.sql, tenantId)
    const preflight = await backfill.preflightTenant(db.sql, tenantId, {})
    expect(await readFindings(db.sql, tenantId)).toEqual(stored)
    const run = await repair(tenantId)
    expect(preflight).toEqual({ affected: run.updated, total: run.total, wouldFail: null })
    expect(preflight).toEqual({ affected: 7, total: 9, wouldFail: null })
    expect(await db.sql.begin((tx) => backfill.preflightTenant(tx, tenantId, {}))).toEqual({ affected: 0, total: 9, wouldFail: null })
  })

  it('leaves other tenants untouched', async () => {
    const target = nextTenantId++
    const bystander = nextTenantId++
    await insertTenant(db.sql, { id: target })
    await insertTenant(db.sql, { id: bystander })
    // The same fingerprints in both tenants must not form cross-tenant duplicate groups.
    await insertFindings(db.sql, [...messyTenant(target, 8000), ...messyTenant(bystander, 8100)])
    const bystanderBefore = await readFindings(db.sql, bystander)
    await repair(target)
    expect(await readFindings(db.sql, bystander)).toEqual(bystanderBefore)
    const targetAfter = await readFindings(db.sql, target)
    expect(targetAfter.filter((r) => r.duplicateOfId !== null).map((r) => r.duplicateOfId)).toEqual([8006])
  })

  it('answers zero for a tenant without findings', async () => {
    const { tenantId } = await tenantWith()
    expect(await repair(tenantId)).toEqual({ total: 0, updated: 0 })
    expect(await backfill.preflightTenant(db.sql, tenantId, {})).toEqual({ affected: 0, total: 0, wouldFail: null })
  })
})
