import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../../src/db/demo-seed.js'
import { getRun } from '../../../src/projections/queries.js'
import { paceTenantJobs, type PacedTenantJobs } from '../../browser/browser-fixtures.js'
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
const everyCapability = ['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.run', runbookCapability, 'platform.ops.halt']
const startPath = `/system/ops/runbooks/${runbookKey}/runs`
const validReason = { reasonCode: 'INCIDENT', reasonText: 'the upstream importer is misbehaving' }

function runIdFrom(location: string | null): string {
  const match = /^\/system\/ops\/runs\/([0-9A-Z]{26})$/.exec(location ?? '')
  if (!match) throw new Error(`not a run page: ${location}`)
  return match[1]!
}

/** The opening tag of a control's disclosure on the run page, or null when the page has none. */
function controlTag(html: string, action: string): string | null {
  return new RegExp(`<details class="control control-${action}"[^>]*>`).exec(html)?.[0] ?? null
}

const isShown = (html: string, action: string) => {
  const tag = controlTag(html, action)
  return tag !== null && !tag.includes('hidden')
}

describe.each(serviceFlavours())('console run control (SPEC §9): $name', (flavour) => {
  let service: TestService
  let admin: ConsoleSession
  let adminName: string
  let viewer: ConsoleSession
  let tenants: Array<{ id: number; name: string }>
  /** An all-tenants run that completed partially succeeded (the demo's invalid tenant failed). */
  let failedRunId: string
  /** A single-tenant run that completed without failure. */
  let cleanRunId: string

  const get = (path: string, session: ConsoleSession = admin, headers: Record<string, string> = {}) =>
    consoleRequest(service, 'GET', path, { cookies: session.cookies, headers })
  const post = (path: string, form: Record<string, string>, session: ConsoleSession = admin) =>
    consoleRequest(service, 'POST', path, { cookies: session.cookies, form: { _csrf: session.csrf, ...form } })
  const control = (runId: string, action: string, form: Record<string, string>, session: ConsoleSession = admin) =>
    post(`/system/ops/runs/${runId}/${action}`, form, session)

  async function completedRun(runId: string) {
    // Completed and, when the service verifies it, verified: a late RunVerified must not land in a later count.
    await waitUntil(async () => runIsSettled((await getRun(service.sql, runId)) ?? undefined), `run ${runId} completed`)
    return (await getRun(service.sql, runId))!
  }

  async function startFromConsole(form: Record<string, string>): Promise<string> {
    const started = await post(startPath, { confirmation: runbookKey, ...form })
    expect(started.status, started.text.slice(0, 500)).toBe(303)
    return runIdFrom(started.headers.get('location'))
  }

  /** The first `count` server-sent events of a stream that stays open (a paused run's). */
  async function firstStreamEvents(runId: string, count: number) {
    const controller = new AbortController()
    const response = await fetch(`${service.baseUrl}/system/ops/runs/${runId}/events/stream`, {
      headers: { accept: 'text/event-stream', cookie: `rcp_session=${admin.cookies.rcp_session}` },
      signal: controller.signal,
    })
    expect(response.status).toBe(200)
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = ''
    try {
      while (parseServerSentEvents(text.slice(0, text.lastIndexOf('\n\n') + 1)).length < count) {
        const { value, done } = await reader.read()
        if (done) break
        text += decoder.decode(value, { stream: true })
      }
    } finally {
      controller.abort()
    }
    return parseServerSentEvents(text.slice(0, text.lastIndexOf('\n\n') + 1)).slice(0, count)
  }

  beforeAll(async () => {
    service = await flavour.start()
    const adminCredentials = await createConsoleOperator(service, everyCapability)
    adminName = `Console operator ${adminCredentials.email}`
    admin = await consoleLogin(service, adminCredentials)
    viewer = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view', 'platform.runbooks.view']))
    tenants = (await service.request('GET', '/api/tenants', { token: await service.token() })).body.items
    failedRunId = await startFromConsole({ scope: 'all_tenants', reasonCode: 'DATA_REPAIR', reasonText: 'normalise legacy finding lifecycles' })
    const globex = tenants.find((t) => t.name === 'Globex Retail')!
    cleanRunId = await startFromConsole({ scope: 'single_tenant', tenant: `${globex.name} (#${globex.id})` })
    expect((await completedRun(failedRunId)).outcome).toBe('partially_succeeded')
    expect((await completedRun(cleanRunId)).outcome).toBe('succeeded')
  })

  afterAll(async () => {
    await service?.close()
  })

  describe('capabilities', () => {
    it('shows a view-only operator no control and refuses each control post with 403, appending nothing', async () => {
      const page = await get(`/system/ops/runs/${failedRunId}`, viewer)
      expect(page.status).toBe(200)
      expect(page.text).not.toContain('id="run-controls"')
      expect(page.text).not.toContain('Retry failed tenants')
      expect(page.text).not.toContain('href="/system/ops/halt"') // no halt control in the navigation either
      const before = await service.eventCount()
      for (const action of ['pause', 'resume', 'cancel', 'limits', 'retry']) {
        const refused = await control(failedRunId, action, { ...validReason, confirmation: runbookKey, maxConcurrency: '2' }, viewer)
        expect(refused.status, action).toBe(403)
        expect(refused.text).toContain('platform.runbooks.run')
      }
      const halt = await post('/system/ops/halt', validReason, viewer)
      expect(halt.status).toBe(403)
      expect(halt.text).toContain('platform.ops.halt')
      expect((await post('/system/ops/halt/lift', validReason, viewer)).status).toBe(403)
      expect((await get('/system/ops/halt', viewer)).status).toBe(403)
      expect(await service.eventCount()).toBe(before)
    })

    it("needs the runbook's own capability besides platform.runbooks.run: 403 naming it, no control shown", async () => {
      const runner = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view', 'platform.runbooks.run']))
      const page = await get(`/system/ops/runs/${failedRunId}`, runner)
      expect(page.status).toBe(200)
      expect(page.text).not.toContain('id="run-controls"')
      const before = await service.eventCount()
      const refused = await control(failedRunId, 'retry', { confirmation: runbookKey, ...validReason }, runner)
      expect(refused.status).toBe(403)
      expect(refused.text).toContain(runbookCapability)
      expect(await service.eventCount()).toBe(before)
    })

    it('answers 404 for a control of an unknown run, before anything else', async () => {
      expect((await control('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'pause', validReason)).status).toBe(404)
      expect((await control('not-a-run', 'pause', validReason)).status).toBe(404)
    })
  })

  describe('tenants of a run', () => {
    it('lists every targeted tenant with status, attempts, counts, reason and times, filtered by status', async () => {
      const run = await completedRun(failedRunId)
      const page = await get(`/system/ops/runs/${failedRunId}`)
      expect(page.status).toBe(200)
      for (const column of ['Tenant', 'Status', 'Attempts', 'Total / updated / skipped', 'Reason code', 'Message', 'Started', 'Completed']) {
        expect(page.text).toContain(`<th scope="col">${column}</th>`)
      }
      expect(page.text.match(/<tr data-tenant-id="/g)).toHaveLength(tenants.length)
      expect(page.text).toContain(`<dd data-tenant-count="targeted">${tenants.length}</dd>`)
      expect(page.text).toContain(`<dd data-tenant-count="failed">1</dd>`)
      expect(page.text).toContain(`<dd data-tenant-count="succeeded">${tenants.length - 1}</dd>`)
      expect(page.text).toMatch(/<td data-label="Total \/ updated \/ skipped">\d+ \/ \d+ \/ \d+<\/td>/)

      const failed = await get(`/system/ops/runs/${failedRunId}?tenants=failed`)
      expect(failed.status).toBe(200)
      const rows = failed.text.match(/<tr data-tenant-id="\d+">/g) ?? []
      expect(rows).toEqual([`<tr data-tenant-id="${run.failureSummary[0]!.tenant_id}">`])
      expect(failed.text).toContain(`${DEMO_INVALID_TENANT_NAME} (#${run.failureSummary[0]!.tenant_id})`)
      expect(failed.text).toContain('<span class="badge danger" data-badge="tenant">failed</span>')
      expect(failed.text).toContain('<code>INVALID_DATA</code>')
      expect(failed.text).toMatch(/href="\/system\/ops\/runs\/[0-9A-Z]{26}\?tenants=failed#run-tenants" aria-current="true"/)

      const cancelled = await get(`/system/ops/runs/${failedRunId}?tenants=cancelled`)
      expect(cancelled.text).toContain('No tenant is cancelled.')

      const bad = await get(`/system/ops/runs/${failedRunId}?tenants=sleeping`)
      expect(bad.status).toBe(400)
      expect(bad.text).toContain('The tenant filter was not understood')
      expect(bad.text.match(/<tr data-tenant-id="/g)).toHaveLength(tenants.length)
      const badCursor = await get(`/system/ops/runs/${failedRunId}?tenantsCursor=nonsense`)
      expect(badCursor.status).toBe(400)
      expect(badCursor.text).toContain('That page of tenants is not valid any more')
    })

    it('pages through more tenants than fit on a page', async () => {
      // 60 more tenant rows of the run (page size 50), straight into the read model.
      await service.sql`
        insert into operation_run_tenants (run_id, tenant_id, status, attempt)
        select ${failedRunId}, 100000 + i, 'succeeded', 1 from generate_series(1, 60) i`
      try {
        const seen: string[] = []
        let path: string | null = `/system/ops/runs/${failedRunId}?tenants=succeeded`
        let pages = 0
        while (path) {
          const page: ConsoleResponse = await get(path)
          expect(page.status).toBe(200)
          seen.push(...[...page.text.matchAll(/<tr data-tenant-id="(\d+)">/g)].map((m) => m[1]!))
          const next = /<a href="([^"]+)">More tenants<\/a>/.exec(page.text)?.[1]
          path = next ? next.replaceAll('&amp;', '&') : null
          if (pages > 0) expect(page.text).toContain('First tenants')
          pages++
        }
        expect(pages).toBe(2)
        expect(seen).toHaveLength(tenants.length - 1 + 60)
        expect(new Set(seen).size).toBe(seen.length)
        expect(seen.map(Number)).toEqual([...seen.map(Number)].sort((a, b) => a - b))
        expect(seen).toContain('#100060'.slice(1))
      } finally {
        await service.sql`delete from operation_run_tenants where run_id = ${failedRunId} and tenant_id > 100000`
      }
    })
  })

  describe('retry of the failed tenants', () => {
    it('offers the retry only on a completed run with failed tenants', async () => {
      const failed = await get(`/system/ops/runs/${failedRunId}`)
      expect(isShown(failed.text, 'retry')).toBe(true)
      for (const action of ['pause', 'resume', 'cancel', 'limits']) expect(controlTag(failed.text, action), action).toBeNull()
      expect(failed.text).toContain(`Confirmation: type <code>${runbookKey}</code> (the runbook key)`)
      const clean = await get(`/system/ops/runs/${cleanRunId}`)
      expect(clean.text).not.toContain('id="run-controls"')
      expect(controlTag(clean.text, 'retry')).toBeNull()
    })

    it('explains refused fields in place (422, nothing started): confirmation, and the reason an all-tenants run needs', async () => {
      const before = await service.eventCount()
      const refused = await control(failedRunId, 'retry', { confirmation: 'findings', reasonCode: '', reasonText: '' })
      expect(refused.status).toBe(422)
      expect(refused.text).toMatch(/<details class="control control-retry" data-control="retry" open="">/)
      expect(refused.text).toMatch(/id="retry-confirmation-error"[^>]*>Confirmation must be exactly the runbook key &quot;findings.lifecycle.backfill&quot;<\/p>/)
      expect(refused.text).toMatch(/id="retry-reasonText-error"[^>]*>Reason is required for a run on all tenants<\/p>/)
      expect(refused.text).toMatch(/id="retry-confirmation"[^>]*value="findings"/)
      const noFailure = await control(cleanRunId, 'retry', { confirmation: runbookKey })
      expect(noFailure.status).toBe(422)
      expect(noFailure.text).toContain('The run has no failed tenant to retry')
      expect(await service.eventCount()).toBe(before)
    })

    it('starts a retry of the failed tenants and opens it (303); another while it is active is 409 with a link to it', async () => {
      const pacing = paceTenantJobs(service, 0)
      try {
        const started = await control(failedRunId, 'retry', { confirmation: runbookKey, ...validReason })
        expect(started.status, started.text.slice(0, 500)).toBe(303)
        const retryId = runIdFrom(started.headers.get('location'))
        expect(retryId).not.toBe(failedRunId)
        const page = await get(`/system/ops/runs/${retryId}`)
        expect(page.status).toBe(200)
        expect(page.text).toMatch(new RegExp(`<dt>Retry of</dt><dd><a href="/system/ops/runs/${failedRunId}" id="run-retry-of">`))
        expect(page.text).toContain('<dd data-tenant-count="targeted">1</dd>')

        const again = await control(failedRunId, 'retry', { confirmation: runbookKey, ...validReason })
        expect(again.status).toBe(409)
        expect(again.text).toContain('A retry of this run is already active.')
        expect(again.text).toContain(`href="/system/ops/runs/${retryId}"`)
        const retry = await getRun(service.sql, retryId)
        expect(retry?.retryOf).toBe(failedRunId)
        expect(retry?.context).toMatchObject({ source: 'system_ui' })
      } finally {
        pacing.release()
        pacing.restore()
      }
    })
  })

  describe('pause, limits, halt, resume and cancel of one run', () => {
    let pacing: PacedTenantJobs
    let runId: string
    let tenant: { id: number; name: string }

    beforeAll(async () => {
      // Its tenant jobs are held back, so the run stays active for as long as these tests need.
      pacing = paceTenantJobs(service, 0)
      tenant = tenants.find((t) => t.name !== 'Globex Retail' && t.name !== DEMO_INVALID_TENANT_NAME)!
      runId = await startFromConsole({ scope: 'single_tenant', tenant: `${tenant.name} (#${tenant.id})` })
    })

    afterAll(() => {
      pacing.release()
      pacing.restore()
    })

    it('shows an active run the controls its state admits: pause, cancel and limits; resume and retry hidden', async () => {
      const page = await get(`/system/ops/runs/${runId}`)
      expect(page.status).toBe(200)
      expect(isShown(page.text, 'pause')).toBe(true)
      expect(isShown(page.text, 'cancel')).toBe(true)
      expect(isShown(page.text, 'limits')).toBe(true)
      expect(controlTag(page.text, 'resume')).toContain('hidden=""')
      expect(controlTag(page.text, 'retry')).toContain('hidden=""')
      expect(page.text).toContain(`action="/system/ops/runs/${runId}/pause"`)
      expect(page.text).toContain('<label for="pause-reason-code">Reason code</label>')
      expect(page.text).toContain('<label for="cancel-confirmation">Confirmation: type <code>cancel</code> to confirm</label>')
      expect(page.text).toMatch(/id="limits-max-concurrency"[^>]*value="\d+"/)
      expect(page.text).toMatch(/<span data-limit="maxConcurrency">\d+<\/span>/)
      expect(page.text).toContain('no failure limit')
    })

    it('refuses a control without or with a wrong CSRF token: 403, nothing appended', async () => {
      for (const csrf of [undefined, 'x'.repeat(43)]) {
        const before = await service.eventCount()
        const form: Record<string, string> = { ...validReason }
        if (csrf) form._csrf = csrf
        const refused = await consoleRequest(service, 'POST', `/system/ops/runs/${runId}/pause`, { cookies: admin.cookies, form })
        expect(refused.status).toBe(403)
        expect(refused.text).toContain('Request refused')
        expect(await service.eventCount()).toBe(before)
      }
    })

    it('explains a refused pause in place and keeps what was typed (422, nothing appended)', async () => {
      const before = await service.eventCount()
      const none = await control(runId, 'pause', { reasonCode: '', reasonText: '' })
      expect(none.status).toBe(422)
      expect(none.text).toMatch(/id="pause-reasonText-error"[^>]*>Reason is required for a pause<\/p>/)
      const bad = await control(runId, 'pause', { reasonCode: 'BECAUSE', reasonText: 'too <b>' })
      expect(bad.status).toBe(422)
      expect(bad.text).toMatch(/<details class="control control-pause" data-control="pause" open="">/)
      expect(bad.text).toMatch(/id="pause-reasonCode-error"[^>]*>Reason code must be one of DATA_REPAIR, INCIDENT, SUPPORT, SECURITY<\/p>/)
      expect(bad.text).toMatch(/id="pause-reasonText-error"[^>]*>Reason text must be 10 to 500 characters \(got 7\)<\/p>/)
      expect(bad.text).toContain('too &lt;b&gt;</textarea>')
      expect(bad.text).toMatch(/id="pause-reason-text"[^>]*aria-invalid="true"/)
      expect(await service.eventCount()).toBe(before)
    })

    it('pauses the run (303 to its page): paused badge, the reason, who and when; resume offered; the stream keeps going', async () => {
      const paused = await control(runId, 'pause', validReason)
      expect(paused.status, paused.text.slice(0, 400)).toBe(303)
      expect(paused.headers.get('location')).toBe(`/system/ops/runs/${runId}`)
      const page = await get(`/system/ops/runs/${runId}`)
      expect(page.text).toContain('<span id="run-status" class="badge warn" data-badge="status">paused</span>')
      expect(page.text).toMatch(/<div class="alert warn notice" id="run-pause" role="status">/)
      expect(page.text).toContain('This run is paused.')
      expect(page.text).toContain(`<code data-note="code">INCIDENT</code> <span data-note="text">${validReason.reasonText}</span>`)
      expect(page.text).toContain(`<span data-note="by">${adminName}`)
      expect(page.text).toContain('paused: no tenant starts until the run is resumed')
      expect(page.text).not.toMatch(/data-badge="status">completed/)
      expect(isShown(page.text, 'resume')).toBe(true)
      expect(controlTag(page.text, 'pause')).toContain('hidden=""')
      expect(page.text).toContain('new EventSource') // still live
      // The timeline (SPEC §12) tells the pause with who and why; the RunPaused event is behind its disclosure.
      expect(page.text).toContain('<span class="timeline-what">paused the run</span>')
      expect(page.text).toContain(`<p class="timeline-why"><code>INCIDENT</code> <span>${validReason.reasonText}</span></p>`)
      expect(page.text).toContain('&quot;type&quot;: &quot;RunPaused&quot;')

      const [first] = await firstStreamEvents(runId, 1)
      expect(first!.event).toBe('progress')
      expect(JSON.parse(first!.data)).toMatchObject({
        status: 'paused',
        outcome: 'pending',
        etaSeconds: null,
        pause: { reasonCode: 'INCIDENT', reasonText: validReason.reasonText, by: expect.stringContaining(adminName) },
        actions: ['resume', 'cancel', 'limits'],
        // The plan goes live too: a run planned in the background gets it after its page was made.
        plan: expect.stringMatching(/^\d+ to update of \d+ scanned \(preflight\)$/),
        tenantCounts: { targeted: 1, pending: 1 },
      })
    })

    it('refuses to pause a paused run: 409 naming the state, the page as it is now, nothing appended', async () => {
      const before = await service.eventCount()
      const refused = await control(runId, 'pause', validReason)
      expect(refused.status).toBe(409)
      expect(refused.text).toContain('The run is paused, so it cannot be paused.')
      expect(refused.text).toContain('data-badge="status">paused</span>')
      expect(await service.eventCount()).toBe(before)
    })

    it('changes the limits (303), explaining numbers it cannot take (422)', async () => {
      const before = await service.eventCount()
      const notNumber = await control(runId, 'limits', { maxConcurrency: 'two', maxFailures: '' })
      expect(notNumber.status).toBe(422)
      expect(notNumber.text).toMatch(/id="limits-maxConcurrency-error"[^>]*>Max concurrency must be a whole number<\/p>/)
      expect(notNumber.text).toMatch(/id="limits-max-concurrency"[^>]*value="two"/)
      const outOfRange = await control(runId, 'limits', { maxConcurrency: '0', maxFailures: '-1' })
      expect(outOfRange.status).toBe(422)
      expect(outOfRange.text).toMatch(/id="limits-maxConcurrency-error"[^>]*>Max concurrency must be an integer from 1 to 1000<\/p>/)
      expect(outOfRange.text).toMatch(/id="limits-maxFailures-error"[^>]*>Max failures must be an integer of 0 or more/)
      expect(await service.eventCount()).toBe(before)

      const changed = await control(runId, 'limits', { maxConcurrency: '2', maxFailures: '' })
      expect(changed.status, changed.text.slice(0, 400)).toBe(303)
      let page = await get(`/system/ops/runs/${runId}`)
      expect(page.text).toContain('<span data-limit="maxConcurrency">2</span>')
      expect(page.text).toContain('no failure limit')
      expect(await control(runId, 'limits', { maxConcurrency: '2', maxFailures: '5' })).toMatchObject({ status: 303 })
      page = await get(`/system/ops/runs/${runId}`)
      expect(page.text).toContain('pauses after 5 failed')
      expect((await getRun(service.sql, runId))?.limits).toEqual({ maxConcurrency: 2, maxFailures: 5 })
    })

    it('halts the deployment: a banner on every page with who, why and when; resume and start refused with 423; lifting resumes nothing', async () => {
      expect((await post('/system/ops/halt', { reasonCode: '', reasonText: '' })).status).toBe(422)
      const noCsrf = await consoleRequest(service, 'POST', '/system/ops/halt', { cookies: admin.cookies, form: validReason })
      expect(noCsrf.status).toBe(403)
      const haltPage = await get('/system/ops/halt')
      expect(haltPage.status).toBe(200)
      expect(haltPage.text).toContain('data-halted="false"')
      expect(haltPage.text).not.toContain('id="halt-banner"')

      const haltReason = { reasonCode: 'SECURITY', reasonText: 'credential leak under investigation' }
      const halted = await post('/system/ops/halt', haltReason)
      expect(halted.status, halted.text.slice(0, 400)).toBe(303)
      expect(halted.headers.get('location')).toBe('/system/ops/halt')

      const limited = await consoleLogin(service, await createConsoleOperator(service, ['platform.runbooks.view']))
      const pages: Array<[string, ConsoleSession, number]> = [
        ['/system/ops/runbooks', admin, 200],
        ['/system/ops/runs', admin, 200],
        [`/system/ops/runs/${runId}`, admin, 200],
        ['/system/ops/halt', admin, 200],
        ['/system/ops/nothing-here', admin, 404],
        ['/system/ops/runs', viewer, 200],
        ['/system/ops/halt', viewer, 403],
        ['/system/ops/runbooks', limited, 200],
      ]
      // A page asked for with any Accept header (a browser's, a curl's `*/*`) carries the banner.
      expect((await get('/system/ops/runs', admin, { accept: '*/*' })).text).toContain('id="halt-banner"')
      for (const [path, session, status] of pages) {
        const page = await get(path, session)
        expect(page.status, path).toBe(status)
        expect(page.text, path).toContain('id="halt-banner"')
        expect(page.text, path).toContain('The deployment is halted.')
        if (session === limited) {
          // Who halted and why are `GET /api/halt` (platform.ops.view): not for this operator.
          expect(page.text).not.toContain(haltReason.reasonText)
        } else {
          expect(page.text, path).toContain(`<code>SECURITY</code> ${haltReason.reasonText}`)
          expect(page.text, path).toContain(`Halted by ${adminName}`)
          expect(page.text, path).toMatch(/Halted by [^<]+ at <time datetime="[^"]+">/)
        }
        expect(page.text.includes('Lift the halt</a>'), path).toBe(session === admin)
      }
      // The login page shows it too (SPEC §9: every console page), the fact only: who and why are for operators.
      const login = (await consoleRequest(service, 'GET', '/system/login')).text
      expect(login).toContain('id="halt-banner"')
      expect(login).toContain('The deployment is halted.')
      expect(login).not.toContain(haltReason.reasonText)
      expect(login).not.toContain(adminName)

      const before = await service.eventCount()
      expect((await post('/system/ops/halt', haltReason)).text).toContain('The deployment is already halted')
      const resume = await control(runId, 'resume', {})
      expect(resume.status).toBe(423)
      expect(resume.text).toContain('The deployment is halted: you cannot resume a run until the halt is lifted.')
      const start = await post(startPath, { scope: 'all_tenants', confirmation: runbookKey, ...validReason })
      expect(start.status).toBe(423)
      expect(start.text).toContain('The deployment is halted: you cannot start a run until the halt is lifted.')
      expect(await service.eventCount()).toBe(before)

      const liftPage = await get('/system/ops/halt')
      expect(liftPage.text).toContain('Lifting does not resume any run:')
      expect(liftPage.text).toContain(`action="/system/ops/halt/lift"`)
      expect((await post('/system/ops/halt/lift', { reasonCode: 'SECURITY', reasonText: '' })).status).toBe(422)
      const lifted = await post('/system/ops/halt/lift', { reasonCode: 'SECURITY', reasonText: 'leak contained, credentials rotated' })
      expect(lifted.status, lifted.text.slice(0, 400)).toBe(303)
      for (const path of ['/system/ops/runbooks', '/system/ops/runs', `/system/ops/runs/${runId}`]) {
        expect((await get(path)).text, path).not.toContain('id="halt-banner"')
      }
      const notHalted = await post('/system/ops/halt/lift', { reasonCode: 'SECURITY', reasonText: 'leak contained, credentials rotated' })
      expect(notHalted.status).toBe(409)
      expect(notHalted.text).toContain('The deployment is not halted')
      // Lifting resumed nothing: the run is still paused, by the operator's own pause.
      expect((await getRun(service.sql, runId))?.status).toBe('paused')
    })

    it('resumes the run (303): running again, pause offered again', async () => {
      const resumed = await control(runId, 'resume', { reasonCode: '', reasonText: '' })
      expect(resumed.status, resumed.text.slice(0, 400)).toBe(303)
      const page = await get(`/system/ops/runs/${runId}`)
      expect(page.text).toMatch(/data-badge="status">(running|queued)<\/span>/)
      expect(page.text).toMatch(/<div class="alert warn notice" id="run-pause" role="status" hidden="">/)
      expect(isShown(page.text, 'pause')).toBe(true)
      expect(controlTag(page.text, 'resume')).toContain('hidden=""')
      const refused = await control(runId, 'resume', {})
      expect(refused.status).toBe(409)
      expect(refused.text).toMatch(/The run is (running|queued), so it cannot be resumed\./)
    })

    it('cancels the run after a typed confirmation (303); its tenant never started is listed cancelled', async () => {
      const before = await service.eventCount()
      const unconfirmed = await control(runId, 'cancel', { confirmation: 'yes', reasonCode: '', reasonText: '' })
      expect(unconfirmed.status).toBe(422)
      expect(unconfirmed.text).toMatch(/id="cancel-confirmation-error"[^>]*>Confirmation must be the word &quot;cancel&quot;<\/p>/)
      expect(unconfirmed.text).toMatch(/id="cancel-reasonText-error"[^>]*>Reason is required for a cancel<\/p>/)
      expect(await service.eventCount()).toBe(before)

      const cancelled = await control(runId, 'cancel', { confirmation: 'cancel', reasonCode: 'SUPPORT', reasonText: 'the customer asked us to stop' })
      expect(cancelled.status, cancelled.text.slice(0, 400)).toBe(303)
      const during = await get(`/system/ops/runs/${runId}`)
      // Either still finishing its in-flight repairs (a notice, no control) or already completed.
      if (during.text.includes('data-badge="status">completed')) {
        expect(during.text).toContain('This run was cancelled.')
      } else {
        expect(during.text).toMatch(/<div class="alert info notice" id="run-cancelling" role="status">/)
        expect(during.text).toMatch(/id="run-controls"[^>]*hidden=""/)
      }
      const run = await completedRun(runId)
      expect(run.outcome).toBe('cancelled')
      const stream = await get(`/system/ops/runs/${runId}/events/stream`, admin, { accept: 'text/event-stream' })
      const events = parseServerSentEvents(stream.text)
      expect(events.map((e) => e.event)).toEqual(['completed'])
      expect(JSON.parse(events[0]!.data)).toMatchObject({ status: 'completed', outcome: 'cancelled', actions: [], pause: null, tenantCounts: { cancelled: 1 } })
      const page = await get(`/system/ops/runs/${runId}?tenants=cancelled`)
      expect(page.text).toContain('<span id="run-outcome" class="badge warn" data-badge="outcome">cancelled</span>')
      expect(page.text).toContain('This run was cancelled.')
      expect(page.text).toContain('the customer asked us to stop')
      expect(page.text).toContain(`<tr data-tenant-id="${tenant.id}">`)
      expect(page.text).toContain('<span class="badge warn" data-badge="tenant">cancelled</span>')
      expect(page.text).not.toContain('id="run-controls"')
      const again = await control(runId, 'cancel', { confirmation: 'cancel', reasonCode: 'SUPPORT', reasonText: 'the customer asked us to stop' })
      expect(again.status).toBe(409)
      expect(again.text).toContain('The run is completed, so it cannot be cancelled.')
    })
  })
})
