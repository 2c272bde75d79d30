import { describe, expect, it } from 'vitest'
import type { RunDetail } from '../../src/cli/api-client.js'
import { approvalLabel, formatCompletion, formatOperator, formatRunDetail } from '../../src/cli/format.js'
import { awaitingApproval, fixtureRunId, runDetail } from './run-detail-fixture.js'

const id = fixtureRunId

function run(extra: Partial<RunDetail> = {}): RunDetail {
  return runDetail({ ...awaitingApproval, tenantCounts: { targeted: 0, pending: 0, succeeded: 0, failed: 0, cancelled: 0 }, ...extra })
}

describe('approvals in text', () => {
  it('a run awaiting approval says who must act and how; approved and rejected runs say so; no approval, no line', () => {
    expect(formatRunDetail(run(), new Map())).toMatch(
      new RegExp(`^Approval\\s+waiting for a second operator to approve: rcp approve ${id} \\(or rcp reject ${id} --reason-code CODE --reason TEXT\\)$`, 'm'),
    )
    expect(approvalLabel(run({ status: 'running', approval: { required: true, approvedBy: 'op_2', approvedAt: '2026-01-01T09:00:00.000Z', comment: null } }))).toBe(
      'approved by op_2 (2026-01-01 09:00:00Z)',
    )
    expect(approvalLabel(run({ status: 'completed', outcome: 'rejected' }))).toBe(`rejected (rcp events ${id} shows by whom and why)`)
    expect(formatRunDetail(run({ status: 'running', approval: null }), new Map())).not.toMatch(/^Approval/m)
  })

  it('a rejected run completes saying nothing was repaired', () => {
    const text = formatCompletion(run({ status: 'completed', outcome: 'rejected' }), new Map())
    expect(text.split('\n').slice(0, 2)).toEqual([`Run ${id} completed: rejected`, 'Rejected by a second operator (or its approval expired): nothing was repaired.'])
  })

  it('an operator: state, break-glass, capabilities; control characters in names are neutralised', () => {
    const text = formatOperator({
      id: 'op_1',
      email: 'a@ops.test',
      name: 'Ann\u001b[2J',
      capabilities: [],
      isBreakGlass: true,
      disabled: true,
      createdAt: '2026-01-01T09:00:00.000Z',
      lastLoginAt: null,
    })
    expect(text).toMatch(/^Name\s+Ann \[2J$/m)
    expect(text).toMatch(/^State\s+disabled/m)
    expect(text).toMatch(/^Break-glass\s+yes/m)
    expect(text).toMatch(/^Capabilities\s+-$/m)
    expect(text).toMatch(/^Last login\s+-$/m)
  })
})
