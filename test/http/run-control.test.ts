import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { tenantRepairLockName } from '../../src/db/advisory-locks.js'
import { listAlertDeliveries } from '../../src/projections/queries.js'
import { holdAdvisoryLock } from '../support/held-lock.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { expectProblem, runbookKey, runsPath } from './problem-assertions.js'

/** SPEC §9 over the HTTP API, on the embedded default and on PostgreSQL + NATS. */

const reason = { code: 'INCIDENT', text: 'the repair looks wrong on production' }

describe.each(serviceFlavours())('run control over the API: $name', (flavour) => {
  let api: TestService
  let token: string
  let invalidTenantId: number

  beforeAll(async () => {
    api = await flavour.start()
    token = await api.token()
    const tenants = (await api.request('GET', '/api/tenants?limit=1000', { token })).body.items as Array<{ id: number; name: string }>
    invalidTenantId = tenants.find((t) => t.name === DEMO_INVALID_TENANT_NAME)!.id
  })

  afterAll(async () => {
    await api?.close()
  })

  // A test that failed half-way leaves no active run behind to hold the next test's identity.
  afterEach(async () => {
    await send('DELETE', '/api/halt', { reason })
    for (const status of ['queued', 'running', 'paused']) {
      for (const run of (await get(`/api/runs?status=${status}`)).body.items) {
        await send('POST', `/api/runs/${run.id}/cancel`, { reason })
        await completed(run.id)
      }
    }
  })

  const get = (path: string) => api.request('GET', path, { token })
  const send = (method: string, path: string, json: unknown, as = token) => api.request(method, path, { token: as, json })

  async function startAllTenants(extra: Record<string, unknown> = {}): Promise<string> {
    const response = await send('POST', runsPath, { scope: 'all_tenants', confirmation: runbookKey, reason, ...extra })
    expect(response.status, response.text).toBe(202)
    return response.body.runId
  }

  async function runWhen(runId: string, done: (run: any) => boolean, what: string): Promise<any> {
    let run: any
    await waitUntil(async () => {
      run = (await get(`/api/runs/${runId}`)).body
      return done(run)
    }, `run ${runId} ${what}`)
    return run
  }

  // Completed and, if the service verifies it (SPEC §11), verified: nothing more is appended to it.
  const completed = (runId: string) =>
    runWhen(runId, (run) => runIsSettled(run), 'to complete')

  async function events(runId: string): Promise<any[]> {
    const response = await get(`/api/runs/${runId}/events`)
    expect(response.status).toBe(200)
    return response.body.items
  }

  /**
   * The first finding of each tenant given a severity no runbook knows (each such tenant fails), put back as it
   * was by the returned function, whatever other tests did to these tenants' findings.
   */
  async function failTenants(tenantIds: number[]): Promise<() => Promise<void>> {
    const saved = await api.sql<Array<{ id: string; severity: string }>>`
      select id::text, severity from findings where id in (select min(id) from findings where tenant_id = any(${tenantIds}::bigint[]) group by tenant_id)`
    for (const { id } of saved) await api.sql`update findings set severity = 'bogus' where id = ${id}::bigint`
    return async () => {
      for (const { id, severity } of saved) await api.sql`update findings set severity = ${severity} where id = ${id}::bigint`
    }
  }

  async function allTenants(runId: string, status?: string): Promise<any[]> {
    const items: any[] = []
    let cursor: string | null = null
    do {
      const query = new URLSearchParams({ limit: '7', ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) })
      const page = await get(`/api/runs/${runId}/tenants?${query}`)
      expect(page.status, page.text).toBe(200)
      items.push(...page.body.items)
      cursor = page.body.nextCursor
    } while (cursor)
    return items
  }

  /** A digest of the findings of these tenants: unchanged digest, untouched findings. */
  async function findingsDigest(tenantIds: number[]): Promise<string> {
    const [row] = await api.sql<Array<{ digest: string }>>`
      select md5(coalesce(string_agg(f::text, '|' order by f.id), '')) as digest from findings f
      where tenant_id = any(${tenantIds}::bigint[])`
    return row!.digest
  }

  it('pauses a run: no repair begins after the pause answers; resumed, each tenant is processed exactly once', async () => {
    const runId = await startAllTenants({ limits: { maxConcurrency: 1 } })
    const paused = await send('POST', `/api/runs/${runId}/pause`, { reason })
    expect(paused.status, paused.text).toBe(202)
    expect(paused.body).toMatchObject({ id: runId, status: 'paused', pause: { reasonCode: 'INCIDENT', reasonText: reason.text } })
    expect(paused.body.limits).toEqual({ maxConcurrency: 1, maxFailures: null })
    const pausedAt = Date.now()

    const again = await send('POST', `/api/runs/${runId}/pause`, { reason })
    expectProblem(again, 409)
    expect(again.body.state).toBe('paused')
    expectProblem(await send('POST', `/api/runs/${runId}/retry`, { confirmation: runbookKey }), 409)

    const resumed = await send('POST', `/api/runs/${runId}/resume`, {})
    expect(resumed.status, resumed.text).toBe(202)
    expect(resumed.body).toMatchObject({ status: 'running', pause: null })
    expect((await send('POST', `/api/runs/${runId}/resume`, {})).body.state).toBe('running')

    const run = await completed(runId)
    expect(run.outcome).toBe('partially_succeeded')
    const { targeted } = run.tenantCounts
    expect(run.tenantCounts).toEqual({ targeted, pending: 0, succeeded: targeted - 1, failed: 1, cancelled: 0 })

    const stream = await events(runId)
    const processed = stream.filter((e) => e.type === 'TenantProcessed')
    expect(processed.map((e) => e.data.tenantId).sort((a: number, b: number) => a - b)).toEqual(
      [...new Set(processed.map((e) => e.data.tenantId))].sort((a: number, b: number) => a - b),
    )
    expect(processed).toHaveLength(targeted)
    const pauseEvent = stream.find((e) => e.type === 'RunPaused')!
    const resumeEvent = stream.find((e) => e.type === 'RunResumed')!
    expect(pauseEvent.metadata.initiator).toMatchObject({ kind: 'operator' })
    expect(Date.parse(pauseEvent.recordedAt)).toBeLessThanOrEqual(pausedAt)
    // Between the pause and the resume, only repairs that began before the pause answered were recorded (SPEC §9:
    // from that moment no repair starts): the one in flight (maxConcurrency 1), and at most one a message of
    // small tenants committed between the pause's read of the stored results (it records those first) and its
    // append.
    const whilePaused = processed.filter((e) => e.revision > pauseEvent.revision && e.revision < resumeEvent.revision)
    expect(whilePaused.length).toBeLessThanOrEqual(2)
    for (const late of whilePaused) expect(Date.parse(late.data.startedAt)).toBeLessThanOrEqual(pausedAt)

    const tenants = await allTenants(runId)
    expect(tenants).toHaveLength(targeted)
    expect(tenants.map((t) => t.tenantId)).toEqual([...tenants.map((t) => t.tenantId)].sort((a, b) => a - b))
    const failed = tenants.filter((t) => t.status === 'failed')
    expect(failed).toEqual([expect.objectContaining({ tenantId: invalidTenantId, reasonCode: 'INVALID_DATA', counts: null })])
    // Processed, so timed (SPEC §9): its repair began, then rolled back and the failure was stored.
    expect(Date.parse(failed[0]!.startedAt)).toBeLessThanOrEqual(Date.parse(failed[0]!.completedAt))
    for (const tenant of tenants.filter((t) => t.status === 'succeeded')) {
      expect(tenant.counts.skipped).toBe(tenant.counts.total - tenant.counts.updated)
      expect(tenant.attempts).toBeGreaterThanOrEqual(1)
      expect(Date.parse(tenant.startedAt)).toBeLessThanOrEqual(Date.parse(tenant.completedAt))
    }
    // maxConcurrency 1: no two repair transactions of the run overlapped.
    const intervals = tenants
      .filter((t) => t.status === 'succeeded')
      .map((t) => [Date.parse(t.startedAt), Date.parse(t.completedAt)] as const)
      .sort((a, b) => a[0] - b[0])
    for (let i = 1; i < intervals.length; i++) expect(intervals[i]![0]).toBeGreaterThanOrEqual(intervals[i - 1]![1])

    const audit = (await get('/api/audit?limit=200')).body.items.map((e: any) => e.action)
    expect(audit).toEqual(expect.arrayContaining(['platform.ops.runbooks.paused', 'platform.ops.runbooks.resumed']))
  })

  it('cancels a run: it completes cancelled, the tenants never started are listed cancelled and untouched', async () => {
    const runId = await startAllTenants({ limits: { maxConcurrency: 1 } })
    const targets = (await events(runId))[0].data.tenantIds as number[]
    const before = new Map<number, string>()
    for (const tenantId of targets) before.set(tenantId, await findingsDigest([tenantId]))

    const cancelled = await send('POST', `/api/runs/${runId}/cancel`, { reason })
    expect(cancelled.status, cancelled.text).toBe(202)
    const run = await completed(runId)
    expect(run.outcome).toBe('cancelled')
    expect(run.pause).toBeNull()
    const counts = run.tenantCounts
    expect(counts.pending).toBe(0)
    expect(counts.succeeded + counts.failed + counts.cancelled).toBe(counts.targeted)

    const never = await allTenants(runId, 'cancelled')
    expect(never).toHaveLength(counts.cancelled)
    for (const tenant of never) {
      expect(tenant).toMatchObject({ attempts: 0, counts: null, startedAt: null, completedAt: null })
      expect(await findingsDigest([tenant.tenantId])).toBe(before.get(tenant.tenantId))
    }
    const processed = (await allTenants(runId)).filter((t) => t.status === 'succeeded')
    expect(run.summaryCounts.updated).toBe(processed.reduce((sum, t) => sum + t.counts.updated, 0))
    expect(run.summaryCounts.total).toBe(processed.reduce((sum, t) => sum + t.counts.total, 0))
    expect(run.summaryCounts.failed).toBe(counts.failed)

    const again = await send('POST', `/api/runs/${runId}/cancel`, { reason })
    expectProblem(again, 409)
    expect(again.body.state).toBe('completed')
    const audit = (await get('/api/audit?limit=200')).body.items.map((e: any) => e.action)
    expect(audit).toContain('platform.ops.runbooks.cancelled')
  })

  it('changes limits while active, refuses bad ones with 422 naming the field, and appends nothing on refusal', async () => {
    const runId = await startAllTenants({ limits: { maxConcurrency: 1 } })
    await send('POST', `/api/runs/${runId}/pause`, { reason })
    const changed = await send('PATCH', `/api/runs/${runId}/limits`, { maxConcurrency: 7, maxFailures: 3 })
    expect(changed.status, changed.text).toBe(200)
    expect(changed.body.limits).toEqual({ maxConcurrency: 7, maxFailures: 3 })
    const eventsBefore = await api.eventCount()
    expectProblem(await send('PATCH', `/api/runs/${runId}/limits`, { maxConcurrency: 0 }), 422, 'maxConcurrency')
    expectProblem(await send('PATCH', `/api/runs/${runId}/limits`, { maxConcurrency: 1001 }), 422, 'maxConcurrency')
    expectProblem(await send('PATCH', `/api/runs/${runId}/limits`, { maxFailures: -1 }), 422, 'maxFailures')
    expectProblem(await send('PATCH', `/api/runs/${runId}/limits`, { maxConcurrency: 2.5 }), 422, 'maxConcurrency')
    expectProblem(await send('PATCH', `/api/runs/${runId}/limits`, { maxConcurrency: 'many' }), 400, 'maxConcurrency')
    expectProblem(await send('POST', `/api/runs/${runId}/pause`, { reason }), 409)
    expect(await api.eventCount()).toBe(eventsBefore)
    const unlimited = await send('PATCH', `/api/runs/${runId}/limits`, { maxFailures: null })
    expect(unlimited.body.limits).toEqual({ maxConcurrency: 7, maxFailures: null })

    await send('POST', `/api/runs/${runId}/cancel`, { reason })
    await completed(runId)
    expectProblem(await send('PATCH', `/api/runs/${runId}/limits`, { maxConcurrency: 2 }), 409)
  })

  it('pauses itself over its error budget (ERROR_BUDGET_EXCEEDED) and raises the alert', async () => {
    const runId = await startAllTenants({ limits: { maxConcurrency: 1, maxFailures: 0 } })
    const paused = await runWhen(runId, (run) => run.status !== 'running' && run.status !== 'queued', 'to pause itself')
    expect(paused.status).toBe('paused')
    expect(paused.pause).toMatchObject({ reasonCode: 'ERROR_BUDGET_EXCEEDED', by: 'system' })
    expect(paused.tenantCounts.failed).toBe(1)
    await waitUntil(async () => (await listAlertDeliveries(api.sql, { runId })).some((d) => d.alertKey === 'operations.run.failed'), 'the alert')
    await send('POST', `/api/runs/${runId}/cancel`, { reason })
    expect((await completed(runId)).outcome).toBe('cancelled')
  })

  it("pauses over its budget on its last tenant's failure too, and completes failed once resumed", async () => {
    const started = await send('POST', runsPath, {
      scope: 'single_tenant',
      tenantId: invalidTenantId,
      confirmation: runbookKey,
      reason,
      limits: { maxConcurrency: 1, maxFailures: 0 },
    })
    expect(started.status, started.text).toBe(202)
    const runId = started.body.runId
    const paused = await runWhen(runId, (run) => run.status !== 'running' && run.status !== 'queued', 'to pause itself')
    expect(paused.status).toBe('paused')
    expect(paused.pause).toMatchObject({ reasonCode: 'ERROR_BUDGET_EXCEEDED', by: 'system' })
    expect(paused.tenantCounts).toEqual({ targeted: 1, pending: 0, succeeded: 0, failed: 1, cancelled: 0 })
    await waitUntil(async () => (await listAlertDeliveries(api.sql, { runId })).some((d) => d.alertKey === 'operations.run.failed'), 'the alert')
    const resumed = await send('POST', `/api/runs/${runId}/resume`, { reason })
    expect(resumed.status, resumed.text).toBe(202)
    expect(await completed(runId)).toMatchObject({ status: 'completed', outcome: 'failed', pause: null })
    // One alert a run and destination: the completion raises none again.
    const alerts = (await listAlertDeliveries(api.sql, { runId })).filter((d) => d.alertKey === 'operations.run.failed')
    expect(alerts.map((d) => d.destinationId)).toEqual([...new Set(alerts.map((d) => d.destinationId))])
  })

  it('retries the failed tenants of a completed run once the data is fixed; refuses runs without failures', async () => {
    const runId = await startAllTenants({ limits: { maxConcurrency: 3, maxFailures: 5 } })
    const original = await completed(runId)
    expect(original.tenantCounts.failed).toBe(1)
    expectProblem(await send('POST', `/api/runs/${runId}/retry`, { confirmation: 'wrong' }), 422, 'confirmation')
    expectProblem(await send('POST', `/api/runs/${runId}/retry`, { confirmation: runbookKey }), 422, 'reason')

    await api.sql`update findings set severity = 'high' where tenant_id = ${invalidTenantId} and severity not in ('critical', 'high', 'medium', 'low', 'info')`
    // A limit the retry names replaces the original's; the other is the original's.
    const retried = await send('POST', `/api/runs/${runId}/retry`, { confirmation: runbookKey, reason, limits: { maxConcurrency: 1 } })
    expect(retried.status, retried.text).toBe(202)
    const retry = await completed(retried.body.runId)
    expect(retry.limits).toEqual({ maxConcurrency: 1, maxFailures: 5 })
    expect(retry).toMatchObject({ retryOf: runId, outcome: 'succeeded', context: expect.objectContaining({ retry_of: runId }) })
    expect(retry.tenantCounts).toEqual({ targeted: 1, pending: 0, succeeded: 1, failed: 0, cancelled: 0 })
    expect((await events(retry.id))[0].data.tenantIds).toEqual([invalidTenantId])

    expectProblem(await send('POST', `/api/runs/${retry.id}/retry`, { confirmation: runbookKey, reason }), 422, 'runId')
    // SPEC §9: the control's event and its audit entry carry its reason.
    const retriedEvent = (await events(runId)).find((e: any) => e.type === 'RunRetried')
    expect(retriedEvent.data.reason).toEqual({ reasonCode: reason.code, reasonText: reason.text })
    const entry = (await get('/api/audit?action=platform.ops.runbooks.retried&limit=200')).body.items.find(
      (e: any) => e.context.operation_run_id === runId,
    )
    expect(entry.context).toMatchObject({ retry_run_id: retry.id, reason_code: reason.code, reason_text: reason.text })
  })

  it("retries exactly the run's failed tenants still in the universe (one archived since is left out); a second retry while it is active is 409 with its id", async () => {
    // Two tenants fail: the seed's invalid one, and tenant 3.
    const archivedLater = 3
    const putBack = await failTenants([invalidTenantId, archivedLater])
    try {
      const original = await completed(await startAllTenants({ limits: { maxConcurrency: 4, maxFailures: null } }))
      const failed = (await allTenants(original.id, 'failed')).map((t) => t.tenantId)
      expect(failed).toEqual(expect.arrayContaining([invalidTenantId, archivedLater]))
      await api.sql`update tenants set archived_at = now() where id = ${archivedLater}`
      // The retry awaits its approval (SPEC §10): it stays active while a second retry is asked for.
      expect((await send('PUT', '/api/settings/approvals', { required: 'all_tenants' })).status).toBe(200)
      const retried = await send('POST', `/api/runs/${original.id}/retry`, { confirmation: runbookKey, reason })
      expect(retried.status, retried.text).toBe(202)
      expect(retried.body).toEqual({ runId: expect.any(String), status: 'awaiting_approval' })
      const targets = (await events(retried.body.runId))[0].data.tenantIds as number[]
      expect([...targets].sort((a, b) => a - b)).toEqual(failed.filter((id) => id !== archivedLater).sort((a, b) => a - b))
      // While a retry of the same run is active, another is 409 with its id.
      const second = await send('POST', `/api/runs/${original.id}/retry`, { confirmation: runbookKey, reason })
      expectProblem(second, 409)
      expect(second.body.runId).toBe(retried.body.runId)
      expect((await send('POST', `/api/runs/${retried.body.runId}/cancel`, { reason })).status).toBe(202)
      expect((await completed(retried.body.runId)).outcome).toBe('cancelled')
    } finally {
      await send('PUT', '/api/settings/approvals', { required: 'none' })
      await api.sql`update tenants set archived_at = null where id = ${archivedLater}`
      await putBack()
    }
  })

  it('halts: active runs pause (HALTED), starts and resumes are refused with 423 until lifted; lifting resumes nothing', async () => {
    const runId = await startAllTenants({ limits: { maxConcurrency: 1 } })
    const halted = await send('POST', '/api/halt', { reason })
    expect(halted.status, halted.text).toBe(202)
    expect(halted.body).toMatchObject({ halted: true, reason: { code: 'INCIDENT', text: reason.text } })
    const run = await runWhen(runId, (r) => r.status === 'paused' || r.status === 'completed', 'to be halted')
    if (run.status === 'paused') expect(run.pause.reasonCode).toBe('HALTED')
    expect((await get('/api/halt')).body).toMatchObject({ halted: true, by: { email: expect.any(String) } })
    expectProblem(await send('POST', '/api/halt', { reason }), 409)

    const start = await send('POST', runsPath, { scope: 'all_tenants', confirmation: runbookKey, reason })
    expectProblem(start, 423)
    expect(start.body.code).toBe('HALTED')
    if (run.status === 'paused') expectProblem(await send('POST', `/api/runs/${runId}/resume`, {}), 423)

    const lifted = await send('DELETE', '/api/halt', { reason })
    expect(lifted.status, lifted.text).toBe(200)
    expect(lifted.body.halted).toBe(false)
    expectProblem(await send('DELETE', '/api/halt', { reason }), 409)
    if (run.status === 'paused') {
      expect((await get(`/api/runs/${runId}`)).body.status).toBe('paused')
      expect((await send('POST', `/api/runs/${runId}/resume`, { reason })).status).toBe(202)
      await completed(runId)
    }
    const audit = (await get('/api/audit?limit=200')).body.items.map((e: any) => e.action)
    expect(audit).toEqual(expect.arrayContaining(['platform.ops.halted', 'platform.ops.halt_lifted']))
  })

  it('a paused run holds its identity (an identical start is 409 naming it); the halt refuses a retry and a revert with 423', async () => {
    const runId = await startAllTenants({ limits: { maxConcurrency: 1 } })
    expect((await send('POST', `/api/runs/${runId}/pause`, { reason })).status).toBe(202)
    const identical = await send('POST', runsPath, { scope: 'all_tenants', confirmation: runbookKey, reason })
    expectProblem(identical, 409)
    expect(identical.body.runId).toBe(runId)
    await send('POST', `/api/runs/${runId}/cancel`, { reason })
    await completed(runId)

    // A completed run with a failed tenant (retry) and repaired findings (revert): the SLA runbook (no other test
    // here runs it) sets SLA due dates the seed does not have, and fails on a severity it does not know.
    const putBack = await failTenants([invalidTenantId])
    const slaRunbook = 'findings.sla.recalculate'
    const slaStart = await send('POST', `/api/runbooks/${slaRunbook}/runs`, {
      scope: 'all_tenants',
      confirmation: slaRunbook,
      reason,
      parameters: { slaDays: { critical: 11 } },
    })
    expect(slaStart.status, slaStart.text).toBe(202)
    const finished = await completed(slaStart.body.runId)
    // Limits not given: maxConcurrency is the deployment's worker capacity (one process's WORKER_CONCURRENCY, 4, here).
    expect(finished.limits).toEqual({ maxConcurrency: 4, maxFailures: null })
    expect(finished.tenantCounts.failed).toBeGreaterThan(0)
    expect(finished.summaryCounts.updated).toBeGreaterThan(0)
    expect((await send('POST', '/api/halt', { reason })).status).toBe(202)
    const events = await api.eventCount()
    const retry = await send('POST', `/api/runs/${finished.id}/retry`, { confirmation: slaRunbook, reason })
    expectProblem(retry, 423)
    expect(retry.body.code).toBe('HALTED')
    const revert = await send('POST', `/api/runs/${finished.id}/revert`, { confirmation: `revert ${finished.id}`, reason })
    expectProblem(revert, 423)
    expect(revert.body.code).toBe('HALTED')
    expect(await api.eventCount()).toBe(events)

    // Lifted, the revert is taken: it puts the SLA dates back, leaving the findings as the other tests expect them.
    expect((await send('DELETE', '/api/halt', { reason })).status).toBe(200)
    await putBack()
    const reverted = await send('POST', `/api/runs/${finished.id}/revert`, { confirmation: `revert ${finished.id}`, reason })
    expect(reverted.status, reverted.text).toBe(202)
    expect((await completed(reverted.body.runId)).summaryCounts.updated).toBe(finished.summaryCounts.updated)
  })

  it('refuses bad control requests clearly and changes nothing', async () => {
    const viewer = await api.operatorToken(['platform.ops.view'])
    const runner = await api.operatorToken(['platform.runbooks.run'])
    const runId = await startAllTenants({ limits: { maxConcurrency: 1 } })
    // The run goes on while we ask: count only what operators' requests appended.
    const operatorEvents = async () => {
      const [row] = await api.sql<Array<{ n: number }>>`
        select count(*)::int as n from event_store_events where (metadata::jsonb) #>> '{initiator,kind}' = 'operator'`
      return row!.n
    }
    const before = await operatorEvents()
    const unknown = '01ARZ3NDEKTSV4RRFFQ69G5FAV'
    expectProblem(await send('POST', `/api/runs/${unknown}/pause`, { reason }), 404)
    expectProblem(await send('POST', '/api/runs/not-a-run/cancel', { reason }), 404)
    expectProblem(await send('POST', `/api/runs/${runId}/pause`, {}), 422, 'reason')
    expectProblem(await send('POST', `/api/runs/${runId}/pause`, { reason: { code: 'INCIDENT', text: 'short' } }), 422, 'reason.text')
    expectProblem(await send('POST', `/api/runs/${runId}/cancel`, { reason: { code: 'BECAUSE', text: reason.text } }), 422, 'reason.code')
    expectProblem(await send('POST', `/api/runs/${runId}/pause`, { reason: 'no' }), 400, 'reason')
    // Capabilities before the body: a malformed body from an operator without them is 403.
    expectProblem(await api.request('POST', `/api/runs/${runId}/pause`, { token: viewer, body: '{' }), 403)
    expectProblem(await send('POST', `/api/runs/${runId}/cancel`, { reason }, runner), 403)
    expectProblem(await send('POST', '/api/halt', { reason }, runner), 403)
    expectProblem(await api.request('GET', `/api/runs/${runId}/tenants?status=nope`, { token }), 400, 'status')
    expectProblem(await api.request('GET', `/api/runs/${runId}/tenants?cursor=zzz`, { token }), 400, 'cursor')
    expectProblem(await api.request('GET', `/api/runs/${unknown}/tenants`, { token }), 404)
    expect(await operatorEvents()).toBe(before)
    await send('POST', `/api/runs/${runId}/cancel`, { reason })
    await completed(runId)
  })
})

describe.runIf(serviceFlavours().length > 1)('run control with a tenant held mid-run (PostgreSQL + NATS)', () => {
  let api: TestService
  let token: string

  beforeAll(async () => {
    api = await serviceFlavours()[1]!.start()
    token = await api.token()
  })

  afterAll(async () => {
    await api?.close()
  })

  it('a halt pauses the run it meets mid-way (HALTED), refuses its resume and new starts, and resumes nothing when lifted', async () => {
    const tenants = (await api.request('GET', '/api/tenants?limit=1000', { token })).body.items as Array<{ id: number }>
    const held = tenants.map((t) => t.id).sort((a, b) => a - b)[2]!
    const holder = await holdAdvisoryLock(api.sql, tenantRepairLockName(held))
    const send = (method: string, path: string, json: unknown) => api.request(method, path, { token, json })
    try {
      const start = await send('POST', runsPath, { scope: 'all_tenants', confirmation: runbookKey, reason, limits: { maxConcurrency: 1 } })
      expect(start.status, start.text).toBe(202)
      const runId = start.body.runId
      await waitUntil(async () => (await api.request('GET', `/api/runs/${runId}`, { token })).body.tenantCounts.succeeded === 2, 'two tenants')
      const halted = await send('POST', '/api/halt', { reason })
      expect(halted.status, halted.text).toBe(202)
      expect(halted.body.pausedRuns).toEqual([runId])
      let run: any
      await waitUntil(async () => {
        run = (await api.request('GET', `/api/runs/${runId}`, { token })).body
        return run.status !== 'running'
      }, 'the pause to be projected')
      expect(run).toMatchObject({ status: 'paused', pause: { reasonCode: 'HALTED', by: expect.any(String) } })
      expectProblem(await send('POST', `/api/runs/${runId}/resume`, {}), 423)
      expectProblem(await send('POST', runsPath, { scope: 'all_tenants', confirmation: runbookKey, reason }), 423)
      await holder.release()
      expect((await send('DELETE', '/api/halt', { reason })).status).toBe(200)
      // The job that waited for the held tenant met the pause: nothing more was repaired.
      await waitUntil(async () => {
        const [row] = await api.sql<Array<{ n: number }>>`select count(*)::int as n from tenant_job_results where run_id = ${runId}`
        return row!.n === 2
      }, 'the halted run to hold')
      expect((await api.request('GET', `/api/runs/${runId}`, { token })).body.status).toBe('paused')
      expect((await send('POST', `/api/runs/${runId}/resume`, {})).status).toBe(202)
      await waitUntil(async () => (await api.request('GET', `/api/runs/${runId}`, { token })).body.status === 'completed', 'the run to complete')
    } finally {
      await holder.release()
      await send('DELETE', '/api/halt', { reason })
    }
  })

  it('a run paused while its tenant is being waited for stops; its count holds; resumed, it completes every tenant once', async () => {
    const tenants = (await api.request('GET', '/api/tenants?limit=1000', { token })).body.items as Array<{ id: number }>
    const held = tenants.map((t) => t.id).sort((a, b) => a - b)[3]!
    const holder = await holdAdvisoryLock(api.sql, tenantRepairLockName(held))
    try {
      const start = await api.request('POST', runsPath, { token, json: { scope: 'all_tenants', confirmation: runbookKey, reason, limits: { maxConcurrency: 1 } } })
      expect(start.status, start.text).toBe(202)
      const runId = start.body.runId
      // Tenants are taken in order, one at a time: the run stalls at the held tenant, three done.
      await waitUntil(async () => (await api.request('GET', `/api/runs/${runId}`, { token })).body.tenantCounts.succeeded === 3, 'three tenants')
      const paused = await api.request('POST', `/api/runs/${runId}/pause`, { token, json: { reason } })
      expect(paused.status).toBe(202)
      await holder.release()
      // The waiting job now gets the lock, sees the pause and leaves the tenant alone.
      await waitUntil(async () => {
        const [row] = await api.sql<Array<{ n: number }>>`select count(*)::int as n from tenant_job_results where run_id = ${runId}`
        const run = (await api.request('GET', `/api/runs/${runId}`, { token })).body
        return row!.n === 3 && run.status === 'paused'
      }, 'the paused run to hold')
      const pending = (await api.request('GET', `/api/runs/${runId}/tenants?status=pending&limit=200`, { token })).body.items
      expect(pending[0].tenantId).toBe(held)
      expect((await api.request('POST', `/api/runs/${runId}/resume`, { token, json: {} })).status).toBe(202)
      let run: any
      await waitUntil(async () => {
        run = (await api.request('GET', `/api/runs/${runId}`, { token })).body
        return run.status === 'completed'
      }, 'the run to complete')
      expect(run.tenantCounts.pending).toBe(0)
      const processed = (await api.request('GET', `/api/runs/${runId}/events`, { token })).body.items.filter((e: any) => e.type === 'TenantProcessed')
      expect(new Set(processed.map((e: any) => e.data.tenantId)).size).toBe(processed.length)
      expect(processed).toHaveLength(run.tenantCounts.targeted)
    } finally {
      await holder.release()
    }
  })
})
