import { streams, type EventMetadata } from '../../src/events/index.js'
import { alice, appendCompleted, appendRun, appendTenantProcessed, hashOf, platformWorkspaceId, runbookKey, type TestBed } from './fixtures.js'

export const invalidSeverityMessage = "finding 1203 has severity 'urgent'"

/**
 * A realistic day: a preflight and a single-tenant run that succeeds, an all-tenants run where one tenant
 * fails and one is redispatched, a single-tenant run that fails, and three login attempts.
 */
export async function appendScenario(bed: TestBed): Promise<{ preflight: EventMetadata; logins: EventMetadata[] }> {
  const preflight = await bed.append(
    streams.preflight('pf-1'),
    {
      type: 'PreflightRecorded',
      data: {
        preflightId: 'pf-1',
        runbookKey,
        scope: 'single_tenant',
        targetTenantId: 11,
        parameters: {},
        wouldFailTenants: [],
        result: { affectedCount: 5, totalCount: 8, estimatedTenants: 1 },
        recordedAt: '2025-03-01T09:00:00.000Z',
      },
    },
    alice,
    '2025-03-01T09:00:00.000Z',
    'pf-1',
  )
  await bed.append(
    streams.runIdentity(hashOf('run-single')),
    { type: 'RunIdentityClaimed', data: { runIdentityHash: hashOf('run-single'), runId: 'run-single', claimedAt: '2025-03-01T09:01:00.000Z' } },
    alice,
    '2025-03-01T09:01:00.000Z',
    'run-single',
  )
  await appendRun(bed, {
    requested: { runId: 'run-single', requestedAt: '2025-03-01T09:01:00.000Z' },
    startedAt: '2025-03-01T09:01:01.000Z',
    results: [{ tenantId: 11, result: { status: 'succeeded', total: 8, updated: 5 }, at: '2025-03-01T09:01:02.000Z' }],
    completed: {
      outcome: 'succeeded',
      summaryCounts: { total: 8, processed: 8, updated: 5, skipped: 3, failed: 0 },
      failureSummary: [],
      completedAt: '2025-03-01T09:01:03.000Z',
    },
  })
  await appendAllTenantsRun(bed, { complete: true })
  await appendRun(bed, {
    requested: {
      runId: 'run-fail',
      workspaceId: 203,
      targetTenantId: 13,
      tenantIds: [13],
      source: 'cli',
      preflight: { affectedCount: 2, totalCount: 4, estimatedTenants: 1 },
      requestedAt: '2025-03-01T11:00:00.000Z',
    },
    startedAt: '2025-03-01T11:00:01.000Z',
    results: [
      {
        tenantId: 13,
        attempt: 3,
        result: { status: 'failed', reasonCode: 'TENANT_LOCKED', message: 'tenant 13 is locked by another run' },
        at: '2025-03-01T11:15:00.000Z',
      },
    ],
    completed: {
      outcome: 'failed',
      summaryCounts: { total: 0, processed: 0, updated: 0, skipped: 0, failed: 1 },
      failureSummary: [{ tenantId: 13, reasonCode: 'TENANT_LOCKED', message: 'tenant 13 is locked by another run' }],
      completedAt: '2025-03-01T11:15:01.000Z',
    },
  })
  const visitor = { kind: 'anonymous' as const, email: 'mallory@ops.example', ip: '203.0.113.9', userAgent: 'curl/8.5' }
  const logins = [
    await bed.append(
      streams.login('h-alice'),
      { type: 'LoginSucceeded', data: { operatorId: 'op-alice', email: alice.email, channel: 'console', at: '2025-03-01T08:59:00.000Z' } },
      { kind: 'anonymous', email: alice.email, ip: alice.ip, userAgent: alice.userAgent },
      '2025-03-01T08:59:00.000Z',
      'login-1',
    ),
    await bed.append(
      streams.login('h-mallory'),
      { type: 'LoginFailed', data: { email: visitor.email, channel: 'api', at: '2025-03-01T12:00:00.000Z' } },
      visitor,
      '2025-03-01T12:00:00.000Z',
      'login-2',
    ),
    await bed.append(
      streams.login('h-mallory'),
      { type: 'LoginRateLimited', data: { email: visitor.email, channel: 'api', retryAfterSeconds: 42, at: '2025-03-01T12:00:01.000Z' } },
      visitor,
      '2025-03-01T12:00:01.000Z',
      'login-3',
    ),
  ]
  return { preflight, logins }
}

/** The all-tenants run: tenant 11 succeeds, 12 fails, 13 is redispatched and succeeds on attempt 2. */
export async function appendAllTenantsRun(bed: TestBed, options: { complete: boolean }): Promise<void> {
  await appendRun(bed, {
    requested: {
      runId: 'run-all',
      scope: 'all_tenants',
      workspaceId: platformWorkspaceId,
      targetTenantId: null,
      tenantIds: [11, 12, 13],
      source: 'api',
      preflight: { affectedCount: 5, totalCount: 12, estimatedTenants: 3 },
      reason: { reasonCode: 'DATA_REPAIR', reasonText: 'Backfill after the lifecycle bug' },
      requestedAt: '2025-03-01T10:00:00.000Z',
    },
    startedAt: '2025-03-01T10:00:01.000Z',
    results: [
      { tenantId: 11, result: { status: 'succeeded', total: 8, updated: 5 }, at: '2025-03-01T10:00:02.000Z' },
      { tenantId: 12, result: { status: 'failed', reasonCode: 'INVALID_DATA', message: invalidSeverityMessage }, at: '2025-03-01T10:00:03.000Z' },
    ],
  })
  await bed.append(
    streams.run('run-all'),
    { type: 'TenantJobsRedispatched', data: { runId: 'run-all', tenantIds: [13], generation: 1, redispatchedAt: '2025-03-01T10:05:00.000Z' } },
    { kind: 'system', component: 'reconciler' },
    '2025-03-01T10:05:00.000Z',
    'run-all',
  )
  if (!options.complete) return
  await appendTenantProcessed(bed, 'run-all', {
    tenantId: 13,
    attempt: 2,
    result: { status: 'succeeded', total: 4, updated: 0 },
    at: '2025-03-01T10:05:02.000Z',
  })
  await appendCompleted(bed, 'run-all', {
    outcome: 'partially_succeeded',
    summaryCounts: { total: 12, processed: 12, updated: 5, skipped: 7, failed: 1, tenants: 3 },
    failureSummary: [{ tenantId: 12, reasonCode: 'INVALID_DATA', message: invalidSeverityMessage }],
    completedAt: '2025-03-01T10:05:03.000Z',
  })
}
