import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Reconciler } from '../../src/workers/reconciler.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { expectProblem, runbookKey, runsPath } from './problem-assertions.js'

/** SPEC §10 approvals (four eyes) over the API, on both flavours. */

const reason = { code: 'DATA_REPAIR', text: 'repair after the import, needs a second pair of eyes' }
const approverCapabilities = ['platform.ops.view', 'platform.runbooks.approve', 'platform.runbooks.findings.lifecycle_backfill']

describe.each(serviceFlavours())('approvals over the API: $name', (flavour) => {
  let api: TestService
  let admin: string
  let approver: string

  beforeAll(async () => {
    api = await flavour.start()
    admin = await api.token()
    approver = await api.operatorToken(approverCapabilities)
  })

  afterAll(async () => {
    await api?.close()
  })

  const send = (method: string, path: string, json: unknown, token = admin) => api.request(method, path, { token, json })
  const run = async (id: string) => (await api.request('GET', `/api/runs/${id}`, { token: admin })).body
  const events = async (id: string) => (await api.request('GET', `/api/runs/${id}/events`, { token: admin })).body.items as unknown[]
  const completed = async (id: string) => {
    await waitUntil(async () => runIsSettled(await run(id)), `run ${id} to complete`)
    return run(id)
  }
  const startAll = async () => {
    const started = await send('POST', runsPath, { scope: 'all_tenants', confirmation: runbookKey, reason })
    expect(started.status, started.text).toBe(202)
    return started.body as { runId: string; status: string }
  }

  it('holds the setting: none by default, all_tenants when set (audited), 422 for anything else', async () => {
    expect((await api.request('GET', '/api/settings/approvals', { token: admin })).body).toMatchObject({ required: 'none' })
    expectProblem(await send('PUT', '/api/settings/approvals', { required: 'sometimes' }), 422, 'required')
    expectProblem(await send('PUT', '/api/settings/approvals', { required: 'all' }, approver), 403)
    const set = await send('PUT', '/api/settings/approvals', { required: 'all_tenants' })
    expect(set.status, set.text).toBe(200)
    expect(set.body).toMatchObject({ required: 'all_tenants', by: { email: expect.any(String) } })
  })

  it('an all-tenants start awaits approval, dispatches nothing, and the starter cannot approve it; another operator can', async () => {
    const started = await startAll()
    expect(started.status).toBe('awaiting_approval')
    const waiting = await run(started.runId)
    expect(waiting).toMatchObject({ status: 'awaiting_approval', outcome: 'pending', approval: { required: true, approvedBy: null } })
    expect((await send('POST', runsPath, { scope: 'all_tenants', confirmation: runbookKey, reason })).status).toBe(409)
    expectProblem(await send('POST', `/api/runs/${started.runId}/approve`, {}), 403)
    const again = await api.token() // the same operator through another token
    expectProblem(await send('POST', `/api/runs/${started.runId}/approve`, {}, again), 403)
    // Refused before the body is read: whatever the starter sends (not JSON, a reject without a reason).
    const raw = await fetch(`${api.baseUrl}/api/runs/${started.runId}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: 'not json',
    })
    expect(raw.status).toBe(403)
    expectProblem(await send('POST', `/api/runs/${started.runId}/reject`, {}), 403)
    const events = (await api.request('GET', `/api/runs/${started.runId}/events`, { token: admin })).body.items.map((e: any) => e.type)
    expect(events).toEqual(['RunRequested'])

    const approved = await send('POST', `/api/runs/${started.runId}/approve`, { comment: 'looked at the preflight' }, approver)
    expect(approved.status, approved.text).toBe(202)
    const done = await completed(started.runId)
    expect(done.outcome).toBe('partially_succeeded')
    expect(done.approval).toMatchObject({ required: true, approvedBy: expect.any(String), comment: 'looked at the preflight' })
    expectProblem(await send('POST', `/api/runs/${started.runId}/approve`, {}, approver), 409)
  })

  it('a rejected run completes rejected with nothing repaired; a cancel of a run awaiting approval is allowed', async () => {
    const before = await api.findingsChecksum()
    const first = await startAll()
    expectProblem(await send('POST', `/api/runs/${first.runId}/reject`, {}, approver), 422, 'reason')
    const rejected = await send('POST', `/api/runs/${first.runId}/reject`, { reason: { code: 'SECURITY', text: 'not during the incident window' } }, approver)
    expect(rejected.status, rejected.text).toBe(202)
    const done = await completed(first.runId)
    expect(done.outcome).toBe('rejected')
    expect(done.tenantCounts.succeeded + done.tenantCounts.failed).toBe(0)
    // None of its tenants was started: they are cancelled, none left pending on a completed run.
    expect(done.tenantCounts).toMatchObject({ pending: 0, cancelled: done.tenantCounts.targeted })
    const listed = (await api.request('GET', `/api/runs/${first.runId}/tenants?limit=100`, { token: admin })).body.items.map((t: any) => t.status)
    expect(listed.length).toBe(done.tenantCounts.targeted)
    expect(new Set(listed)).toEqual(new Set(['cancelled']))
    expect(await api.findingsChecksum()).toBe(before)

    const second = await startAll()
    expect((await send('POST', `/api/runs/${second.runId}/cancel`, { reason })).status).toBe(202)
    expect((await completed(second.runId)).outcome).toBe('cancelled')
    const audit = (await api.request('GET', '/api/audit?limit=200', { token: admin })).body.items.map((e: any) => e.action)
    expect(audit).toEqual(expect.arrayContaining(['platform.ops.runbooks.approved', 'platform.ops.runbooks.rejected']))
  })

  it('a single-tenant start needs no approval under all_tenants; under all it does, and a halt refuses approvals (423)', async () => {
    const tenants = (await api.request('GET', '/api/tenants', { token: admin })).body.items
    const single = await send('POST', runsPath, { scope: 'single_tenant', tenantId: tenants[0].id, confirmation: runbookKey })
    expect(single.body.status).toBe('queued')
    await completed(single.body.runId)
    await send('PUT', '/api/settings/approvals', { required: 'all' })
    const waiting = await send('POST', runsPath, { scope: 'single_tenant', tenantId: tenants[0].id, confirmation: runbookKey })
    expect(waiting.body.status).toBe('awaiting_approval')
    const runId = waiting.body.runId as string
    expect((await run(runId)).status).toBe('awaiting_approval')
    // SPEC §9: the halt pauses every active run, one awaiting its approval too.
    const halted = await send('POST', '/api/halt', { reason })
    expect(halted.body.pausedRuns, halted.text).toContain(runId)
    try {
      await waitUntil(async () => (await run(runId)).status === 'paused', 'the run paused by the halt')
      expect(await run(runId)).toMatchObject({ status: 'paused', pause: { reasonCode: 'HALTED' }, approval: { approvedBy: null } })
      expectProblem(await send('POST', `/api/runs/${runId}/approve`, {}, approver), 423)
    } finally {
      await send('DELETE', '/api/halt', { reason })
    }
    // Lifting resumes nothing; the resume gives the run back to its approvers, and it starts once approved.
    expect((await run(runId)).status).toBe('paused')
    expect((await send('POST', `/api/runs/${runId}/resume`, {})).status).toBe(202)
    await waitUntil(async () => (await run(runId)).status === 'awaiting_approval', 'the run awaiting its approval again')
    expect((await send('POST', `/api/runs/${runId}/approve`, {}, approver)).status).toBe(202)
    expect((await completed(runId)).outcome).toBe('succeeded')
    await send('PUT', '/api/settings/approvals', { required: 'none' })
  })

  it('a run the halt paused while it awaited approval can be approved after the lift: it stays paused until resumed', async () => {
    await send('PUT', '/api/settings/approvals', { required: 'all' })
    try {
      const tenants = (await api.request('GET', '/api/tenants', { token: admin })).body.items
      const runId = (await send('POST', runsPath, { scope: 'single_tenant', tenantId: tenants[1].id, confirmation: runbookKey })).body.runId as string
      expect((await run(runId)).status).toBe('awaiting_approval')
      expect((await send('POST', '/api/halt', { reason })).body.pausedRuns).toContain(runId)
      await send('DELETE', '/api/halt', { reason })
      expect((await send('POST', `/api/runs/${runId}/approve`, {}, approver)).status).toBe(202)
      await waitUntil(async () => (await run(runId)).approval?.approvedBy != null, 'the approval projected')
      expect((await run(runId)).status).toBe('paused')
      expect((await send('POST', `/api/runs/${runId}/resume`, {})).status).toBe(202)
      expect((await completed(runId)).outcome).toBe('succeeded')
    } finally {
      await send('PUT', '/api/settings/approvals', { required: 'none' })
    }
  })

  it('a run awaiting approval for 24 hours is completed rejected (APPROVAL_EXPIRED) by the reconciler, and audited so', async () => {
    await send('PUT', '/api/settings/approvals', { required: 'all' })
    try {
      const tenants = (await api.request('GET', '/api/tenants', { token: admin })).body.items
      const runId = (await send('POST', runsPath, { scope: 'single_tenant', tenantId: tenants[2].id, confirmation: runbookKey })).body.runId as string
      expect((await run(runId)).status).toBe('awaiting_approval')
      const reconciler = new Reconciler({ sql: api.sql, log: api.service.log, catalog: api.service.catalog, logger: pino({ level: 'silent' }) })
      // Not yet: a day less a minute.
      expect(await reconciler.reconcileOnce(new Date(Date.now() + 24 * 3_600_000 - 60_000))).not.toContain(runId)
      expect((await run(runId)).status).toBe('awaiting_approval')
      expect(await reconciler.reconcileOnce(new Date(Date.now() + 24 * 3_600_000 + 60_000))).toContain(runId)
      expect(await completed(runId)).toMatchObject({ status: 'completed', outcome: 'rejected', summaryCounts: expect.objectContaining({ processed: 0 }) })
      const rejected = (await events(runId)).find((e: any) => e.type === 'RunRejected' || (e.type === 'RunCompleted' && e.data.outcome === 'rejected'))
      expect(JSON.stringify(rejected)).toContain('APPROVAL_EXPIRED')
      await waitUntil(async () => {
        const entries = (await api.request('GET', '/api/audit?action=platform.ops.runbooks.rejected&limit=200', { token: admin })).body.items
        return entries.some((e: any) => e.operationRunId === runId && JSON.stringify(e.context).includes('APPROVAL_EXPIRED'))
      }, 'the expiry audited')
    } finally {
      await send('PUT', '/api/settings/approvals', { required: 'none' })
    }
  })
})
