import { z } from 'zod'
import { describe, expect, it } from 'vitest'
import { capabilities } from '../../src/auth/capabilities.js'
import { builtInRunbooks } from '../../src/runbooks/built-in-runbooks.js'
import { createRunbookCatalog, repairedTables } from '../../src/runbooks/catalog.js'
import { defineRunbook, type Runbook } from '../../src/runbooks/runbook.js'
import { findingsLifecycleBackfill } from '../../src/runbooks/findings-lifecycle-backfill.js'

const catalog = createRunbookCatalog(builtInRunbooks)

function runbook(overrides: Partial<Runbook>): Runbook {
  return { ...findingsLifecycleBackfill, ...overrides }
}

describe('runbook catalog', () => {
  it('offers findings.lifecycle.backfill with the label and capability of SPEC §2', () => {
    const backfill = catalog.find('findings.lifecycle.backfill')
    expect(backfill).toMatchObject({
      key: 'findings.lifecycle.backfill',
      label: 'Findings lifecycle backfill',
      requiredCapability: 'platform.runbooks.findings.lifecycle_backfill',
      unit: 'findings',
    })
    expect(backfill?.description.length).toBeGreaterThan(20)
    expect(backfill?.estimatedDuration).toMatch(/findings/)
  })

  it('offers findings.sla.recalculate with the label, capability and unit of SPEC §13, second', () => {
    expect(catalog.runbooks.map((r) => r.key)).toEqual(['findings.lifecycle.backfill', 'findings.sla.recalculate'])
    expect(catalog.find('findings.sla.recalculate')).toMatchObject({
      label: 'Findings SLA recalculation',
      requiredCapability: 'platform.runbooks.findings.sla_recalculate',
      unit: 'findings',
    })
  })

  it('finds nothing for an unknown key', () => {
    expect(catalog.find('findings.lifecycle')).toBeUndefined()
    expect(catalog.find('')).toBeUndefined()
  })

  it('knows every base capability and each runbook’s own, once each', () => {
    expect(catalog.knownCapabilities).toEqual([
      ...Object.values(capabilities),
      'platform.runbooks.findings.lifecycle_backfill',
      'platform.runbooks.findings.sla_recalculate',
    ])
  })

  it('serves exactly the runbooks it was made with: a catalog is not a module-level singleton', () => {
    const only = createRunbookCatalog([findingsLifecycleBackfill])
    expect(only.runbooks).toHaveLength(1)
    expect(only.find('findings.sla.recalculate')).toBeUndefined()
    expect(only.knownCapabilities).not.toContain('platform.runbooks.findings.sla_recalculate')
  })

  it('keeps before-images of findings unless a runbook names the tables it repairs, which must be plain names', () => {
    expect(repairedTables(findingsLifecycleBackfill)).toEqual(['findings'])
    expect(repairedTables(runbook({ repairs: ['findings', 'assets'] }))).toEqual(['findings', 'assets'])
    expect(() => createRunbookCatalog([runbook({ repairs: ['findings; drop table tenants'] })])).toThrow(/repairs/)
    expect(() => createRunbookCatalog([runbook({ repairs: ['Findings'] })])).toThrow(/repairs/)
    expect(() => createRunbookCatalog([runbook({ repairs: ['findings', 'assets', 'findings'] })])).toThrow(/repairs names "findings" twice/)
  })

  it('refuses, at composition, a runbook twice, a malformed key or capability, or parameters without defaults', () => {
    expect(() => createRunbookCatalog([findingsLifecycleBackfill, findingsLifecycleBackfill])).toThrow(/twice/)
    expect(() => createRunbookCatalog([runbook({ key: 'Findings Backfill' })])).toThrow(/runbook key/)
    expect(() => createRunbookCatalog([runbook({ key: 'other.runbook', requiredCapability: 'platform.ops.view' })])).toThrow(/requiredCapability/)
    const needsValue = defineRunbook({
      ...findingsLifecycleBackfill,
      key: 'other.runbook',
      parameters: z.strictObject({ days: z.number().int() }),
    })
    expect(() => createRunbookCatalog([needsValue])).toThrow(/default/)
    const lenient = defineRunbook({ ...findingsLifecycleBackfill, key: 'other.runbook', parameters: z.object({ days: z.number().default(1) }) })
    expect(() => createRunbookCatalog([lenient])).toThrow(/unknown keys/)
    const dated = defineRunbook({ ...findingsLifecycleBackfill, key: 'other.runbook', parameters: z.strictObject({ since: z.date().default(new Date(0)) }) })
    expect(() => createRunbookCatalog([dated])).toThrow(/plain JSON/)
  })
})
