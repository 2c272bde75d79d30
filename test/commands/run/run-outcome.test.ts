import { describe, expect, it } from 'vitest'
import { outcomeOf, summaryCountsOf } from '../../../src/commands/run/run-outcome.js'
import { summaryCountsSchema } from '../../../src/events/index.js'
import { failed, succeeded } from './run-fixtures.js'

const ALLOWED_KEYS = ['total', 'processed', 'updated', 'skipped', 'failed', 'tenants']

describe('run outcome (SPEC §3)', () => {
  it('succeeded when no tenant failed, also for a run without tenants', () => {
    expect(outcomeOf([succeeded(3, 1), succeeded(0, 0)])).toBe('succeeded')
    expect(outcomeOf([])).toBe('succeeded')
  })

  it('partially_succeeded when some failed and some succeeded, whatever the reasons', () => {
    expect(outcomeOf([succeeded(3, 1), failed('DB_ERROR')])).toBe('partially_succeeded')
    expect(outcomeOf([failed('TENANT_NOT_ALLOWED'), succeeded(1, 0)])).toBe('partially_succeeded')
  })

  it('failed when every tenant failed', () => {
    expect(outcomeOf([failed('INVALID_DATA')])).toBe('failed')
    expect(outcomeOf([failed('TIMEOUT'), failed('DB_ERROR')])).toBe('failed')
  })

  it('blocked only when every tenant failed and every failure is TENANT_NOT_ALLOWED', () => {
    expect(outcomeOf([failed('TENANT_NOT_ALLOWED')])).toBe('blocked')
    expect(outcomeOf([failed('TENANT_NOT_ALLOWED'), failed('TENANT_NOT_ALLOWED')])).toBe('blocked')
    expect(outcomeOf([failed('TENANT_NOT_ALLOWED'), failed('TENANT_LOCKED')])).toBe('failed')
  })
})

describe('summary counts (SPEC §3)', () => {
  it('counts findings of the tenants that completed and the tenants that failed', () => {
    const counts = summaryCountsOf([succeeded(10, 4), failed('DB_ERROR'), succeeded(6, 6), failed('TIMEOUT')], 'all_tenants', 5)
    expect(counts).toEqual({ total: 16, processed: 16, updated: 10, skipped: 6, failed: 2, tenants: 5 })
  })

  it('carries `tenants` only for all-tenants runs', () => {
    const single = summaryCountsOf([succeeded(7, 2)], 'single_tenant', 1)
    expect(single).toEqual({ total: 7, processed: 7, updated: 2, skipped: 5, failed: 0 })
    expect(Object.hasOwn(single, 'tenants')).toBe(false)
  })

  it('uses only the allowed keys, which the event schema enforces', () => {
    for (const scope of ['single_tenant', 'all_tenants'] as const) {
      const counts = summaryCountsOf([succeeded(1, 1), failed('UNKNOWN')], scope, 2)
      expect(Object.keys(counts).every((key) => ALLOWED_KEYS.includes(key))).toBe(true)
      expect(summaryCountsSchema.safeParse(counts).success).toBe(true)
    }
    expect(summaryCountsSchema.safeParse({ total: 1, processed: 1, updated: 0, skipped: 1, failed: 0, retried: 1 }).success).toBe(false)
  })
})
