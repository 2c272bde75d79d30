import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { TenantResult } from '../../../src/events/index.js'
import { ResultLog } from '../../../src/commands/run/result-log.js'

/** The run's persistent results: every version answers as a plain Map built the same way would. */

const result = (updated: number): TenantResult => ({ status: 'succeeded', total: updated + 1, updated })

describe('ResultLog', () => {
  it('keeps every version as it was, whichever version is extended (model: one Map per version)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ from: fc.nat(), tenantId: fc.integer({ min: 1, max: 8 }), updated: fc.nat(5) }), { maxLength: 40 }),
        (steps) => {
          const versions: Array<{ log: ResultLog; model: Map<number, TenantResult> }> = [{ log: ResultLog.empty(), model: new Map() }]
          for (const step of steps) {
            const base = versions[step.from % versions.length]!
            const log = base.log.with(step.tenantId, result(step.updated))
            const model = new Map(base.model).set(step.tenantId, result(step.updated))
            versions.push({ log, model })
          }
          for (const { log, model } of versions) {
            expect([...log]).toEqual([...model])
            expect(log.size).toBe(model.size)
            for (let tenantId = 1; tenantId <= 8; tenantId++) {
              expect(log.get(tenantId)).toEqual(model.get(tenantId))
              expect(log.has(tenantId)).toBe(model.has(tenantId))
            }
            expect([...log.keys()]).toEqual([...model.keys()])
            expect([...log.values()]).toEqual([...model.values()])
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('extends the newest version in place and copies when an older one is extended', () => {
    const one = ResultLog.empty().with(11, result(1))
    const two = one.with(12, result(2))
    expect(one.has(12)).toBe(false)
    const branch = one.with(13, result(3))
    expect([...branch.keys()]).toEqual([11, 13])
    expect([...two.keys()]).toEqual([11, 12])
    expect(ResultLog.of([[5, result(0)], [6, result(1)]]).size).toBe(2)
  })

  it('shares the entry when the same result is folded again on the same version, and copies when it differs', () => {
    const backingOf = (log: ResultLog) => (log as unknown as { backing: Map<number, unknown> }).backing
    const base = ResultLog.of([[1, result(1)], [2, result(2)]])
    const first = base.with(3, result(3))
    const again = base.with(3, result(3))
    expect(backingOf(again)).toBe(backingOf(first))
    expect([...again]).toEqual([...first])
    expect([...base.keys()]).toEqual([1, 2])
    const differs = base.with(3, { status: 'failed', reasonCode: 'UNKNOWN', message: 'x' })
    expect(backingOf(differs)).not.toBe(backingOf(first))
    expect(differs.get(3)).toEqual({ status: 'failed', reasonCode: 'UNKNOWN', message: 'x' })
    expect(first.get(3)).toEqual(result(3))
    // The shared version is the newest too: extending it stays in place.
    expect(backingOf(again.with(4, result(4)))).toBe(backingOf(first))
  })
})
