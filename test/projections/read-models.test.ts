import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { alertsProjection } from '../../src/projections/alerts.js'
import { streams } from '../../src/events/index.js'
import { auditActions } from '../../src/projections/audit-log.js'
import { Projector } from '../../src/projections/projector.js'
import { readModelProjections, readModelProjectorName } from '../../src/projections/read-model-projections.js'
import { databaseFlavours } from '../support/databases.js'
import { alice, dumpReadModels, hashOf, openTestBed, platformWorkspaceId, runbookKey, type TestBed, appendControlledRun } from './fixtures.js'
import { appendAllTenantsRun, appendScenario, invalidSeverityMessage } from './scenario.js'

const consoleBaseUrl = 'https://ops.example.com/'

const at = (iso: string) => new Date(iso)

const singleRunContext = {
  runbook: { key: runbookKey },
  parameters: {},
  scope: 'single_tenant',
  target_tenant_id: 11,
  source: 'system_ui',
  preflight: { affected_count: 5, total_count: 8, estimated_tenants: 1 },
  reason: null,
  platform_initiator: { platform_user_id: 'op-alice', email: 'alice@ops.example', name: 'Alice Operator', is_break_glass: false },
}

const allTenantsContext = {
  ...singleRunContext,
  scope: 'all_tenants',
  target_tenant_id: null,
  source: 'api',
  preflight: { affected_count: 5, total_count: 12, estimated_tenants: 3 },
  reason: { reason_code: 'DATA_REPAIR', reason_text: 'Backfill after the lifecycle bug' },
}

describe.each(databaseFlavours())('read models on $name', ({ open }) => {
  let bed: TestBed
  let projector: Projector

  beforeEach(async () => {
    bed = await openTestBed(open)
    projector = new Projector({
      store: bed.store,
      sql: bed.sql,
      name: readModelProjectorName,
      projections: readModelProjections({ consoleBaseUrl }),
      batchSize: 4,
    })
  })
  afterEach(async () => {
    await projector.stop()
    await bed.db.close()
  })

  it('shows an all-tenants run in progress with running counts and its failed tenant', async () => {
    await appendAllTenantsRun(bed, { complete: false })
    await bed.settle()
    expect(await projector.runOnce()).toBe(5)

    const runs = await bed.sql`select * from operation_runs`
    expect([...runs]).toEqual([
      {
        id: 'run-all',
        workspace_id: String(platformWorkspaceId),
        tenant_id: null,
        user_id: 'op-alice',
        initiator_name: 'Alice Operator',
        type: runbookKey,
        status: 'running',
        outcome: 'pending',
        run_identity_hash: hashOf('run-all'),
        summary_counts: { total: 8, processed: 8, updated: 5, skipped: 3, failed: 1, tenants: 3 },
        failure_summary: [{ tenant_id: 12, reason_code: 'INVALID_DATA', message: invalidSeverityMessage }],
        context: allTenantsContext,
        started_at: at('2025-03-01T10:00:01.000Z'),
        completed_at: null,
        created_at: at('2025-03-01T10:00:00.000Z'),
      },
    ])
    expect(await bed.sql`select count(*)::int as n from alert_deliveries`).toEqual([{ n: 0 }])
  })

  it('builds the exact rows of a single-tenant and an all-tenants run', async () => {
    await appendScenario(bed)
    await bed.settle()
    await projector.waitUntilCaughtUp()

    const runs = await bed.sql`select * from operation_runs order by created_at`
    expect([...runs]).toEqual([
      {
        id: 'run-single',
        workspace_id: '201',
        tenant_id: '11',
        user_id: 'op-alice',
        initiator_name: 'Alice Operator',
        type: runbookKey,
        status: 'completed',
        outcome: 'succeeded',
        run_identity_hash: hashOf('run-single'),
        summary_counts: { total: 8, processed: 8, updated: 5, skipped: 3, failed: 0 },
        failure_summary: [],
        context: singleRunContext,
        started_at: at('2025-03-01T09:01:01.000Z'),
        completed_at: at('2025-03-01T09:01:03.000Z'),
        created_at: at('2025-03-01T09:01:00.000Z'),
      },
      {
        id: 'run-all',
        workspace_id: String(platformWorkspaceId),
        tenant_id: null,
        user_id: 'op-alice',
        initiator_name: 'Alice Operator',
        type: runbookKey,
        status: 'completed',
        outcome: 'partially_succeeded',
        run_identity_hash: hashOf('run-all'),
        summary_counts: { total: 12, processed: 12, updated: 5, skipped: 7, failed: 1, tenants: 3 },
        failure_summary: [{ tenant_id: 12, reason_code: 'INVALID_DATA', message: invalidSeverityMessage }],
        context: allTenantsContext,
        started_at: at('2025-03-01T10:00:01.000Z'),
        completed_at: at('2025-03-01T10:05:03.000Z'),
        created_at: at('2025-03-01T10:00:00.000Z'),
      },
      expect.objectContaining({ id: 'run-fail', workspace_id: '203', tenant_id: '13', status: 'completed', outcome: 'failed' }),
    ])

    const tenants = await bed.sql`select * from operation_run_tenants where run_id = 'run-all' order by tenant_id`
    expect([...tenants]).toEqual([
      { run_id: 'run-all', tenant_id: '11', status: 'succeeded', total: 8, updated: 5, reason_code: null, message: null, attempt: 1, processed_at: at('2025-03-01T10:00:02.000Z'), started_at: null, completed_at: null },
      { run_id: 'run-all', tenant_id: '12', status: 'failed', total: null, updated: null, reason_code: 'INVALID_DATA', message: invalidSeverityMessage, attempt: 1, processed_at: at('2025-03-01T10:00:03.000Z'), started_at: null, completed_at: null },
      { run_id: 'run-all', tenant_id: '13', status: 'succeeded', total: 4, updated: 0, reason_code: null, message: null, attempt: 2, processed_at: at('2025-03-01T10:05:02.000Z'), started_at: null, completed_at: null },
    ])
  })

  it('writes one audit entry per auditable event, with the stable action ids', async () => {
    const { preflight, logins } = await appendScenario(bed)
    await bed.settle()
    await projector.waitUntilCaughtUp()

    const entries = await bed.sql`select id, action, occurred_at, actor_user_id, actor_email, operation_run_id, context from audit_log order by occurred_at, action`
    const nullContext = {
      runbook_key: null,
      scope: null,
      target_tenant_id: null,
      affected_count: null,
      operation_run_id: null,
      platform_user_id: null,
      email: null,
      ip: null,
      user_agent: null,
    }
    const aliceContext = { platform_user_id: 'op-alice', email: 'alice@ops.example' }
    const aliceRequest = { ip: '10.0.0.5', user_agent: 'Mozilla/5.0 (X11)' }
    expect([...entries]).toEqual([
      {
        id: logins[0]!.eventId,
        action: auditActions.loginSucceeded,
        occurred_at: at('2025-03-01T08:59:00.000Z'),
        actor_user_id: 'op-alice',
        actor_email: alice.email,
        operation_run_id: null,
        context: { ...nullContext, ...aliceContext, ...aliceRequest, channel: 'console' },
      },
      {
        id: preflight.eventId,
        action: 'platform.ops.runbooks.preflight',
        occurred_at: at('2025-03-01T09:00:00.000Z'),
        actor_user_id: 'op-alice',
        actor_email: alice.email,
        operation_run_id: null,
        context: { ...nullContext, runbook_key: runbookKey, scope: 'single_tenant', target_tenant_id: 11, affected_count: 5, ...aliceContext, ...aliceRequest },
      },
      {
        id: expect.any(String),
        action: 'platform.ops.runbooks.start',
        occurred_at: at('2025-03-01T09:01:00.000Z'),
        actor_user_id: 'op-alice',
        actor_email: alice.email,
        operation_run_id: 'run-single',
        context: {
          ...nullContext,
          runbook_key: runbookKey,
          scope: 'single_tenant',
          target_tenant_id: 11,
          affected_count: 5,
          operation_run_id: 'run-single',
          ...aliceContext,
          ...aliceRequest,
          source: 'system_ui',
          reason_code: null,
        },
      },
      {
        id: expect.any(String),
        action: 'platform.ops.runbooks.completed',
        occurred_at: at('2025-03-01T09:01:03.000Z'),
        actor_user_id: 'op-alice',
        actor_email: alice.email,
        operation_run_id: 'run-single',
        context: {
          ...nullContext,
          runbook_key: runbookKey,
          scope: 'single_tenant',
          target_tenant_id: 11,
          affected_count: 5,
          operation_run_id: 'run-single',
          ...aliceContext,
          outcome: 'succeeded',
          summary_counts: { total: 8, processed: 8, updated: 5, skipped: 3, failed: 0 },
        },
      },
      expect.objectContaining({ action: 'platform.ops.runbooks.start', operation_run_id: 'run-all' }),
      {
        id: expect.any(String),
        action: 'platform.ops.runbooks.completed',
        occurred_at: at('2025-03-01T10:05:03.000Z'),
        actor_user_id: 'op-alice',
        actor_email: alice.email,
        operation_run_id: 'run-all',
        context: {
          ...nullContext,
          runbook_key: runbookKey,
          scope: 'all_tenants',
          affected_count: 5,
          operation_run_id: 'run-all',
          ...aliceContext,
          outcome: 'partially_succeeded',
          summary_counts: { total: 12, processed: 12, updated: 5, skipped: 7, failed: 1, tenants: 3 },
        },
      },
      expect.objectContaining({ action: 'platform.ops.runbooks.start', operation_run_id: 'run-fail' }),
      expect.objectContaining({
        action: 'platform.ops.runbooks.failed',
        operation_run_id: 'run-fail',
        actor_user_id: 'op-alice',
        context: expect.objectContaining({ outcome: 'failed', runbook_key: runbookKey, target_tenant_id: 13, affected_count: 2 }),
      }),
      {
        id: logins[1]!.eventId,
        action: auditActions.loginFailed,
        occurred_at: at('2025-03-01T12:00:00.000Z'),
        actor_user_id: null,
        actor_email: 'mallory@ops.example',
        operation_run_id: null,
        context: { ...nullContext, email: 'mallory@ops.example', ip: '203.0.113.9', user_agent: 'curl/8.5', channel: 'api' },
      },
      {
        id: logins[2]!.eventId,
        action: 'platform.ops.login.rate_limited',
        occurred_at: at('2025-03-01T12:00:01.000Z'),
        actor_user_id: null,
        actor_email: 'mallory@ops.example',
        operation_run_id: null,
        context: { ...nullContext, email: 'mallory@ops.example', ip: '203.0.113.9', user_agent: 'curl/8.5', channel: 'api', retry_after_seconds: 42 },
      },
    ])
  })

  it('gives a retry or a revert its reason keys only when its event has a reason (a version-1 event projects as before)', async () => {
    await appendControlledRun(bed)
    const stream = streams.run('run-steered')
    const reason = { reasonCode: 'DATA_REPAIR' as const, reasonText: 'the data was fixed by hand' }
    const retried = (retryRunId: string, withReason: typeof reason | null) =>
      bed.append(stream, { type: 'RunRetried', data: { runId: 'run-steered', retryRunId, tenantIds: [12], reason: withReason, retriedAt: '2025-03-02T11:00:00.000Z' } }, alice, '2025-03-02T11:00:00.000Z', 'run-steered')
    const without = await retried('run-retry-1', null)
    const withIt = await retried('run-retry-2', reason)
    await bed.settle()
    await projector.waitUntilCaughtUp()
    const contexts = new Map(
      (await bed.sql<Array<{ id: string; context: Record<string, unknown> }>>`select id, context from audit_log where action = ${auditActions.retried}`).map((r) => [r.id, r.context]),
    )
    expect(Object.keys(contexts.get(without.eventId)!)).not.toContain('reason_code')
    expect(contexts.get(withIt.eventId)).toMatchObject({ retry_run_id: 'run-retry-2', reason_code: 'DATA_REPAIR', reason_text: reason.reasonText })
  })

  it('records one alert delivery per enabled platform destination for failed and partially succeeded runs', async () => {
    await appendScenario(bed)
    await bed.settle()
    await projector.waitUntilCaughtUp()

    const deliveries = await bed.sql`select id, alert_key, run_id, workspace_id, destination_id, payload, status, created_at from alert_deliveries order by id`
    const delivery = (runId: string, destinationId: string, scope: string, createdAt: string) => ({
      id: `${runId}:${destinationId}`,
      alert_key: 'operations.run.failed',
      run_id: runId,
      workspace_id: String(platformWorkspaceId),
      destination_id: destinationId,
      payload: { run_id: runId, run_type: runbookKey, scope, console_url: `https://ops.example.com/system/ops/runs/${runId}` },
      status: 'recorded',
      created_at: at(createdAt),
    })
    // run-single succeeded: no alert. run-fail targets tenant 13 of workspace 203, yet alerts go to the
    // platform workspace; the disabled destination and the tenant workspace's destination get nothing.
    expect([...deliveries]).toEqual([
      delivery('run-all', 'dest-email', 'all_tenants', '2025-03-01T10:05:03.000Z'),
      delivery('run-all', 'dest-hook', 'all_tenants', '2025-03-01T10:05:03.000Z'),
      delivery('run-fail', 'dest-email', 'single_tenant', '2025-03-01T11:15:01.000Z'),
      delivery('run-fail', 'dest-hook', 'single_tenant', '2025-03-01T11:15:01.000Z'),
    ])
  })

  it('records no alert when there is no platform tenant to route it to', async () => {
    await bed.sql`update tenants set is_platform = false`
    await appendScenario(bed)
    await bed.settle()
    await projector.waitUntilCaughtUp()
    const deliveries = await bed.sql`select run_id from alert_deliveries order by id`
    // The all-tenants run carries the platform workspace itself; the single-tenant one finds none.
    expect(deliveries.map((d) => d.run_id)).toEqual(['run-all', 'run-all'])
  })

  it('re-applying every event, or an older suffix of the log, leaves the same rows', async () => {
    await appendScenario(bed)
    await appendControlledRun(bed)
    await bed.settle()
    await projector.waitUntilCaughtUp()
    const before = await dumpReadModels(bed.sql)
    expect(before.audit_log).toHaveLength(17)

    const positions = (await bed.store.readAll({ maxCount: 1000 })).map((e) => e.position)
    for (const replayFrom of [null, positions[3]!, positions[positions.length - 4]!]) {
      await bed.sql`update projection_checkpoints set position = ${replayFrom}::text where name = ${readModelProjectorName}`
      const reapplied = await projector.runOnce()
      expect(reapplied).toBe(replayFrom === null ? positions.length : positions.length - positions.indexOf(replayFrom) - 1)
      expect(await dumpReadModels(bed.sql)).toEqual(before)
    }
  })

  it('rebuild() from zero yields identical rows', async () => {
    await appendScenario(bed)
    await appendControlledRun(bed)
    await bed.settle()
    await projector.waitUntilCaughtUp()
    const before = await dumpReadModels(bed.sql)
    expect(before.operation_run_controls).toContainEqual(
      expect.objectContaining({ run_id: 'run-steered', max_concurrency: 1, max_failures: 0, pause: null, targeted: 3, succeeded: 1, failed: 1, cancelled: 1 }),
    )
    expect(before.operation_run_tenants!.filter((t: any) => t.run_id === 'run-steered').map((t: any) => t.status)).toEqual(['succeeded', 'failed', 'cancelled'])
    const eventCount = (await bed.store.readAll({ maxCount: 1000 })).length

    expect(await projector.rebuild()).toBe(eventCount)
    expect(await dumpReadModels(bed.sql)).toEqual(before)

    // Deliveries are a record, not a view: a rebuild neither re-raises a delivered alert nor resets it.
    await bed.sql`update alert_deliveries set status = 'sent'`
    const sent = await bed.sql`select id, status from alert_deliveries order by id`
    expect(sent.length).toBeGreaterThan(0)
    await projector.rebuild()
    expect(await bed.sql`select id, status from alert_deliveries order by id`).toEqual(sent)
    await bed.sql`update alert_deliveries set status = 'recorded'`

    // A fresh projector under another checkpoint name after wiping by hand agrees as well.
    await bed.sql`delete from operation_runs; delete from operation_run_tenants; delete from operation_run_controls; delete from audit_log; delete from alert_deliveries`.simple()
    const fresh = new Projector({ store: bed.store, sql: bed.sql, name: 'fresh', projections: readModelProjections({ consoleBaseUrl }), batchSize: 1 })
    await fresh.waitUntilCaughtUp()
    expect(await dumpReadModels(bed.sql)).toEqual(before)
  })

  it('routes alerts to the console base url without doubling slashes', async () => {
    const projection = alertsProjection({ consoleBaseUrl: 'https://console.example//' })
    const other = new Projector({ store: bed.store, sql: bed.sql, name: 'alerts-only', projections: [readModelProjections({ consoleBaseUrl })[0]!, projection] })
    await appendScenario(bed)
    await bed.settle()
    await other.waitUntilCaughtUp()
    const [row] = await bed.sql`select payload from alert_deliveries where id = 'run-fail:dest-email'`
    expect(row?.payload.console_url).toBe('https://console.example/system/ops/runs/run-fail')
  })
})
