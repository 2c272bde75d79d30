import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { purgeBeforeImages, readBeforeImages } from '../../src/db/before-images.js'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { expectProblem } from './problem-assertions.js'

/** SPEC §11 over the API: canary tenants, before-images and revert, on the embedded default and on PostgreSQL + NATS. */

const KEY = 'findings.lifecycle.backfill'
const REASON = { code: 'DATA_REPAIR', text: 'lifecycle repair after the import' }

describe.each(serviceFlavours())('safe repair over the API: $name', (flavour) => {
  let api: TestService
  let admin: string
  let tenants: Array<{ id: number; name: string }>

  beforeAll(async () => {
    api = await flavour.start()
    admin = await api.token()
    tenants = (await api.request('GET', '/api/tenants?limit=1000', { token: admin })).body.items
    // The demo's unsafe tenant would fail every all-tenants run: these tests want runs that succeed.
    const invalid = tenants.find((t) => t.name === DEMO_INVALID_TENANT_NAME)!
    await api.sql`update findings set severity = 'low' where tenant_id = ${invalid.id} and severity not in ('critical', 'high', 'medium', 'low', 'info')`
  })
  afterAll(async () => {
    await api?.close()
  })

  const getRun = async (id: string) => (await api.request('GET', `/api/runs/${id}`, { token: admin })).body
  const waitFor = async (id: string, done: (run: any) => boolean, what: string) => {
    await waitUntil(async () => done(await getRun(id)), what)
    return getRun(id)
  }
  const start = (json: Record<string, unknown>) =>
    api.request('POST', `/api/runbooks/${KEY}/runs`, { token: admin, json: { scope: 'all_tenants', confirmation: KEY, reason: REASON, ...json } })
  const revert = (id: string, json: Record<string, unknown>) => api.request('POST', `/api/runs/${id}/revert`, { token: admin, json })
  const snapshot = () => api.sql<Array<Record<string, unknown>>>`select * from findings order by id`
  const withoutUpdatedAt = (rows: Array<Record<string, unknown>>) => rows.map(({ updated_at: _u, ...rest }) => JSON.stringify(rest))

  it('a canary of two pauses CANARY_COMPLETE after exactly those two, then resumes; a revert puts every finding back but one edited in between', async () => {
    const before = await snapshot()
    const started = await start({ canary: { count: 2 } })
    expect(started.status, started.text).toBe(202)
    const runId = started.body.runId
    const paused = await waitFor(runId, (r) => r.status === 'paused', 'the canary pause')
    expect(paused.pause.reasonCode).toBe('CANARY_COMPLETE')
    expect(paused.canary).toMatchObject({ autoPromote: false, state: 'passed' })
    expect(paused.canary.tenantIds).toHaveLength(2)
    expect(paused.tenantCounts.succeeded).toBe(2)
    const processed = (await api.request('GET', `/api/runs/${runId}/tenants?status=succeeded`, { token: admin })).body.items.map((t: any) => t.tenantId)
    expect(processed.sort()).toEqual([...paused.canary.tenantIds].sort())

    const resumed = await api.request('POST', `/api/runs/${runId}/resume`, { token: admin, json: {} })
    expect(resumed.status, resumed.text).toBe(202)
    const done = await waitFor(runId, runIsSettled, 'the run to complete and verify')
    expect(done.outcome).toBe('succeeded')
    expect(done.verification.remaining).toBe(0)
    const changed = done.summaryCounts.updated
    expect(changed).toBeGreaterThan(0)
    const images = await readBeforeImages(api.sql, runId)
    expect(images).toHaveLength(changed)

    // Someone edits one repaired finding after the run: the revert must leave it as edited.
    const edited = { row_id: images[0]!.rowId }
    await api.sql`update findings set status = 'edited_by_hand', updated_at = now() where id = ${edited.row_id}`

    expectProblem(await revert(runId, { confirmation: 'revert', reason: REASON }), 422, 'confirmation')
    expectProblem(await revert(runId, { confirmation: `revert ${runId}` }), 422, 'reason')
    const reverted = await revert(runId, { confirmation: `revert ${runId}`, reason: REASON })
    expect(reverted.status, reverted.text).toBe(202)
    const revertRun = await waitFor(reverted.body.runId, (r) => r.status === 'completed', 'the revert to complete')
    expect(revertRun.context.revert_of).toBe(runId)
    expect(revertRun.outcome).toBe('succeeded')
    // SPEC §9: the control's event, on the reverted run's stream, and its audit entry carry the reason.
    const revertedEvent = (await api.request('GET', `/api/runs/${runId}/events`, { token: admin })).body.items.find((e: any) => e.type === 'RunReverted')
    expect(revertedEvent.data.reason).toEqual({ reasonCode: REASON.code, reasonText: REASON.text })
    const entries = (await api.request('GET', '/api/audit?action=platform.ops.runbooks.reverted&limit=200', { token: admin })).body.items
    expect(entries.find((e: any) => e.context.operation_run_id === runId).context).toMatchObject({ reason_code: REASON.code, reason_text: REASON.text })
    expect(revertRun.summaryCounts).toMatchObject({ updated: changed - 1, skipped: 1 })

    const after = await snapshot()
    const editedId = String(edited.row_id)
    const keep = (rows: Array<Record<string, unknown>>) => rows.filter((r) => String(r.id) !== editedId)
    expect(withoutUpdatedAt(keep(after))).toEqual(withoutUpdatedAt(keep(before)))
    expect(after.find((r) => String(r.id) === editedId)!.status).toBe('edited_by_hand')

    // Once only.
    expectProblem(await revert(runId, { confirmation: `revert ${runId}`, reason: REASON }), 409)
  })

  it('a revert whose before-images were purged while it awaited approval fails those tenants, and its retry reverts (never repairs)', async () => {
    const repaired = await start({})
    expect(repaired.status, repaired.text).toBe(202)
    const original = await waitFor(repaired.body.runId, runIsSettled, 'a repair to revert')
    expect(original.summaryCounts.updated).toBeGreaterThan(0)
    const approver = await api.operatorToken(['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.approve', 'platform.runbooks.findings.lifecycle_backfill'])
    expect((await api.request('PUT', '/api/settings/approvals', { token: admin, json: { required: 'all' } })).status).toBe(200)
    try {
      // The confirmation is exact, as a start's: blanks around it are another text.
      expectProblem(await revert(original.id, { confirmation: ` revert ${original.id} `, reason: REASON }), 422, 'confirmation')
      const asked = await revert(original.id, { confirmation: `revert ${original.id}`, reason: REASON })
      expect(asked.status, asked.text).toBe(202)
      expect(asked.body.status).toBe('awaiting_approval')
      const images = await readBeforeImages(api.sql, original.id)
      const purgedTenant = images[0]!.tenantId
      await api.sql`delete from ops_before_images where run_id = ${original.id} and tenant_id = ${purgedTenant}`
      const checksum = await api.findingsChecksum()
      const approved = await api.request('POST', `/api/runs/${asked.body.runId}/approve`, { token: approver, json: {} })
      expect(approved.status, approved.text).toBe(202)
      const revertRun = await waitFor(asked.body.runId, (r) => r.status === 'completed', 'the revert to complete')
      expect(revertRun.outcome).toBe('partially_succeeded')
      expect(revertRun.failureSummary).toEqual([expect.objectContaining({ tenant_id: purgedTenant, reason_code: 'INVALID_DATA', message: expect.stringMatching(/gone/) })])

      // The retry of the revert's failed tenant is a revert too: it fails again, and repairs nothing.
      const before = await api.findingsChecksum()
      const retried = await api.request('POST', `/api/runs/${asked.body.runId}/retry`, { token: admin, json: { confirmation: KEY, reason: REASON } })
      expect(retried.status, retried.text).toBe(202)
      await api.request('POST', `/api/runs/${retried.body.runId}/approve`, { token: approver, json: {} })
      const retry = await waitFor(retried.body.runId, (r) => r.status === 'completed', 'the retry to complete')
      expect(retry.context.revert_of).toBe(original.id)
      expect(retry.outcome).toBe('failed')
      expect(await api.findingsChecksum()).toBe(before)
      expect(before).not.toBe(checksum)
    } finally {
      await api.request('PUT', '/api/settings/approvals', { token: admin, json: { required: 'none' } })
    }
  })

  it('refuses a revert of a run that changed nothing, or whose before-images expired, and a canary outside the targets', async () => {
    // Everything is repaired by now (the revert above put back findings: repair them again first).
    const again = await start({})
    expect(again.status, again.text).toBe(202)
    await waitFor(again.body.runId, runIsSettled, 'the repair to complete')
    const idle = await start({})
    expect(idle.status, idle.text).toBe(202)
    const nothing = await waitFor(idle.body.runId, runIsSettled, 'the idle run to complete')
    expect(nothing.summaryCounts.updated).toBe(0)
    const eventsBefore = await api.eventCount()
    expectProblem(await revert(idle.body.runId, { confirmation: `revert ${idle.body.runId}`, reason: REASON }), 422, 'runId')
    // Before-images older than the retention are purged (the worker's timer calls the same purge).
    await api.sql`update ops_before_images set recorded_at = recorded_at - interval '31 days' where run_id = ${again.body.runId}`
    expect(await purgeBeforeImages(api.sql, 30)).toBeGreaterThan(0)
    expectProblem(await revert(again.body.runId, { confirmation: `revert ${again.body.runId}`, reason: REASON }), 422, 'runId')
    expect(await api.eventCount()).toBe(eventsBefore)

    const outside = await start({ canary: { tenantIds: [999_999] } })
    expectProblem(outside, 422, 'canary.tenantIds')
    expectProblem(await start({ canary: { count: 0 } }), 422, 'canary.count')
    expectProblem(await start({ canary: { count: tenants.length + 5 } }), 422, 'canary.count')
    expect(await api.eventCount()).toBe(eventsBefore)
  })
})
