import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getRun } from '../../../src/projections/queries.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../../support/service.js'
import { consoleLogin, consoleRequest, createConsoleOperator, csrfFieldOf, parseServerSentEvents, type ConsoleSession } from './console-client.js'

/** SPEC §10 in the console: operator administration, the approval setting, four eyes on the run page, your account. */

const runbookKey = 'findings.lifecycle.backfill'
const runbookCapability = 'platform.runbooks.findings.lifecycle_backfill'
const startPath = `/system/ops/runbooks/${runbookKey}/runs`
const managerCapabilities = [
  'platform.ops.view',
  'platform.runbooks.view',
  'platform.runbooks.run',
  runbookCapability,
  'platform.operators.manage',
  'platform.runbooks.approve',
]
const approverCapabilities = ['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.approve', runbookCapability]
const newPassword = 'a long enough new password'

function runIdFrom(location: string | null): string {
  const match = /^\/system\/ops\/runs\/([0-9A-Z]{26})$/.exec(location ?? '')
  if (!match) throw new Error(`not a run page: ${location}`)
  return match[1]!
}

describe.each(serviceFlavours())('console operators, approvals and account (SPEC §10): $name', (flavour) => {
  let service: TestService
  let manager: ConsoleSession
  let managerEmail: string
  let viewer: ConsoleSession
  let tenants: Array<{ id: number; name: string }>

  const get = (path: string, session: ConsoleSession = manager) => consoleRequest(service, 'GET', path, { cookies: session.cookies })
  const post = (path: string, form: Record<string, string>, session: ConsoleSession = manager) =>
    consoleRequest(service, 'POST', path, { cookies: session.cookies, form: { _csrf: session.csrf, ...form } })
  const operatorId = async (email: string) =>
    (await service.sql.unsafe<Array<{ id: string }>>('select id from operators where email = $1', [email]))[0]!.id

  beforeAll(async () => {
    service = await flavour.start()
    const credentials = await createConsoleOperator(service, managerCapabilities)
    managerEmail = credentials.email
    manager = await consoleLogin(service, credentials)
    viewer = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view', 'platform.runbooks.view']))
    tenants = (await service.request('GET', '/api/tenants', { token: await service.token() })).body.items
  })

  afterAll(async () => {
    await service?.close()
  })

  describe('operators page', () => {
    it('is for holders of platform.operators.manage only: no navigation item and 403 for others, nothing changed', async () => {
      const runs = await get('/system/ops/runs', viewer)
      expect(runs.text).not.toContain('href="/system/ops/operators"')
      expect(runs.text).toContain('href="/system/ops/me"')
      expect((await get('/system/ops/operators', viewer)).status).toBe(403)
      const before = await service.eventCount()
      const refused = await post('/system/ops/operators', { email: 'x@ops.test', name: 'X', password: newPassword }, viewer)
      expect(refused.status).toBe(403)
      expect(refused.text).toContain('platform.operators.manage')
      expect((await post('/system/ops/operators/approvals', { required: 'all' }, viewer)).status).toBe(403)
      expect(await service.eventCount()).toBe(before)
      expect((await get('/system/ops/runs')).text).toContain('href="/system/ops/operators"')
    })

    it('lists every operator (never a hash) with the create form and the capability checkboxes', async () => {
      const page = await get('/system/ops/operators')
      expect(page.status).toBe(200)
      expect(page.text).toContain(managerEmail)
      expect(page.text).toContain('name="cap:platform.operators.manage"')
      expect(page.text).toContain(`name="cap:${runbookCapability}"`)
      expect(page.text).not.toMatch(/scrypt|password_hash|\$s0\$/i)
    })

    it('refuses a post without the CSRF token (403), creating nothing', async () => {
      const before = await service.eventCount()
      const refused = await consoleRequest(service, 'POST', '/system/ops/operators', {
        cookies: manager.cookies,
        form: { email: 'nocsrf@ops.test', name: 'No token', password: newPassword },
      })
      expect(refused.status).toBe(403)
      expect(await service.eventCount()).toBe(before)
    })

    it('re-renders the create form in place: 422 beside the fields (as typed, no password), 409 for a taken email', async () => {
      const invalid = await post('/system/ops/operators', { email: 'not-an-email', name: 'Typed name', password: 'short', 'cap:platform.ops.view': 'on' })
      expect(invalid.status).toBe(422)
      expect(invalid.text).toContain('value="Typed name"')
      expect(invalid.text).toMatch(/id="create-password-error"[^>]*>Password /)
      expect(invalid.text).not.toContain('value="short"')
      expect(invalid.text).toMatch(/name="cap:platform.ops.view" value="on" checked/)
      const taken = await post('/system/ops/operators', { email: managerEmail, name: 'Twin', password: newPassword })
      expect(taken.status).toBe(409)
      expect(taken.text).toContain('already exists')
    })

    it('creates, changes and sets the password of an operator; disabling one ends their console session at once', async () => {
      const email = `colleague-${Date.now()}@ops.test`
      const created = await post('/system/ops/operators', {
        email,
        name: 'Colleague',
        password: newPassword,
        'cap:platform.ops.view': 'on',
        'cap:platform.runbooks.view': 'on',
      })
      expect(created.status, created.text.slice(0, 500)).toBe(303)
      expect(created.headers.get('location')).toBe('/system/ops/operators')
      const id = await operatorId(email)
      expect((await get('/system/ops/operators')).text).toContain(`id="operator-${id}"`)

      const colleague = await consoleLogin(service, { email, password: newPassword })
      expect((await get('/system/ops/runs', colleague)).status).toBe(200)

      const renamed = await post(`/system/ops/operators/${id}`, { name: 'Colleague Renamed', 'cap:platform.ops.view': 'on' })
      expect(renamed.status).toBe(303)
      expect(renamed.headers.get('location')).toBe(`/system/ops/operators#operator-${id}`)
      expect((await get('/system/ops/runbooks', colleague)).status).toBe(403) // capability gone at once

      const badName = await post(`/system/ops/operators/${id}`, { name: '', 'cap:platform.ops.view': 'on' })
      expect(badName.status).toBe(422)
      expect(badName.text).toMatch(new RegExp(`<details class="card" id="operator-${id}" open`))

      const disabled = await post(`/system/ops/operators/${id}/disable`, {})
      expect(disabled.status).toBe(303)
      const after = await get('/system/ops/runs', colleague)
      expect(after.status).toBe(303)
      expect(after.headers.get('location')).toMatch(/^\/system\/login/)
      expect((await get('/system/ops/operators')).text).toMatch(/disabled/)

      expect((await post(`/system/ops/operators/${id}/enable`, {})).status).toBe(303)
      const shortPassword = await post(`/system/ops/operators/${id}/password`, { password: 'short' })
      expect(shortPassword.status).toBe(422)
      expect(shortPassword.text).toMatch(new RegExp(`id="op-${id}-password-error"[^>]*>Password `))
      expect((await post(`/system/ops/operators/${id}/password`, { password: 'another long password' })).status).toBe(303)
      await consoleLogin(service, { email, password: 'another long password' })
    })

    it('refuses in place what the commands forbid: own capabilities and disabling oneself (403), unknown operator (404)', async () => {
      const id = await operatorId(managerEmail)
      const own = await post(`/system/ops/operators/${id}`, { name: 'Manager', 'cap:platform.ops.view': 'on' })
      expect(own.status).toBe(403)
      expect(own.text).toContain('Nothing was changed')
      expect(own.text).toContain('Create an operator') // the page itself, not the error page
      const self = await post(`/system/ops/operators/${id}/disable`, {})
      expect(self.status).toBe(403)
      expect((await post('/system/ops/operators/01ARZ3NDEKTSV4RRFFQ69G5FAV/disable', {})).status).toBe(404)
      expect((await get('/system/ops/runs')).status).toBe(200)
    })

    it('sets the approval setting (422 for anything else)', async () => {
      expect((await post('/system/ops/operators/approvals', { required: 'sometimes' })).status).toBe(422)
      const set = await post('/system/ops/operators/approvals', { required: 'all_tenants' })
      expect(set.status).toBe(303)
      expect((await get('/system/ops/operators')).text).toMatch(/value="all_tenants" checked/)
      expect((await post('/system/ops/operators/approvals', { required: 'none' })).status).toBe(303)
    })
  })

  describe('four eyes on the run page', () => {
    let approver: ConsoleSession

    beforeAll(async () => {
      approver = await consoleLogin(service, await createConsoleOperator(service, approverCapabilities))
      expect((await post('/system/ops/operators/approvals', { required: 'all' })).status).toBe(303)
    })

    afterAll(async () => {
      await post('/system/ops/operators/approvals', { required: 'none' })
    })

    const startSingle = async (tenant: { id: number; name: string }) => {
      const started = await post(startPath, {
        confirmation: runbookKey,
        scope: 'single_tenant',
        tenant: `${tenant.name} (#${tenant.id})`,
        reasonCode: 'DATA_REPAIR',
        reasonText: 'repair one tenant with a second pair of eyes',
      })
      expect(started.status, started.text.slice(0, 500)).toBe(303)
      const runId = runIdFrom(started.headers.get('location'))
      await waitUntil(async () => (await getRun(service.sql, runId))?.status === 'awaiting_approval', 'run awaiting approval')
      return runId
    }

    it('the starter sees the notice and no approve button, and gets 403 posting anyway; a second operator approves and the run proceeds', async () => {
      const runId = await startSingle(tenants[0]!)
      const starterPage = await get(`/system/ops/runs/${runId}`)
      expect(starterPage.status).toBe(200)
      expect(starterPage.text).toContain('waiting for a second operator')
      expect(starterPage.text).toContain('id="run-approval-starter"')
      expect(starterPage.text).not.toContain('id="approve-form"')
      const refused = await post(`/system/ops/runs/${runId}/approve`, { comment: 'me, myself' })
      expect(refused.status).toBe(403)
      expect(refused.text).toContain('another operator must')
      expect((await post(`/system/ops/runs/${runId}/reject`, { reasonCode: 'INCIDENT', reasonText: 'i changed my mind about it' })).status).toBe(403)

      const viewerPage = await get(`/system/ops/runs/${runId}`, viewer)
      expect(viewerPage.text).toContain('waiting for a second operator')
      expect(viewerPage.text).not.toContain('id="approve-form"')
      expect((await post(`/system/ops/runs/${runId}/approve`, {}, viewer)).status).toBe(403)

      const approverPage = await get(`/system/ops/runs/${runId}`, approver)
      expect(approverPage.text).toContain('id="approve-form"')
      expect(approverPage.text).toContain('id="reject-form"')
      const noCsrf = await consoleRequest(service, 'POST', `/system/ops/runs/${runId}/approve`, { cookies: approver.cookies, form: {} })
      expect(noCsrf.status).toBe(403)
      expect((await getRun(service.sql, runId))!.status).toBe('awaiting_approval')

      const approved = await post(`/system/ops/runs/${runId}/approve`, { comment: 'checked the preflight' }, approver)
      expect(approved.status, approved.text.slice(0, 400)).toBe(303)
      await waitUntil(async () => runIsSettled((await getRun(service.sql, runId)) ?? undefined), 'approved run completes')
      expect((await getRun(service.sql, runId))!.outcome).toBe('succeeded')
      const done = await get(`/system/ops/runs/${runId}`, approver)
      expect(done.text).toContain('id="run-approved"')
      expect(done.text).toContain('checked the preflight')
      const late = await post(`/system/ops/runs/${runId}/approve`, {}, approver)
      expect(late.status).toBe(409)
      expect(late.text).toContain('not awaiting approval')
    })

    it('the live stream treats a run awaiting approval as live but not progressing', async () => {
      const runId = await startSingle(tenants[2]!)
      const controller = new AbortController()
      const response = await fetch(`${service.baseUrl}/system/ops/runs/${runId}/events/stream`, {
        headers: { accept: 'text/event-stream', cookie: `rcp_session=${manager.cookies.rcp_session}` },
        signal: controller.signal,
      })
      expect(response.status).toBe(200)
      const reader = response.body!.getReader()
      let text = ''
      try {
        while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value)
      } finally {
        controller.abort()
      }
      const [first] = parseServerSentEvents(text.slice(0, text.indexOf('\n\n') + 1))
      expect(first!.event).toBe('progress')
      expect(JSON.parse(first!.data)).toMatchObject({ status: 'awaiting_approval', outcome: 'pending', etaSeconds: null, done: 0 })
      const page = await get(`/system/ops/runs/${runId}`)
      expect(page.text).toContain('awaiting approval by a second operator')
      expect(page.text).toContain('data-live="true"')
      expect((await post(`/system/ops/runs/${runId}/reject`, { reasonCode: 'INCIDENT', reasonText: 'only here to look at the stream' }, approver)).status).toBe(303)
    })

    it('a run the halt paused before its approval says so on its page: once resumed it awaits the approval again', async () => {
      const runId = await startSingle(tenants[3]!)
      const token = await service.token()
      const reason = { code: 'INCIDENT', text: 'halt while a run awaits its approval' }
      const halted = await service.request('POST', '/api/halt', { token, json: { reason } })
      expect(halted.body.pausedRuns).toContain(runId)
      try {
        await waitUntil(async () => (await getRun(service.sql, runId))?.status === 'paused', 'the run paused by the halt')
        const page = await get(`/system/ops/runs/${runId}`)
        expect(page.text).toContain('This run is paused.')
        expect(page.text).toContain('It is not approved yet: once resumed, it awaits a second operator’s approval again.')
      } finally {
        await service.request('DELETE', '/api/halt', { token, json: { reason } })
      }
      const approved = await post(`/system/ops/runs/${runId}/approve`, { comment: 'approved while paused' }, approver)
      expect(approved.status, approved.text.slice(0, 400)).toBe(303)
      const page = await get(`/system/ops/runs/${runId}`)
      expect(page.text).toContain('This run is paused.')
      expect(page.text).not.toContain('It is not approved yet')
      expect((await post(`/system/ops/runs/${runId}/cancel`, { confirmation: 'cancel', reasonCode: 'INCIDENT', reasonText: 'only here for the notice' })).status).toBe(303)
    })

    it('a rejection needs a reason (422 in place), then completes the run rejected', async () => {
      const runId = await startSingle(tenants[1]!)
      const noReason = await post(`/system/ops/runs/${runId}/reject`, { reasonCode: '', reasonText: '' }, approver)
      expect(noReason.status).toBe(422)
      expect(noReason.text).toMatch(/<details class="control" open/)
      const rejected = await post(`/system/ops/runs/${runId}/reject`, { reasonCode: 'INCIDENT', reasonText: 'not during the freeze window' }, approver)
      expect(rejected.status).toBe(303)
      const run = (await getRun(service.sql, runId))!
      expect(run).toMatchObject({ status: 'completed', outcome: 'rejected' })
      const page = await get(`/system/ops/runs/${runId}`)
      expect(page.text).toContain('id="run-rejected"')
      expect(page.text).toContain('not during the freeze window')
      expect(page.text).toMatch(/class="badge danger"[^>]*data-badge="outcome">rejected</)
    })
  })

  describe('your account', () => {
    it('shows the operator to themselves and changes their own password (422 for a wrong current one); every session ends', async () => {
      const credentials = await createConsoleOperator(service, ['platform.ops.view'])
      const session = await consoleLogin(service, credentials)
      const page = await get('/system/ops/me', session)
      expect(page.status).toBe(200)
      expect(page.text).toContain(credentials.email)
      expect(page.text).toContain('platform.ops.view')
      const wrong = await post('/system/ops/me/password', { currentPassword: 'not my password', password: newPassword }, session)
      expect(wrong.status).toBe(422)
      expect(wrong.text).toContain('Current password is not your current password')
      const noCsrf = await consoleRequest(service, 'POST', '/system/ops/me/password', {
        cookies: session.cookies,
        form: { currentPassword: credentials.password, password: newPassword },
      })
      expect(noCsrf.status).toBe(403)
      const changed = await post('/system/ops/me/password', { currentPassword: credentials.password, password: newPassword }, session)
      expect(changed.status).toBe(303)
      expect(changed.headers.get('location')).toMatch(/^\/system\/login/)
      expect((await get('/system/ops/me', session)).status).toBe(303)
      await consoleLogin(service, { email: credentials.email, password: newPassword })
    })

    it('rate-limits the own password change as a login: past 10 a minute it is 429 with Retry-After', async () => {
      const credentials = await createConsoleOperator(service, ['platform.ops.view'])
      const session = await consoleLogin(service, credentials) // the login counts as one attempt
      const statuses: number[] = []
      let last = null as Awaited<ReturnType<typeof post>> | null
      for (let attempt = 0; attempt < 11; attempt++) {
        last = await post('/system/ops/me/password', { currentPassword: `wrong ${attempt}`, password: newPassword }, session)
        statuses.push(last.status)
        if (last.status !== 422) break
      }
      // 10 a minute per address and email; the login may have used one of them
      expect(statuses.length).toBeGreaterThanOrEqual(10)
      expect(statuses.slice(0, -1).every((status) => status === 422)).toBe(true)
      expect(statuses.at(-1)).toBe(429)
      expect(last!.headers.get('retry-after')).toMatch(/^\d+$/)
      expect(last!.text).toContain('Too many password attempts')
    })

    it('logout revokes the session on the server: the old cookie opens nothing', async () => {
      const session = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view']))
      const loggedOut = await post('/system/logout', {}, session)
      expect(loggedOut.status).toBe(303)
      const replayed = await get('/system/ops/runs', session)
      expect(replayed.status).toBe(303)
      expect(replayed.headers.get('location')).toMatch(/^\/system\/login/)
      expect(csrfFieldOf((await get('/system/ops/runs')).text)).toBe(manager.csrf)
    })
  })
})
