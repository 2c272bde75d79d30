import { describe, expect, it } from 'vitest'
import { allCapabilities, capabilities } from '../../src/auth/capabilities.js'

describe('capabilities', () => {
  it('names the SPEC §6 base capabilities and the halt capability of §9', () => {
    expect(capabilities).toEqual({
      opsView: 'platform.ops.view',
      runbooksView: 'platform.runbooks.view',
      runbooksRun: 'platform.runbooks.run',
      opsHalt: 'platform.ops.halt',
      operatorsManage: 'platform.operators.manage',
      runbooksApprove: 'platform.runbooks.approve',
    })
  })

  it('lists the base capabilities first, then each runbook capability once', () => {
    const lifecycle = 'platform.runbooks.findings.lifecycle_backfill'
    expect(allCapabilities([lifecycle, lifecycle, capabilities.opsView])).toEqual([
      'platform.ops.view',
      'platform.runbooks.view',
      'platform.runbooks.run',
      'platform.ops.halt',
      'platform.operators.manage',
      'platform.runbooks.approve',
      lifecycle,
    ])
  })
})
