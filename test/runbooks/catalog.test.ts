import { describe, expect, it } from 'vitest'
import { findRunbook, runbookCatalog } from '../../src/runbooks/catalog.js'

describe('runbook catalog', () => {
  it('offers findings.lifecycle.backfill with the label and capability of SPEC §2', () => {
    const runbook = findRunbook('findings.lifecycle.backfill')
    expect(runbook).toMatchObject({
      key: 'findings.lifecycle.backfill',
      label: 'Findings lifecycle backfill',
      requiredCapability: 'platform.runbooks.findings.lifecycle_backfill',
    })
    expect(runbook?.description.length).toBeGreaterThan(20)
    expect(runbook?.estimatedDuration).toMatch(/findings/)
  })

  it('finds nothing for an unknown key', () => {
    expect(findRunbook('findings.lifecycle')).toBeUndefined()
    expect(findRunbook('')).toBeUndefined()
  })

  it('has unique keys', () => {
    const keys = runbookCatalog.map((runbook) => runbook.key)
    expect(new Set(keys).size).toBe(keys.length)
  })
})
