import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { comparePlans, planDrifted, type PlannedTenant } from '../../../src/commands/plan/plan-drift.js'

/** SPEC §11: drift beyond the tolerance is always refused, within it always accepted. */

const tenantPlans = fc
  .uniqueArray(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 12 })
  .chain((ids) =>
    fc.tuple(...ids.map((tenantId) => fc.record({ tenantId: fc.constant(tenantId), affected: fc.integer({ min: 0, max: 500 }), total: fc.integer({ min: 500, max: 600 }), wouldFail: fc.constant(null) }))),
  )

/** The same plan with `delta` findings more (or fewer) to change, spread over its tenants. */
function moved(plan: readonly PlannedTenant[], delta: number): PlannedTenant[] {
  const next = plan.map((t) => ({ ...t }))
  let left = delta
  for (const tenant of next) {
    if (left === 0) break
    const step = left > 0 ? left : Math.max(left, -tenant.affected)
    tenant.affected += step
    left -= step
  }
  return next
}

const sum = (plan: readonly PlannedTenant[]) => plan.reduce((total, t) => total + t.affected, 0)

describe('planDrifted', () => {
  it("measures the move on the plans' sums, over the tenants that would succeed", () => {
    const fails = (tenantId: number, affected: number): PlannedTenant => ({ tenantId, affected, total: affected, wouldFail: 'INVALID_DATA' })
    const succeeds = (tenantId: number, affected: number): PlannedTenant => ({ tenantId, affected, total: affected, wouldFail: null })
    // The failing tenant's data repaired since: its 50 findings are now to be updated, 10 before (+500 %).
    expect(planDrifted([succeeds(1, 10), fails(2, 50)], [succeeds(1, 10), succeeds(2, 50)], 10)).toBe(true)
    // Still failing, with more findings: nothing more would be updated.
    expect(planDrifted([succeeds(1, 10), fails(2, 50)], [succeeds(1, 10), fails(2, 500)], 10)).toBe(false)
  })

  it('accepts every move within maxDriftPercent of the pinned affected count', () => {
    fc.assert(
      fc.property(tenantPlans, fc.integer({ min: 0, max: 100 }), fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }), (pinned, percent, up, share) => {
        const tolerance = Math.floor((sum(pinned) * percent) / 100)
        const delta = Math.round(tolerance * share) * (up ? 1 : -1)
        const current = moved(pinned, delta)
        fc.pre(sum(current) === sum(pinned) + delta)
        expect(planDrifted(pinned, current, percent)).toBe(false)
      }),
    )
  })

  it('refuses every move beyond it (of at least one finding)', () => {
    fc.assert(
      fc.property(tenantPlans, fc.integer({ min: 0, max: 100 }), fc.boolean(), fc.integer({ min: 1, max: 1000 }), (pinned, percent, up, extra) => {
        const tolerance = Math.floor((sum(pinned) * percent) / 100)
        const delta = (tolerance + extra) * (up ? 1 : -1)
        const current = moved(pinned, delta)
        fc.pre(sum(current) === sum(pinned) + delta)
        expect(planDrifted(pinned, current, percent)).toBe(true)
      }),
    )
  })

  it('takes a percentage with decimals exactly: a move of exactly 4.6 % is within 4.6 %', () => {
    const pinned: PlannedTenant[] = [{ tenantId: 1, affected: 1500, total: 2000, wouldFail: null }]
    expect(planDrifted(pinned, moved(pinned, 69), 4.6)).toBe(false)
    expect(planDrifted(pinned, moved(pinned, 70), 4.6)).toBe(true)
    expect(planDrifted([{ ...pinned[0]!, affected: 1250 }], [{ ...pinned[0]!, affected: 1250 + 57 }], 4.56)).toBe(false)
    fc.assert(
      fc.property(tenantPlans, fc.integer({ min: 0, max: 10_000 }), (plan, hundredths) => {
        const tolerance = Math.floor((sum(plan) * hundredths) / 10_000)
        expect(planDrifted(plan, moved(plan, tolerance), hundredths / 100)).toBe(false)
        expect(planDrifted(plan, moved(plan, tolerance + 1), hundredths / 100)).toBe(true)
      }),
    )
  })

  it('refuses a tenant that would now fail, whatever the tolerance; one that failed already is no drift', () => {
    const pinned: PlannedTenant[] = [
      { tenantId: 1, affected: 10, total: 20, wouldFail: null },
      { tenantId: 2, affected: 0, total: 5, wouldFail: 'INVALID_DATA' },
    ]
    expect(planDrifted(pinned, pinned, 0)).toBe(false)
    expect(planDrifted(pinned, [{ ...pinned[0]!, wouldFail: 'INVALID_DATA' }, pinned[1]!], 100)).toBe(true)
    expect(planDrifted(pinned, [pinned[0]!, { ...pinned[1]!, wouldFail: null }], 0)).toBe(false)
  })

  it('names exactly the tenants whose plan changed', () => {
    const pinned: PlannedTenant[] = [
      { tenantId: 1, affected: 10, total: 20, wouldFail: null },
      { tenantId: 2, affected: 3, total: 5, wouldFail: null },
    ]
    const current: PlannedTenant[] = [pinned[0]!, { ...pinned[1]!, affected: 4 }, { tenantId: 3, affected: 1, total: 1, wouldFail: null }]
    const totals = { affectedCount: 0, totalCount: 0, estimatedTenants: 0 }
    expect(comparePlans({ result: totals, tenants: pinned }, { result: totals, tenants: current }).tenants).toEqual([
      { tenantId: 2, pinned: { affected: 3, total: 5, wouldFail: null }, current: { affected: 4, total: 5, wouldFail: null } },
      { tenantId: 3, pinned: null, current: { affected: 1, total: 1, wouldFail: null } },
    ])
  })

  it('names at most the first 100, those whose affected count or would-fail changed first, and counts them all', () => {
    const pinned: PlannedTenant[] = Array.from({ length: 150 }, (_, i) => ({ tenantId: i + 1, affected: 1, total: 10, wouldFail: null }))
    // Every tenant's total moved; only tenant 150's affected count did.
    const current = pinned.map((t) => ({ ...t, total: 11, affected: t.tenantId === 150 ? 2 : 1 }))
    const totals = { affectedCount: 0, totalCount: 0, estimatedTenants: 0 }
    const comparison = comparePlans({ result: totals, tenants: pinned }, { result: totals, tenants: current })
    expect(comparison.tenantsChanged).toBe(150)
    expect(comparison.tenants).toHaveLength(100)
    expect(comparison.tenants[0]!.tenantId).toBe(150)
  })
})
