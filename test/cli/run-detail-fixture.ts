import type { RunDetail } from '../../src/cli/api-client.js'

/** The run id the CLI tests without a service print and send. */
export const fixtureRunId = '01ARZ3NDEKTSV4RRFFQ69G5FAV'

/**
 * A run as `GET /api/runs/{id}` answers it, for the CLI's tests without a service: a running all-tenants
 * backfill started from the CLI, 2 of its 24 tenants done. Each test file states on top what its runs
 * have of their own (a status, counts, an approval), so every field a test reads is said where it reads it.
 */
export function runDetail(overrides: Partial<RunDetail> = {}): RunDetail {
  return {
    id: fixtureRunId,
    workspaceId: 1,
    tenantId: null,
    userId: 'u1',
    initiatorName: 'Ops',
    type: 'findings.lifecycle.backfill',
    status: 'running',
    outcome: 'pending',
    runIdentityHash: 'h',
    summaryCounts: { total: 10, processed: 10, updated: 4, skipped: 6, failed: 0, tenants: 24 },
    failureSummary: [],
    context: { scope: 'all_tenants', source: 'cli' },
    startedAt: '2026-01-01T08:59:00.000Z',
    completedAt: null,
    createdAt: '2026-01-01T08:58:00.000Z',
    limits: { maxConcurrency: 4, maxFailures: null },
    pause: null,
    cancellation: null,
    tenantCounts: { targeted: 24, pending: 22, succeeded: 2, failed: 0, cancelled: 0 },
    retryOf: null,
    revertOf: null,
    approval: null,
    verification: null,
    canary: null,
    ...overrides,
  }
}

/** A run waiting for a second operator's approval (SPEC §10): not started, nothing counted yet. */
export const awaitingApproval: Partial<RunDetail> = {
  status: 'awaiting_approval',
  summaryCounts: {},
  startedAt: null,
  approval: { required: true, approvedBy: null, approvedAt: null, comment: null },
}
