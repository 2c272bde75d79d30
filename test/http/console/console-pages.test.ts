import { destroyConsoleSession } from '../../../src/auth/console-sessions.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../../src/db/demo-seed.js'
import { getRun } from '../../../src/projections/queries.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../../support/service.js'
import {
  consoleLogin,
  consoleRequest,
  createConsoleOperator,
  parseServerSentEvents,
  type ConsoleResponse,
  type ConsoleSession,
} from './console-client.js'

const runbookKey = 'findings.lifecycle.backfill'
const runbookCapability = 'platform.runbooks.findings.lifecycle_backfill'
const everyCapability = ['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.run', runbookCapability]
const preflightPath = `/system/ops/runbooks/${runbookKey}/preflight`
const startPath = `/system/ops/runbooks/${runbookKey}/runs`
const validReason = { reasonCode: 'DATA_REPAIR', reasonText: 'normalise legacy finding lifecycles' }

function runIdFrom(location: string | null): string {
  const match = /^\/system\/ops\/runs\/([0-9A-Z]{26})$/.exec(location ?? '')
  if (!match) throw new Error(`not a run page: ${location}`)
  return match[1]!
}

describe.each(serviceFlavours())('console pages: $name', (flavour) => {
  let service: TestService
  let admin: ConsoleSession
  let tenants: Array<{ id: number; name: string }>

  const get = (path: string, session: ConsoleSession = admin, headers: Record<string, string> = {}) =>
    consoleRequest(service, 'GET', path, { cookies: session.cookies, headers })
  const postForm = (path: string, form: Record<string, string>, session: ConsoleSession = admin) =>
    consoleRequest(service, 'POST', path, { cookies: session.cookies, form })
  const start = (form: Record<string, string>, session: ConsoleSession = admin) =>
    postForm(startPath, { _csrf: session.csrf, ...form }, session)

  async function completedRun(runId: string) {
    await waitUntil(async () => runIsSettled((await getRun(service.sql, runId)) ?? undefined), `run ${runId} completed`)
    return (await getRun(service.sql, runId))!
  }

  beforeAll(async () => {
    service = await flavour.start()
    admin = await consoleLogin(service, await createConsoleOperator(service, everyCapability))
    const response = await service.request('GET', '/api/tenants', { token: await service.token() })
    tenants = response.body.items
  })

  afterAll(async () => {
    await service?.close()
  })

  describe('runbooks page', () => {
    it('lists the catalog with the scope choice, a tenant picker of the universe, preflight and the start form', async () => {
      const page = await get('/system/ops/runbooks')
      expect(page.status).toBe(200)
      expect(page.headers.get('cache-control')).toBe('no-store')
      expect(page.text).toContain('Findings lifecycle backfill')
      expect(page.text).toContain('value="all_tenants" checked')
      expect(page.text).toContain('value="single_tenant"')
      // The picker follows the scope through the stylesheet alone: hidden while "all tenants" is checked.
      expect(page.text).toContain('<div class="tenant-picker">')
      expect(page.text).toContain('form:has(input[name=scope][value=all_tenants]:checked) .tenant-picker { display: none; }')
      expect(page.text).toContain('<label for="rb0-tenant">Tenant</label>')
      expect(page.text).toContain(`<option value="${tenants[0]!.name} (#${tenants[0]!.id})">`)
      expect(page.text).not.toContain('(#1)') // the platform tenant is not in the universe
      expect(page.text).toContain('data-action="preflight"')
      expect(page.text).toContain('<label for="rb0-confirmation">')
      expect(page.text).toContain('<label for="rb0-reason-code">Reason code</label>')
      expect(page.text).toContain('<label for="rb0-reason-text">Reason</label>')
      expect(page.text).toContain('Start run')
      const nonce = /script-src 'nonce-([^']+)'/.exec(page.headers.get('content-security-policy') ?? '')?.[1]
      expect(page.text).toContain(`<script nonce="${nonce}">`)
    })

    it('searches the universe for the picker (session-authenticated JSON)', async () => {
      const target = tenants[3]!
      const response = await get(`/system/ops/tenants?q=${encodeURIComponent(target.name.slice(0, 6))}`, admin, { accept: 'application/json' })
      expect(response.status).toBe(200)
      const body = JSON.parse(response.text)
      expect(body.items.map((t: { id: number }) => t.id)).toContain(target.id)
      const archived = await get('/system/ops/tenants?q=', admin, { accept: 'application/json' })
      expect(JSON.parse(archived.text).items.map((t: { id: number }) => t.id)).not.toContain(1)
    })

    it('answers the preflight as JSON with the CSRF header, recording it; refuses it without or with a wrong token (403, nothing appended)', async () => {
      const tenant = tenants[0]!
      for (const headers of [{}, { 'x-csrf-token': 'x'.repeat(43) }] as Record<string, string>[]) {
        const before = await service.eventCount()
        const refused = await consoleRequest(service, 'POST', preflightPath, {
          cookies: admin.cookies,
          json: { scope: 'single_tenant', tenantId: tenant.id },
          headers: { accept: 'application/json', ...headers },
        })
        expect(refused.status).toBe(403)
        expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/)
        expect(await service.eventCount()).toBe(before)
      }
      const before = await service.eventCount()
      const response = await consoleRequest(service, 'POST', preflightPath, {
        cookies: admin.cookies,
        json: { scope: 'single_tenant', tenantId: tenant.id },
        headers: { accept: 'application/json', 'x-csrf-token': admin.csrf },
      })
      expect(response.status, response.text).toBe(200)
      const api = await service.request('POST', `/api/runbooks/${runbookKey}/preflight`, {
        token: await service.token(),
        json: { scope: 'single_tenant', tenantId: tenant.id },
      })
      // The same answer, but for the id each recorded preview gets (SPEC §11).
      const { preflightId, ...answer } = JSON.parse(response.text)
      expect(preflightId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/)
      expect(preflightId).not.toBe(api.body.preflightId)
      expect({ ...answer, preflightId: api.body.preflightId }).toEqual(api.body)
      expect(await service.eventCount()).toBe(before + 2) // this preflight and the API's
      const invalid = await consoleRequest(service, 'POST', preflightPath, {
        cookies: admin.cookies,
        json: { scope: 'single_tenant' },
        headers: { accept: 'application/json', 'x-csrf-token': admin.csrf },
      })
      expect(invalid.status).toBe(422)
      expect(JSON.parse(invalid.text).errors).toEqual([expect.objectContaining({ field: 'tenantId' })])
    })

    it('refuses a start without or with a wrong CSRF token: 403, nothing appended', async () => {
      for (const csrf of [undefined, 'x'.repeat(43)]) {
        const before = await service.eventCount()
        const form: Record<string, string> = { scope: 'all_tenants', confirmation: runbookKey, ...validReason }
        if (csrf) form._csrf = csrf
        const refused = await postForm(startPath, form)
        expect(refused.status).toBe(403)
        expect(refused.text).toContain('Request refused')
        expect(await service.eventCount()).toBe(before)
      }
    })

    it('explains invalid fields in place and keeps what was typed (422, nothing appended)', async () => {
      const before = await service.eventCount()
      const refused = await start({ scope: 'all_tenants', tenant: '', confirmation: 'findings', reasonCode: '', reasonText: 'bad <x>' })
      expect(refused.status).toBe(422)
      expect(refused.text).toMatch(/id="rb0-confirmation-error"[^>]*>Confirmation must be exactly the runbook key &quot;findings.lifecycle.backfill&quot;<\/p>/)
      expect(refused.text).toMatch(/id="rb0-reason-code-error"[^>]*>Reason code must be one of DATA_REPAIR, INCIDENT, SUPPORT, SECURITY<\/p>/)
      expect(refused.text).toMatch(/id="rb0-reason-text-error"[^>]*>Reason text must be 10 to 500 characters \(got 7\)<\/p>/)
      expect(refused.text).toMatch(/id="rb0-confirmation"[^>]*value="findings"[^>]*aria-invalid="true"|id="rb0-confirmation"[^>]*aria-invalid="true"/)
      expect(refused.text).toContain('bad &lt;x&gt;</textarea>')
      const noReason = await start({ scope: 'all_tenants', confirmation: runbookKey })
      expect(noReason.status).toBe(422)
      expect(noReason.text).toContain('Reason is required for a run on all tenants')
      const noTenant = await start({ scope: 'single_tenant', tenant: 'nobody', confirmation: runbookKey })
      expect(noTenant.status).toBe(422)
      expect(noTenant.text).toMatch(/id="rb0-tenant-error"[^>]*>Tenant must be picked from the list of tenants<\/p>/)
      expect(noTenant.text).toContain('value="single_tenant" checked') // so the picker stays open
      const outside = await start({ scope: 'single_tenant', tenant: 'Platform (#1)', confirmation: runbookKey })
      expect(outside.status).toBe(422)
      expect(outside.text).toContain('tenant 1 is not in the allowed universe')
      expect(await service.eventCount()).toBe(before)
    })

    it('re-renders a refused start for an operator who may start but not view runbooks without the tenants or the rest of the catalog', async () => {
      const runner = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view', 'platform.runbooks.run', runbookCapability]))
      expect((await get('/system/ops/runbooks', runner)).status).toBe(403)
      const before = await service.eventCount()
      const refused = await start({ scope: 'single_tenant', tenant: '', confirmation: 'x' }, runner)
      expect(refused.status).toBe(422)
      expect(refused.text).toContain('id="rb0-confirmation-error"') // the form sent, explained in place
      for (const tenant of tenants) expect(refused.text).not.toContain(tenant.name)
      expect(refused.text).not.toContain('findings.sla.recalculate')
      expect(await service.eventCount()).toBe(before)
    })

    it('tells an operator who may start but not view runs that the run started, with its id, instead of a refused run page', async () => {
      const starter = await consoleLogin(service, await createConsoleOperator(service, ['platform.runbooks.view', 'platform.runbooks.run', runbookCapability]))
      const tenant = tenants.find((t) => t.name !== 'Globex Retail')!
      const started = await start({ scope: 'single_tenant', tenant: `${tenant.name} (#${tenant.id})`, confirmation: runbookKey }, starter)
      // Redirected to the catalog (a reload does not post the start again), which says what started.
      expect(started.status).toBe(303)
      const location = started.headers.get('location')!
      expect(location).toMatch(/^\/system\/ops\/runbooks\?started=[0-9A-Z]{26}&status=(queued|completed)$/)
      const page = await get(location, starter)
      const runId = /Run <code>([0-9A-Z]{26})<\/code> started \((queued|completed)\)/.exec(page.text)?.[1]
      expect(runId, page.text.slice(0, 2000)).toBeDefined()
      expect(page.text).toContain('needs the capability platform.ops.view')
      // A made-up notice is not shown.
      expect((await get('/system/ops/runbooks?started=<b>x</b>&status=queued', starter)).text).not.toContain('id="run-started"')
      expect((await completedRun(runId!)).context).toMatchObject({ source: 'system_ui', target_tenant_id: tenant.id })
    })

    it('starts a single-tenant run from the form and redirects to its page; identical concurrent starts link to the active run (409)', async () => {
      const tenant = tenants.find((t) => t.name === 'Globex Retail')!
      const responses = await Promise.all(
        Array.from({ length: 4 }, () => start({ scope: 'single_tenant', tenant: `${tenant.name} (#${tenant.id})`, confirmation: runbookKey })),
      )
      const statuses = responses.map((r) => r.status).sort()
      expect(statuses, responses.map((r) => r.text.slice(0, 200)).join('\n')).toEqual([303, 409, 409, 409])
      const runId = runIdFrom(responses.find((r) => r.status === 303)!.headers.get('location'))
      for (const conflict of responses.filter((r) => r.status === 409)) {
        expect(conflict.text).toContain('An identical run is already active.')
        expect(conflict.text).toContain(`href="/system/ops/runs/${runId}"`)
      }
      const page = await get(`/system/ops/runs/${runId}`)
      expect(page.status).toBe(200)
      expect(page.text).toContain(runId)
      expect(page.text).toContain(`Single tenant ${tenant.name} (#${tenant.id})`)
      const run = await completedRun(runId)
      expect(run.context).toMatchObject({ source: 'system_ui', target_tenant_id: tenant.id })
    })

    it('starts a run with the limits typed in the form; one out of range is shown on the form, nothing started (SPEC §9)', async () => {
      const tenant = tenants.find((t) => t.name === 'Initrode Health')!
      const form = { scope: 'single_tenant', tenant: `${tenant.name} (#${tenant.id})`, confirmation: runbookKey }
      const page = await get('/system/ops/runbooks')
      expect(page.text).toContain('name="maxConcurrency"')
      expect(page.text).toContain('name="maxFailures"')
      const refused = await start({ ...form, maxConcurrency: '0', maxFailures: '2' })
      expect(refused.status).toBe(422)
      expect(refused.text).toContain('Max concurrency')
      expect(refused.text).toMatch(/name="maxFailures"[^>]*value="2"|value="2"[^>]*name="maxFailures"/)
      const started = await start({ ...form, maxConcurrency: '2', maxFailures: '0' })
      expect(started.status, started.text.slice(0, 300)).toBe(303)
      const runId = runIdFrom(started.headers.get('location'))
      const run = await service.request('GET', `/api/runs/${runId}`, { token: await service.token() })
      expect(run.body.limits).toEqual({ maxConcurrency: 2, maxFailures: 0 })
      await completedRun(runId)
    })
  })

  describe('runs and run pages', () => {
    let allTenantsRunId: string

    beforeAll(async () => {
      const started = await start({ scope: 'all_tenants', confirmation: runbookKey, ...validReason })
      expect(started.status, started.text.slice(0, 500)).toBe(303)
      allTenantsRunId = runIdFrom(started.headers.get('location'))
    })

    it('streams the run live: progress first, then completed with every tenant done, then its verification, then the stream ends', async () => {
      const response = await consoleRequest(service, 'GET', `/system/ops/runs/${allTenantsRunId}/events/stream`, {
        cookies: admin.cookies,
        headers: { accept: 'text/event-stream' },
      })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
      const all = parseServerSentEvents(response.text)
      const completion = all.findIndex((e) => e.event === 'completed')
      // partially succeeded: verified, so the verification follows the completion on the stream
      expect(JSON.parse(all[completion]!.data).verificationFollows).toBe(true)
      expect(all.slice(completion + 1).map((e) => e.event)).toEqual(['verified'])
      const events = all.slice(0, completion + 1)
      expect(events[0]!.event).toBe('progress')
      expect(events.at(-1)!.event).toBe('completed')
      expect(events.filter((e) => e.event === 'completed')).toHaveLength(1)
      const final = JSON.parse(events.at(-1)!.data)
      expect(final).toMatchObject({ status: 'completed', outcome: 'partially_succeeded', etaSeconds: 0 })
      expect(final.done).toBe(tenants.length)
      expect(final.targeted).toBe(tenants.length)
      expect(final.failures).toEqual([
        expect.objectContaining({ reasonCode: 'INVALID_DATA', tenant: expect.stringContaining(DEMO_INVALID_TENANT_NAME), message: expect.stringMatching(/^finding \d+/) }),
      ])
      const progress = events.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data).done as number)
      expect(progress).toEqual([...progress].sort((a, b) => a - b)) // never goes backwards
      // The failure list, the large part of a big run, is not repeated in every progress event.
      expect(events.filter((e) => e.event === 'progress').every((e) => !('failures' in JSON.parse(e.data)))).toBe(true)
      for (const e of events.filter((e) => e.event === 'failures')) expect(Array.isArray(JSON.parse(e.data))).toBe(true)
    })

    it('follows the read model while the stream is open: running, then completed once the projection says so', async () => {
      const run = await completedRun(allTenantsRunId)
      await service.sql`update operation_runs set status = 'running', outcome = 'pending', completed_at = null where id = ${run.id}`
      const streaming = consoleRequest(service, 'GET', `/system/ops/runs/${run.id}/events/stream`, {
        cookies: admin.cookies,
        headers: { accept: 'text/event-stream' },
      })
      await new Promise((resolve) => setTimeout(resolve, 1_200)) // a couple of polls while "running"
      await service.sql`update operation_runs set status = 'completed', outcome = 'partially_succeeded', completed_at = ${run.completedAt}
                         where id = ${run.id}`
      const events = parseServerSentEvents((await streaming).text).map((e) => ({ event: e.event, data: JSON.parse(e.data) }))
      expect(events[0]).toMatchObject({ event: 'progress', data: { status: 'running', outcome: 'pending' } })
      expect(events.at(-2)).toMatchObject({ event: 'completed', data: { status: 'completed', outcome: 'partially_succeeded' } })
      expect(events.at(-1)).toMatchObject({ event: 'verified', data: { html: expect.stringContaining('Verified: 0 remaining') } })
    })

    it('keeps a completed run\'s stream open until its verification is recorded, then sends it as the page shows it', async () => {
      const run = await completedRun(allTenantsRunId)
      const [controls] = await service.sql<Array<{ verification: unknown }>>`select verification from operation_run_controls where run_id = ${run.id}`
      const verification = controls!.verification
      await service.sql`update operation_runs set status = 'running', outcome = 'pending', completed_at = null where id = ${run.id}`
      await service.sql`update operation_run_controls set verification = null where run_id = ${run.id}`
      try {
        const streaming = consoleRequest(service, 'GET', `/system/ops/runs/${run.id}/events/stream`, {
          cookies: admin.cookies,
          headers: { accept: 'text/event-stream' },
        })
        await new Promise((resolve) => setTimeout(resolve, 700))
        await service.sql`update operation_runs set status = 'completed', outcome = 'partially_succeeded', completed_at = ${run.completedAt}
                           where id = ${run.id}`
        await new Promise((resolve) => setTimeout(resolve, 1_200)) // completed, a couple of polls without a verification
        const verifiedAt = '2026-01-02T03:04:05.000Z'
        await service.sql`update operation_run_controls set verification = ${JSON.stringify({ remaining: 0, tenantsWithRemaining: [], verifiedAt })}::text::jsonb
                           where run_id = ${run.id}`
        const events = parseServerSentEvents((await streaming).text).map((e) => ({ event: e.event, data: JSON.parse(e.data) }))
        const completion = events.findIndex((e) => e.event === 'completed')
        expect(events[completion]!.data).toMatchObject({ status: 'completed', verificationFollows: true })
        expect(events.slice(completion + 1).map((e) => e.event)).toEqual(['verified'])
        const { html } = events.at(-1)!.data as { html: string }
        expect(html).toContain('<section class="card" aria-labelledby="verification-title" id="run-verification">')
        expect(html).toContain('Verified: 0 remaining')
        expect(html).toContain(`<time datetime="${verifiedAt}">`)
      } finally {
        await service.sql`update operation_runs set status = 'completed', outcome = 'partially_succeeded', completed_at = ${run.completedAt}
                           where id = ${run.id}`
        await service.sql`update operation_run_controls set verification = ${verification === null ? null : JSON.stringify(verification)}::text::jsonb where run_id = ${run.id}`
      }
    })

    it('ends a live stream when its session is logged out, with an "ended" event', async () => {
      const run = await completedRun(allTenantsRunId)
      const viewer = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view']))
      await service.sql`update operation_runs set status = 'running', outcome = 'pending', completed_at = null where id = ${run.id}`
      try {
        const started = Date.now()
        const streaming = consoleRequest(service, 'GET', `/system/ops/runs/${run.id}/events/stream`, {
          cookies: viewer.cookies,
          headers: { accept: 'text/event-stream' },
        })
        await new Promise((resolve) => setTimeout(resolve, 700))
        await destroyConsoleSession(service.sql, viewer.cookies.rcp_session!)
        const events = parseServerSentEvents((await streaming).text)
        expect(events[0]?.event).toBe('progress')
        expect(events.at(-1)).toMatchObject({ event: 'ended' })
        expect(Date.now() - started).toBeLessThan(30_000)
      } finally {
        await service.sql`update operation_runs set status = 'completed', outcome = 'partially_succeeded', completed_at = ${run.completedAt}
                           where id = ${run.id}`
      }
    })

    it('answers the stream 404 for an unknown run', async () => {
      const response = await get('/system/ops/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/events/stream', admin, { accept: 'text/event-stream' })
      expect(response.status).toBe(404)
    })

    it('shows a completed run: counts, failures with reason and message, context and raw events', async () => {
      const run = await completedRun(allTenantsRunId)
      const page = await get(`/system/ops/runs/${allTenantsRunId}`)
      expect(page.status).toBe(200)
      expect(page.text).toContain('partially succeeded')
      expect(page.text).toMatch(/<dd data-count="updated">\d+<\/dd>/)
      expect(page.text).toContain(`<dd data-count="tenants">${tenants.length}</dd>`)
      const preflight = run.context['preflight'] as { affected_count: number; total_count: number }
      expect(page.text).toContain(`<dd id="run-plan">${preflight.affected_count} to update of ${preflight.total_count} scanned (preflight)</dd>`)
      const failure = run.failureSummary[0]!
      expect(page.text).toContain(`<td data-label="Tenant">${DEMO_INVALID_TENANT_NAME} (#${failure.tenant_id})</td>`)
      expect(page.text).toContain('<code>INVALID_DATA</code>')
      expect(page.text).toMatch(/<details class="card"><summary>Context<\/summary>/)
      expect(page.text).toContain('&quot;source&quot;: &quot;system_ui&quot;')
      // SPEC §12: the events as a timeline, each one's JSON behind a disclosure.
      expect(page.text).toMatch(/<section class="card" aria-labelledby="timeline-title" id="run-timeline">/)
      expect(page.text).toMatch(/Every event of the run \(\d+\)\./)
      expect(page.text).toMatch(/<span class="timeline-what">requested the run over all tenants \(\d+ tenants\) from the console<\/span>/)
      expect(page.text).toMatch(/<span class="timeline-what">completed: partially succeeded — \d+ of \d+ findings updated, 1 tenant failed<\/span>/)
      expect(page.text).toContain('<summary>RunRequested, revision 0 (JSON)</summary>')
      expect(page.text).toContain('&quot;type&quot;: &quot;RunRequested&quot;')
      expect(page.text).toMatch(/data-follow="false"/) // a completed run's timeline does not follow
      expect(page.text).toMatch(/<section[^>]*id="run-progress-section" hidden=""/) // no progress bar once completed
      expect(page.text).not.toContain('new EventSource') // and no live script
    })

    it('shows the verification of a completed run once the service recorded it: "Verified: 0 remaining" (SPEC §11)', async () => {
      await completedRun(allTenantsRunId)
      await waitUntil(async () => (await getRun(service.sql, allTenantsRunId))?.verification != null, `run ${allTenantsRunId} verified`)
      const run = (await getRun(service.sql, allTenantsRunId))!
      expect(run.verification).toMatchObject({ remaining: 0, tenantsWithRemaining: [] })
      const page = await get(`/system/ops/runs/${allTenantsRunId}`)
      expect(page.status).toBe(200)
      expect(page.text).toContain('<h2 id="verification-title">Verification</h2>')
      expect(page.text).toContain('Verified: 0 remaining')
      expect(page.text).toContain(`<time datetime="${run.verification!.verifiedAt}">`)
      expect(page.text).not.toContain('Not verified yet')
    })

    it('follows a completed run whose verification is still to come: the note, the live script, the timeline following (SPEC §11)', async () => {
      const run = await completedRun(allTenantsRunId)
      const [controls] = await service.sql<Array<{ verification: unknown }>>`select verification from operation_run_controls where run_id = ${run.id}`
      await service.sql`update operation_run_controls set verification = null where run_id = ${run.id}`
      try {
        const page = await get(`/system/ops/runs/${allTenantsRunId}`)
        expect(page.status).toBe(200)
        expect(page.text).toContain('Not verified yet')
        expect(page.text).toContain('data-live="verifying"')
        expect(page.text).toContain('new EventSource')
        expect(page.text).toMatch(/data-follow="true"/)
        expect(page.text).toMatch(/<section[^>]*id="run-progress-section" hidden=""/) // still no progress bar
      } finally {
        await service.sql`update operation_run_controls set verification = ${JSON.stringify(controls!.verification)}::text::jsonb where run_id = ${run.id}`
      }
    })

    it('shows a running run with a progress bar and the live script', async () => {
      // A run whose projection says running: its page is built from the read model alone.
      const [row] = await service.sql<{ id: string }[]>`
        update operation_runs set status = 'running', outcome = 'pending', completed_at = null
         where id = ${allTenantsRunId} returning id`
      try {
        expect(row).toBeDefined()
        const page = await get(`/system/ops/runs/${allTenantsRunId}`)
        expect(page.text).toMatch(/<progress id="run-progress" max="\d+" value="\d+"/)
        expect(page.text).toMatch(/tenants done/)
        expect(page.text).toContain('new EventSource')
        expect(page.text).toContain(`data-stream-url="/system/ops/runs/${allTenantsRunId}/events/stream"`)
      } finally {
        await service.sql`update operation_runs set status = 'completed', outcome = 'partially_succeeded', completed_at = now()
                           where id = ${allTenantsRunId}`
      }
    })

    it('answers 404 for an unknown run page', async () => {
      expect((await get('/system/ops/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV')).status).toBe(404)
      expect((await get('/system/ops/runs/not-a-run')).status).toBe(404)
    })

    it('lists runs newest first with status and outcome badges, filters and keyset pagination', async () => {
      await completedRun(allTenantsRunId)
      const page = await get('/system/ops/runs')
      expect(page.status).toBe(200)
      expect(page.text).toContain('<span class="badge neutral" data-badge="status">completed</span>')
      expect(page.text).toContain('<span class="badge warn" data-badge="outcome">partially succeeded</span>')
      for (const label of ['Status', 'Outcome', 'Runbook', 'Tenant']) expect(page.text).toMatch(new RegExp(`<label for="filter-[a-z]+">${label}</label>`))
      const order = [...page.text.matchAll(/href="\/system\/ops\/runs\/([0-9A-Z]{26})"/g)].map((m) => m[1]!)
      expect(order[0]).toBe(allTenantsRunId) // the newest

      const filtered = await get('/system/ops/runs?outcome=succeeded')
      expect(filtered.text).not.toContain(`href="/system/ops/runs/${allTenantsRunId}"`)
      const globex = tenants.find((t) => t.name === 'Globex Retail')!
      const byTenant = await get(`/system/ops/runs?tenant=${encodeURIComponent(`${globex.name} (#${globex.id})`)}`)
      expect(byTenant.text).toContain(`Tenant ${globex.name} (#${globex.id})`)
      expect(byTenant.text).not.toContain(`href="/system/ops/runs/${allTenantsRunId}"`)
      const badFilter = await get('/system/ops/runs?status=sleeping')
      expect(badFilter.status).toBe(400)
      expect(badFilter.text).toContain('Some filters were not understood')
      const badCursor = await get('/system/ops/runs?cursor=nonsense')
      expect(badCursor.status).toBe(400)
    })

    it('pages through more runs than fit on a page with nextCursor links', async () => {
      // 26 more single-tenant runs (page size 25): one per tenant would be too slow, so insert projections.
      await service.sql`
        insert into operation_runs (id, workspace_id, tenant_id, user_id, initiator_name, type, status, outcome,
          run_identity_hash, summary_counts, failure_summary, context, created_at)
        select 'PAGE' || lpad(i::text, 22, '0'), 2, 2, 'u', 'Pager', 'findings.lifecycle.backfill', 'completed', 'succeeded',
               md5(i::text), '{"total":0,"processed":0,"updated":0,"skipped":0,"failed":0}', '[]', '{}',
               now() - interval '1 day' - i * interval '1 second'
        from generate_series(1, 26) i`
      const seen: string[] = []
      let path: string | null = '/system/ops/runs?runbook=findings.lifecycle.backfill'
      let pages = 0
      while (path) {
        const page: ConsoleResponse = await get(path)
        expect(page.status).toBe(200)
        seen.push(...[...page.text.matchAll(/href="\/system\/ops\/runs\/([0-9A-Z]{26})"/g)].map((m) => m[1]!))
        const next = /<a href="([^"]+)">Older runs<\/a>/.exec(page.text)?.[1]
        path = next ? next.replaceAll('&amp;', '&') : null
        if (pages > 0) expect(page.text).toContain('Newest runs')
        pages++
      }
      expect(pages).toBeGreaterThanOrEqual(2)
      expect(new Set(seen).size).toBe(seen.length)
      expect(seen.filter((id) => id.startsWith('PAGE'))).toHaveLength(26)
    })
  })

  describe('capabilities', () => {
    it('shows a view-only operator no start form (nor preflight) and refuses their start POST with 403, appending nothing', async () => {
      const viewer = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view', 'platform.runbooks.view']))
      const page = await get('/system/ops/runbooks', viewer)
      expect(page.status).toBe(200)
      expect(page.text).toContain('Findings lifecycle backfill')
      expect(page.text).not.toContain('Start run')
      expect(page.text).not.toContain('name="confirmation"')
      expect(page.text).not.toContain('data-action="preflight"')
      const before = await service.eventCount()
      const refused = await start({ scope: 'all_tenants', confirmation: runbookKey, ...validReason }, viewer)
      expect(refused.status).toBe(403)
      expect(refused.text).toContain('platform.runbooks.run')
      const preflight = await consoleRequest(service, 'POST', preflightPath, {
        cookies: viewer.cookies,
        json: { scope: 'all_tenants' },
        headers: { accept: 'application/json', 'x-csrf-token': viewer.csrf },
      })
      expect(preflight.status).toBe(403)
      expect(await service.eventCount()).toBe(before)
    })

    it('shows an operator who may preview but not start the preflight only', async () => {
      const previewer = await consoleLogin(service, await createConsoleOperator(service, ['platform.runbooks.view', runbookCapability]))
      const page = await get('/system/ops/runbooks', previewer)
      expect(page.text).toContain('data-action="preflight"')
      expect(page.text).not.toContain('Start run')
      expect(page.text).not.toContain('href="/system/ops/runs"') // no run history in the navigation
      expect((await get('/system/ops/runs', previewer)).status).toBe(403)
    })

    it('refuses the catalog to an operator without platform.runbooks.view (403 page) and lands them on the runs', async () => {
      const operator = await createConsoleOperator(service, ['platform.ops.view'])
      const session = await consoleLogin(service, operator)
      const page = await get('/system/ops/runbooks', session)
      expect(page.status).toBe(403)
      expect(page.text).toContain('platform.runbooks.view')
      expect(page.text).not.toContain('href="/system/ops/runbooks"') // hidden from the navigation
      const tenantsJson = await get('/system/ops/tenants?q=a', session, { accept: 'application/json' })
      expect(tenantsJson.status).toBe(403)
    })
  })

  describe('escaping', () => {
    it('renders a tenant named <script>alert(1)</script> escaped, and a hostile reason as text', async () => {
      const name = '<script>alert(1)</script>'
      await service.sql`insert into tenants (id, workspace_id, name) values (9001, 9001, ${name})`
      const page = await get('/system/ops/runbooks')
      expect(page.text).not.toContain(name)
      expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt; (#9001)')
      const runs = await get('/system/ops/runs')
      expect(runs.text).not.toContain(name)
      const reasonText = '"><img src=x onerror=alert(1)> repair'
      const started = await start({ scope: 'single_tenant', tenant: `${name} (#9001)`, confirmation: runbookKey, reasonCode: 'SUPPORT', reasonText })
      expect(started.status, started.text.slice(0, 300)).toBe(303)
      const runId = runIdFrom(started.headers.get('location'))
      await completedRun(runId)
      const runPage = await get(`/system/ops/runs/${runId}`)
      expect(runPage.text).not.toContain('<img src=x')
      expect(runPage.text).toContain('&lt;img src=x onerror=alert(1)&gt; repair')
    })
  })

  it('answers an unknown console path with a 404 page, and /system with the catalog', async () => {
    const missing = await get('/system/ops/nothing-here')
    expect(missing.status).toBe(404)
    expect(missing.text).toContain('Page not found')
    // A client asking for JSON gets a problem document: 404 with a session, 401 without one (not a login redirect).
    const asJson = await get('/system/ops/nothing-here', admin, { accept: 'application/json' })
    expect(asJson.status).toBe(404)
    expect(asJson.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    const anonymous = await consoleRequest(service, 'GET', '/system/ops/nothing-here', { headers: { accept: 'application/json' } })
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    // A console page asked with a method it is not served with: 405 naming the ones it is.
    const wrongMethod = await consoleRequest(service, 'DELETE', '/system/ops/runbooks', { cookies: admin.cookies })
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD')
    expect(wrongMethod.text).toContain('Method not allowed')
    // A visit to where a form is sent says so.
    const visit = await get('/system/logout')
    expect(visit.status).toBe(405)
    expect(visit.headers.get('allow')).toBe('POST')
    expect(visit.text).toContain('takes a form&#39;s submission (POST), not a visit')
    const visitAsJson = await get('/system/logout', admin, { accept: 'application/json' })
    expect(visitAsJson.status).toBe(405)
    expect(visitAsJson.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(visitAsJson.headers.get('allow')).toBe('POST')
    expect(JSON.parse(visitAsJson.text).detail).toBe('/system/logout is not served with GET; it is served with POST.')
    const root = await get('/system')
    expect(root.status).toBe(303)
    expect(root.headers.get('location')).toBe('/system/ops/runbooks')
  })
})
