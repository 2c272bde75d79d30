import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { createConsoleOperator } from '../http/console/console-client.js'
import {
  CHROMIUM_PATH,
  describePage,
  hasMarker,
  markPage,
  openConsolePage,
  phoneViewport,
  saveScreenshot,
  signInWithSessionCookie,
  submitForm,
  unexpectedProblems,
  type ConsoleBrowserPage,
} from '../support/browser.js'
import { everyConsoleCapability, runbookKey, useBrowserSuite } from './browser-fixtures.js'

const validReasonText = 'normalise legacy finding lifecycles'
const slaKey = 'findings.sla.recalculate'
const slaCapability = 'platform.runbooks.findings.sla_recalculate'

describe.runIf(CHROMIUM_PATH)('browser: runbooks page', () => {
  const suite = useBrowserSuite()
  let operator: { email: string; password: string }
  const opened: ConsoleBrowserPage[] = []

  beforeAll(async () => {
    operator = await createConsoleOperator(suite.service, everyConsoleCapability)
  })

  afterAll(async () => {
    for (const { context } of opened) await context.close().catch(() => {})
  })

  async function runbooksPage(credentials = operator): Promise<ConsoleBrowserPage> {
    const console = await openConsolePage(suite.browser, suite.service.baseUrl)
    opened.push(console)
    await signInWithSessionCookie(console.context, suite.service, credentials)
    const response = await console.page.goto('/system/ops/runbooks')
    expect(response?.status(), await describePage(console.page)).toBe(200)
    return console
  }

  const form = (page: Page) => page.locator('form.runbook').first()
  const picker = (page: Page) => form(page).locator('.tenant-picker')
  const datalistOptions = (page: Page) =>
    page.evaluate(() => {
      const input = document.querySelector<HTMLInputElement>('form.runbook input[name=tenant]')!
      return Array.from(document.getElementById(input.getAttribute('list')!)!.querySelectorAll('option'), (option) => option.value)
    })
  const universeNames = async (q: string): Promise<string[]> => {
    const response = await suite.service.request('GET', `/api/tenants?q=${encodeURIComponent(q)}`, { token: await suite.service.token() })
    expect(response.status).toBe(200)
    return (response.body.items as Array<{ id: number; name: string }>).map((tenant) => `${tenant.name} (#${tenant.id})`)
  }
  const runCount = async () => {
    const [row] = await suite.service.sql<{ count: number }[]>`select count(*)::int as count from operation_runs`
    return row!.count
  }

  it('reveals the tenant picker at once on "single tenant", filters it to the universe as one types, hides it on "all tenants"', async () => {
    const { page, problems } = await runbooksPage()
    await markPage(page)
    expect(await form(page).getByLabel('All tenants').isChecked()).toBe(true)
    expect(await picker(page).isVisible()).toBe(false)

    await form(page).getByLabel('Single tenant').click()
    // No waiting: the picker is there the moment the choice is made, and the tenant field has the focus.
    expect(await picker(page).isVisible()).toBe(true)
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('tenant')

    // "Ini" matches an active tenant and an archived one: only the active one may be offered.
    await page.keyboard.type('Ini')
    await expect.poll(() => datalistOptions(page), { timeout: 5_000 }).toEqual(await universeNames('Ini'))
    const initOptions = await datalistOptions(page)
    expect(initOptions).toEqual(['Initrode Health (#4)'])

    await form(page).getByLabel('Tenant', { exact: true }).fill('')
    await page.keyboard.type('Platform')
    await expect.poll(() => datalistOptions(page), { timeout: 5_000 }).toEqual([])

    await form(page).getByLabel('Tenant', { exact: true }).fill('')
    await page.keyboard.type('Umbrella')
    await expect.poll(() => datalistOptions(page), { timeout: 5_000 }).toEqual([`${DEMO_INVALID_TENANT_NAME} (#18)`])

    await form(page).getByLabel('All tenants').click()
    expect(await picker(page).isVisible()).toBe(false)
    expect(await hasMarker(page), 'the page was reloaded').toBe(true)
    expect(unexpectedProblems(problems)).toEqual([])
  })

  it('shows the preflight numbers the API computes, for all tenants and for one tenant', async () => {
    const { page, problems } = await runbooksPage()
    const token = await suite.service.token()
    const apiPreflight = async (json: object) => {
      const response = await suite.service.request('POST', `/api/runbooks/${runbookKey}/preflight`, { token, json })
      expect(response.status, response.text).toBe(200)
      // The counts the page shows (each preview also gets its own id: see the per-tenant plan's test).
      const { affectedCount, totalCount, estimatedTenants } = response.body as { affectedCount: number; totalCount: number; estimatedTenants: number }
      return { affectedCount, totalCount, estimatedTenants }
    }
    const shownNumbers = async () => {
      const output = form(page).locator('[data-preflight-result]')
      await output.locator('dl').waitFor({ timeout: 10_000 }).catch(async () => {
        throw new Error(`no preflight numbers; the form shows: ${await form(page).textContent()}`)
      })
      const values = await output.locator('dd').allTextContents()
      const terms = await output.locator('dt').allTextContents()
      expect(terms).toEqual(['Affected findings', 'Findings scanned', 'Estimated tenants'])
      return { affectedCount: Number(values[0]), totalCount: Number(values[1]), estimatedTenants: Number(values[2]) }
    }

    await form(page).getByRole('button', { name: 'Preflight' }).click()
    const all = await shownNumbers()
    expect(all).toEqual(await apiPreflight({ scope: 'all_tenants' }))
    expect(all.estimatedTenants).toBe(24)
    expect(all.affectedCount).toBeGreaterThan(0)

    await form(page).getByLabel('Single tenant').click()
    expect(await form(page).locator('[data-preflight-result]').textContent()).toBe('')
    await page.keyboard.type('Acme Logistics (#2)')
    await form(page).getByRole('button', { name: 'Preflight' }).click()
    const single = await shownNumbers()
    expect(single).toEqual(await apiPreflight({ scope: 'single_tenant', tenantId: 2 }))
    expect(single.totalCount).toBeLessThan(all.totalCount)
    expect(unexpectedProblems(problems)).toEqual([])
  })

  it('shows the preview id and the tenant that would fail before anything runs, and pages the per-tenant plan (SPEC §11)', async () => {
    const { page, problems } = await runbooksPage()
    const token = await suite.service.token()
    const runsBefore = await runCount()
    const eventsBefore = await suite.service.eventCount()
    const output = form(page).locator('[data-preflight-result]')
    const answered = page.waitForResponse((response) => response.url().endsWith(`/runbooks/${runbookKey}/preflight`))
    await form(page).getByRole('button', { name: 'Preflight' }).click()
    const preview = (await (await answered).json()) as { preflightId: string; estimatedTenants: number; wouldFailTenants: number[] }
    expect(preview.wouldFailTenants).toEqual([18])
    await output.locator('dl').waitFor({ timeout: 10_000 })
    expect(await output.locator('dt').allTextContents()).toEqual(['Affected findings', 'Findings scanned', 'Estimated tenants'])
    expect(await output.locator('.preflight-id code').textContent()).toBe(preview.preflightId)

    // Inside the live result: a region named for what it is, the tenant, its reason code and message.
    const wouldFail = output.getByRole('region', { name: 'Would fail: 1 tenant' })
    await wouldFail.getByRole('listitem').filter({ hasText: 'INVALID_DATA' }).waitFor({ timeout: 10_000 })
    const apiPlan = await suite.service.request('GET', `/api/preflights/${preview.preflightId}/tenants?limit=200`, { token })
    expect(apiPlan.status, apiPlan.text).toBe(200)
    const planItems = apiPlan.body.items as Array<{ tenantId: number; tenantName: string; wouldFail: string | null; message: string | null }>
    expect(planItems[0]).toMatchObject({ tenantName: DEMO_INVALID_TENANT_NAME, wouldFail: 'INVALID_DATA' })
    expect(await wouldFail.getByRole('listitem').allTextContents()).toEqual([`${DEMO_INVALID_TENANT_NAME} (#18) INVALID_DATA ${planItems[0]!.message}`])
    expect(await wouldFail.locator('.badge').textContent()).toBe('INVALID_DATA')
    // Nothing ran: the preview is recorded (one event), no run started.
    expect(await runCount()).toBe(runsBefore)
    expect(await suite.service.eventCount()).toBe(eventsBefore + 1)

    // The plan, ten rows a page here (the page's own size is 50, more than the demo's 24 tenants), with "More".
    await form(page).evaluate((element: HTMLFormElement) => {
      element.dataset.planPageSize = '10'
    })
    const disclosure = form(page).locator('details.plan')
    await disclosure.getByText('Show the plan').click()
    const table = disclosure.getByRole('table')
    const rows = table.locator('tbody tr')
    const status = disclosure.getByRole('status')
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(10)
    expect(await table.getByRole('columnheader').allTextContents()).toEqual(['Tenant', 'Affected findings', 'Findings scanned', 'Would fail'])
    expect(await status.textContent()).toBe(`Showing 10 of ${preview.estimatedTenants} tenants.`)
    const more = disclosure.getByRole('button', { name: 'More' })
    await more.click()
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(20)
    await more.click()
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(preview.estimatedTenants)
    expect(await more.count()).toBe(0)
    expect(await status.textContent()).toBe(`Showing ${preview.estimatedTenants} of ${preview.estimatedTenants} tenants.`)
    // The "More" button gone, the focus is on the first row it brought, not lost.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe(`${planItems[20]!.tenantName} (#${planItems[20]!.tenantId})`)

    const shownTenants = await rows.getByRole('rowheader').allTextContents()
    expect(shownTenants).toHaveLength(24)
    expect(shownTenants).toEqual(planItems.map((item) => `${item.tenantName} (#${item.tenantId})`))
    expect(shownTenants[0]).toBe(`${DEMO_INVALID_TENANT_NAME} (#18)`)
    const ids = shownTenants.slice(1).map((label) => Number(/\(#(\d+)\)$/.exec(label)![1]))
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    const failing = rows.first().getByRole('cell')
    expect(await failing.allTextContents()).toEqual([
      String((apiPlan.body.items[0] as { affected: number }).affected),
      String((apiPlan.body.items[0] as { total: number }).total),
      `INVALID_DATA ${planItems[0]!.message}`,
    ])
    const wouldFailColumn = await rows.evaluateAll((trs) => trs.map((tr) => tr.lastElementChild!.textContent))
    expect(wouldFailColumn.slice(1).every((text) => text === 'No')).toBe(true)
    await saveScreenshot(page, 'runbooks-preflight-plan')
    // On a phone the plan reads one card per tenant, with no horizontal scrolling.
    await page.setViewportSize(phoneViewport)
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(phoneViewport.width)
    expect(await rows.first().getByRole('cell').first().evaluate((cell) => getComputedStyle(cell, '::before').content)).toBe('"Affected findings"')

    // A new choice clears the preview and its plan.
    await form(page).getByLabel('Single tenant').click()
    expect(await output.textContent()).toBe('')
    expect(await form(page).locator('details.plan').count()).toBe(0)
    expect(await runCount()).toBe(runsBefore)
    expect(unexpectedProblems(problems)).toEqual([])
  })

  it('explains invalid fields in place, next to focusable labelled fields, and starts nothing', async () => {
    const { page, problems } = await runbooksPage()
    const runsBefore = await runCount()
    await form(page).getByLabel(/Confirmation/).fill('findings.lifecycle.backfil')
    const response = await submitForm(page, () => form(page).getByRole('button', { name: 'Start run' }).click())
    expect(response.status(), await describePage(page)).toBe(422)

    const explained = async (label: RegExp | string) => {
      const field = form(page).getByLabel(label, { exact: typeof label === 'string' })
      expect(await field.getAttribute('aria-invalid'), `${String(label)} is not marked invalid`).toBe('true')
      // The explanation is one of the texts the field names in aria-describedby, as a screen reader reads it.
      const message = await field.evaluate((element) =>
        (element.getAttribute('aria-describedby') ?? '')
          .split(' ')
          .map((id) => document.getElementById(id))
          .filter((described) => described?.classList.contains('field-error'))
          .map((described) => described!.textContent ?? '')
          .join(' ')
          .trim(),
      )
      expect(message, `${String(label)} has no explanation beside it`).not.toBe('')
      // Focusable: the field can take the focus (as "skip to the first error" or Tab would give it).
      await field.focus()
      expect(await page.evaluate(() => document.activeElement?.id)).toBe(await field.getAttribute('id'))
      return message
    }
    expect(await explained(/Confirmation/)).toMatch(/Confirmation/)
    expect(await explained('Reason code')).toMatch(/Reason/)
    // What was typed stays in the form.
    expect(await form(page).getByLabel(/Confirmation/).inputValue()).toBe('findings.lifecycle.backfil')
    expect(await form(page).getByLabel('All tenants').isChecked()).toBe(true)

    // A single tenant without a tenant: the picker explains it, visible at once after the page came back.
    await form(page).getByLabel('Single tenant').click()
    await form(page).getByLabel(/Confirmation/).fill(runbookKey)
    await form(page).getByLabel('Tenant', { exact: true }).fill('nobody in particular')
    expect((await submitForm(page, () => form(page).getByRole('button', { name: 'Start run' }).click())).status()).toBe(422)
    expect(await picker(page).isVisible()).toBe(true)
    expect(await explained('Tenant')).toMatch(/Tenant must be picked from the list/)

    expect(await runCount()).toBe(runsBefore)
    expect(unexpectedProblems(problems, [422])).toEqual([])
  })

  it('works from the keyboard alone: Tab to the scope, arrows to choose it, Space for preflight, Enter to start', async () => {
    const { page, problems } = await runbooksPage()
    const focused = () =>
      page.evaluate(() => {
        const element = document.activeElement as HTMLInputElement | null
        return { id: element?.id ?? '', name: element?.getAttribute('name') ?? '', value: element?.value ?? '', text: element?.textContent?.trim() ?? '' }
      })
    let presses = 0
    while ((await focused()).name !== 'scope') {
      await page.keyboard.press('Tab')
      if (++presses > 30) throw new Error('Tab never reached the scope choice')
    }
    expect((await focused()).value).toBe('all_tenants')
    await page.keyboard.press('ArrowRight')
    expect(await form(page).getByLabel('Single tenant').isChecked()).toBe(true)
    expect(await picker(page).isVisible()).toBe(true)
    expect((await focused()).name).toBe('tenant')
    await page.keyboard.type('Acme Logistics (#2)')

    await page.keyboard.press('Tab')
    expect((await focused()).text).toBe('Preflight')
    await page.keyboard.press('Space')
    await form(page).locator('[data-preflight-result] dl').waitFor({ timeout: 10_000 })

    // The plan's disclosure opens from the keyboard; its rows are not Tab stops.
    await page.keyboard.press('Tab')
    expect((await focused()).text).toBe('Show the plan')
    await page.keyboard.press('Enter')
    const planRows = form(page).locator('details.plan tbody tr')
    await expect.poll(() => planRows.count(), { timeout: 10_000 }).toBe(1)
    expect(await planRows.getByRole('rowheader').textContent()).toBe('Acme Logistics (#2)')
    await page.keyboard.press('Tab')
    expect((await focused()).name).toBe('confirmation')
    await page.keyboard.type(runbookKey)
    await page.keyboard.press('Tab')
    expect((await focused()).name).toBe('reasonCode')
    await page.keyboard.press('ArrowDown')
    expect((await focused()).value).toBe('DATA_REPAIR')
    await page.keyboard.press('Tab')
    expect((await focused()).name).toBe('reasonText')
    await page.keyboard.type(validReasonText)
    // SPEC §9 limits: two stops, both empty (the defaults).
    await page.keyboard.press('Tab')
    expect(await focused()).toMatchObject({ name: 'maxConcurrency', value: '' })
    await page.keyboard.press('Tab')
    expect(await focused()).toMatchObject({ name: 'maxFailures', value: '' })
    // SPEC §11 canary: one stop for its choice, "No canary"; the fields of the other choices are not shown.
    await page.keyboard.press('Tab')
    expect(await focused()).toMatchObject({ name: 'canaryMode', value: 'none' })
    // The preflight pinned the start to its preview (SPEC §11): its tolerance is the next stop, at the default.
    await page.keyboard.press('Tab')
    expect((await focused()).name).toBe('maxDriftPercent')
    expect((await focused()).value).toBe('10')
    await page.keyboard.press('Tab')
    expect((await focused()).text).toBe('Start run')
    await submitForm(page, () => page.keyboard.press('Enter'))
    expect(new URL(page.url()).pathname, await describePage(page)).toMatch(/^\/system\/ops\/runs\/[0-9A-Z]{26}$/)
    expect(await page.locator('#run').textContent()).toContain('Single tenant Acme Logistics (#2)')
    expect(unexpectedProblems(problems)).toEqual([])
  })

  it('shows a view-only operator no start form and no preflight, and refuses its forged POSTs with 403', async () => {
    const viewer = await createConsoleOperator(suite.service, ['platform.ops.view'])
    const { context, page, problems } = await openConsolePage(suite.browser, suite.service.baseUrl)
    opened.push({ context, page, problems })
    await signInWithSessionCookie(context, suite.service, viewer)
    const eventsBefore = await suite.service.eventCount()

    expect((await page.goto('/system/ops/runs'))?.status()).toBe(200)
    expect(await page.getByRole('navigation', { name: 'Console' }).getByRole('link').allTextContents()).toEqual(['Runs', 'Audit', 'Alerts'])
    expect(await page.locator('form.runbook').count()).toBe(0)
    expect(await page.getByRole('button', { name: 'Preflight' }).count()).toBe(0)
    expect(await page.getByRole('button', { name: 'Start run' }).count()).toBe(0)

    const catalog = await page.goto('/system/ops/runbooks')
    expect(catalog?.status()).toBe(403)
    expect(await page.locator('form.runbook').count()).toBe(0)
    expect(await page.getByRole('button', { name: 'Preflight' }).count()).toBe(0)
    expect(await page.getByRole('button', { name: 'Start run' }).count()).toBe(0)

    await page.goto('/system/ops/runs')
    const forged = await page.evaluate(
      async ({ key, reasonText }) => {
        const csrf = document.querySelector<HTMLInputElement>('input[name=_csrf]')!.value
        const start = await fetch(`/system/ops/runbooks/${key}/runs`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ _csrf: csrf, scope: 'all_tenants', confirmation: key, reasonCode: 'DATA_REPAIR', reasonText }).toString(),
        })
        const preflight = await fetch(`/system/ops/runbooks/${key}/preflight`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify({ scope: 'all_tenants' }),
        })
        return { start: { status: start.status, text: await start.text() }, preflight: { status: preflight.status, text: await preflight.text() } }
      },
      { key: runbookKey, reasonText: validReasonText },
    )
    expect(forged.start.status).toBe(403)
    // Refused for the missing capability, not for a bad token: the token was the session's own.
    expect(forged.start.text).toContain('You lack the capability needed here: platform.runbooks.run')
    expect(forged.preflight.status).toBe(403)
    expect(JSON.parse(forged.preflight.text).missingCapabilities).toEqual(['platform.runbooks.view'])
    expect(await suite.service.eventCount()).toBe(eventsBefore)
    expect(unexpectedProblems(problems, [403])).toEqual([])
  })
  it('pins the start to the preview: moved data shows the drift report and starts nothing, a wider tolerance starts the pinned run (SPEC §11)', async () => {
    const { page, problems } = await runbooksPage()
    const token = await suite.service.token()
    // A tenant no other test here starts a run for.
    const tenants = (await suite.service.request('GET', '/api/tenants?limit=1000', { token })).body.items as Array<{ id: number; name: string }>
    const tenant = tenants.find((candidate) => candidate.id !== 2 && candidate.id !== 18 && !/Acme/.test(candidate.name))!
    const reference = `${tenant.name} (#${tenant.id})`
    const pin = form(page).locator('[data-pin]')
    const pinnedId = () => form(page).locator('input[name=preflightId]').inputValue()
    const drift = form(page).getByLabel('Allowed drift (%)')
    const preflight = async () => {
      const answered = page.waitForResponse((response) => response.url().endsWith(`/runbooks/${runbookKey}/preflight`))
      await form(page).getByRole('button', { name: 'Preflight' }).click()
      const answer = await answered
      expect(answer.status()).toBe(200)
      await form(page).locator('[data-preflight-result] dl').waitFor({ timeout: 10_000 })
      return (await answer.json()) as { preflightId: string; affectedCount: number; totalCount: number }
    }

    // No preflight, no pin: hidden, and the start would not be pinned.
    expect(await pin.isVisible()).toBe(false)
    expect(await pinnedId()).toBe('')

    await form(page).getByLabel('Single tenant').click()
    await form(page).getByLabel('Tenant', { exact: true }).fill(reference)
    const first = await preflight()
    expect(await pin.isVisible()).toBe(true)
    expect(await pin.locator('.pin-note').textContent()).toBe(`This run will be pinned to preview ${first.preflightId}.`)
    expect(await pinnedId()).toBe(first.preflightId)
    expect(await drift.inputValue()).toBe('10')
    expect(await drift.evaluate((input: HTMLInputElement) => ({ type: input.type, min: input.min, max: input.max }))).toEqual({ type: 'number', min: '0', max: '100' })

    // A change of tenant unpins, as it clears the plan; a new preflight pins to the new preview.
    await form(page).getByLabel('Tenant', { exact: true }).fill(`${reference} `)
    expect(await pin.isVisible()).toBe(false)
    expect(await pinnedId()).toBe('')
    await form(page).getByLabel('Tenant', { exact: true }).fill(reference)
    const preview = await preflight()
    expect(preview.preflightId).not.toBe(first.preflightId)
    expect(await pinnedId()).toBe(preview.preflightId)

    // The browser refuses a tolerance out of range beside the field, sending nothing.
    await form(page).getByLabel(/Confirmation/).fill(runbookKey)
    await drift.fill('150')
    let posts = 0
    const countPosts = (request: { method(): string; url(): string }) => {
      if (request.method() === 'POST' && request.url().endsWith(`/runbooks/${runbookKey}/runs`)) posts++
    }
    page.on('request', countPosts)
    await form(page).getByRole('button', { name: 'Start run' }).click()
    await expect.poll(() => form(page).locator('[data-error-for=maxDriftPercent]').textContent()).toBe('Allowed drift must be at most 100')
    expect(await drift.getAttribute('aria-invalid')).toBe('true')
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('maxDriftPercent')
    expect(posts).toBe(0)
    page.off('request', countPosts)

    // The data moves: one more legacy finding in the tenant since the preview.
    await suite.service.sql`
      insert into findings (id, tenant_id, fingerprint, severity, status, created_at, updated_at)
      select max(id) + 1000, ${tenant.id}, 'drift-probe', 'low', 'open', now(), now() from findings`
    const eventsBefore = await suite.service.eventCount()
    const runsBefore = await runCount()
    await drift.fill('0')
    const refused = await submitForm(page, () => form(page).getByRole('button', { name: 'Start run' }).click())
    expect(refused.status(), await describePage(page)).toBe(409)
    const report = page.getByRole('region', { name: 'Nothing was started: the data changed since the pinned preview' })
    expect(await report.isVisible()).toBe(true)
    expect((await report.getByRole('alert').textContent())!.replace(/\s+/g, ' ')).toContain(
      `Preview ${preview.preflightId} counted ${preview.affectedCount} affected findings; the start's own scan counts ${preview.affectedCount + 1} (+1`,
    )
    expect(await report.getByRole('alert').textContent()).toContain('Run the preflight again')
    const table = report.getByRole('table', { name: /Tenants that changed: 1/ })
    expect(await table.getByRole('rowheader').allTextContents()).toEqual([reference])
    expect(await table.locator('tbody td').allTextContents()).toEqual([
      String(preview.affectedCount),
      String(preview.affectedCount + 1),
      String(preview.totalCount),
      String(preview.totalCount + 1),
      'No',
      'No',
    ])
    await report.scrollIntoViewIfNeeded()
    const shot = await saveScreenshot(page, 'runbooks-plan-drift')
    expect(shot).toMatch(/runbooks-plan-drift\.png$/)
    // On a phone the table reads as one card per tenant, nothing wider than the screen.
    const desktop = page.viewportSize()!
    await page.setViewportSize(phoneViewport)
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth)).toBe(true)
    await report.scrollIntoViewIfNeeded()
    await saveScreenshot(page, 'runbooks-plan-drift-phone')
    await page.setViewportSize(desktop)
    expect(await suite.service.eventCount()).toBe(eventsBefore)
    expect(await runCount()).toBe(runsBefore)
    // The form kept what was sent, still pinned to the same preview.
    expect(await form(page).getByLabel('Single tenant').isChecked()).toBe(true)
    expect(await form(page).getByLabel('Tenant', { exact: true }).inputValue()).toBe(reference)
    expect(await pin.isVisible()).toBe(true)
    expect(await pinnedId()).toBe(preview.preflightId)
    expect(await drift.inputValue()).toBe('0')
    expect(await form(page).getByLabel(/Confirmation/).inputValue()).toBe(runbookKey)

    // A tolerance the move fits in: the run starts, pinned to the preview.
    await drift.fill('100')
    await submitForm(page, () => form(page).getByRole('button', { name: 'Start run' }).click())
    const path = new URL(page.url()).pathname
    expect(path, await describePage(page)).toMatch(/^\/system\/ops\/runs\/[0-9A-Z]{26}$/)
    expect(await page.locator('#run').textContent()).toContain(`Single tenant ${reference}`)
    await page.getByText('Context', { exact: true }).click()
    expect(await page.locator('details', { hasText: 'Context' }).locator('pre').textContent()).toContain(`"preflight_id": "${preview.preflightId}"`)
    const run = await suite.service.request('GET', `/api/runs/${path.split('/').at(-1)}`, { token })
    expect(run.status, run.text).toBe(200)
    expect(run.body.context.preflight).toMatchObject({ preflight_id: preview.preflightId, affected_count: preview.affectedCount + 1 })
    expect(unexpectedProblems(problems, [409])).toEqual([])
  })

  describe('the SLA runbook’s parameters (SPEC §13)', () => {
    let slaOperator: { email: string; password: string }
    beforeAll(async () => {
      // Both runbooks' capabilities, so the page carries both forms.
      slaOperator = await createConsoleOperator(suite.service, [...everyConsoleCapability, slaCapability])
    })
    const slaForm = (page: Page) =>
      page.locator('section.card', { has: page.getByRole('heading', { name: 'Findings SLA recalculation' }) }).locator('form.runbook')
    const backfillForm = (page: Page) =>
      page.locator('section.card', { has: page.getByRole('heading', { name: 'Findings lifecycle backfill' }) }).locator('form.runbook')
    const severities = [
      ['Critical', '3'],
      ['High', '7'],
      ['Medium', '30'],
      ['Low', '90'],
    ] as const
    /** The error texts a field names in aria-describedby, as a screen reader reads them. */
    const explanation = (page: Page, label: string) =>
      slaForm(page)
        .getByLabel(label, { exact: true })
        .evaluate((element) =>
          (element.getAttribute('aria-describedby') ?? '')
            .split(' ')
            .map((id) => document.getElementById(id))
            .filter((described) => described?.classList.contains('field-error'))
            .map((described) => described!.textContent ?? '')
            .join(' ')
            .trim(),
        )
    const dropMinimum = (page: Page, label: string) => slaForm(page).getByLabel(label, { exact: true }).evaluate((input) => input.removeAttribute('min'))

    it('shows a form generated from the schema, prefilled with the defaults; the preflight counts with what is typed and explains refusals beside the field', async () => {
      const { page, problems } = await runbooksPage(slaOperator)
      expect(await backfillForm(page).locator('[data-param-path]').count(), 'the backfill takes no parameters').toBe(0)
      const group = slaForm(page).getByRole('group', { name: 'SLA days per severity' })
      expect(await group.isVisible()).toBe(true)
      for (const [label, value] of severities) {
        const field = group.getByLabel(label, { exact: true })
        expect(await field.inputValue(), label).toBe(value)
        expect(
          await field.evaluate((input: HTMLInputElement) => ({ type: input.type, min: input.min, max: input.max, step: input.step, name: input.name })),
        ).toEqual({ type: 'number', min: '1', max: '365', step: '1', name: `param.slaDays.${label.toLowerCase()}` })
        expect(await field.evaluate((input) => document.getElementById(input.getAttribute('aria-describedby')!.split(' ')[0]!)?.textContent)).toBe(
          `Days (1–365); default ${value}.`,
        )
      }
      await saveScreenshot(page, 'runbooks-sla-parameters')

      // The browser's own constraint check: nothing is sent, the field says why.
      let preflights = 0
      page.on('request', (request) => {
        if (request.url().endsWith(`/runbooks/${slaKey}/preflight`)) preflights++
      })
      await group.getByLabel('Critical', { exact: true }).fill('0')
      await slaForm(page).getByRole('button', { name: 'Preflight' }).click()
      expect(await explanation(page, 'Critical')).toBe('Critical must be at least 1')
      expect(await group.getByLabel('Critical', { exact: true }).getAttribute('aria-invalid')).toBe('true')
      expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('param.slaDays.critical')
      expect(preflights).toBe(0)

      // The server's refusal (the browser's check removed), beside the same field.
      await dropMinimum(page, 'Critical')
      const refused = page.waitForResponse((response) => response.url().endsWith(`/runbooks/${slaKey}/preflight`))
      await slaForm(page).getByRole('button', { name: 'Preflight' }).click()
      expect((await refused).status()).toBe(422)
      await expect.poll(() => explanation(page, 'Critical')).toBe('Critical must be at least 1')
      expect(await group.getByLabel('High', { exact: true }).getAttribute('aria-invalid')).toBeNull()

      await group.getByLabel('Critical', { exact: true }).fill('1')
      const sent = page.waitForRequest((request) => request.url().endsWith(`/runbooks/${slaKey}/preflight`))
      await slaForm(page).getByRole('button', { name: 'Preflight' }).click()
      expect((await sent).postDataJSON()).toEqual({ scope: 'all_tenants', parameters: { slaDays: { critical: 1, high: 7, medium: 30, low: 90 } } })
      const output = slaForm(page).locator('[data-preflight-result]')
      await output.locator('dl').waitFor({ timeout: 10_000 })
      expect(await explanation(page, 'Critical')).toBe('')
      expect(await output.locator('dt').allTextContents()).toEqual(['Affected findings', 'Findings scanned', 'Estimated tenants'])
      const shown = (await output.locator('dd').allTextContents()).map(Number)
      const api = await suite.service.request('POST', `/api/runbooks/${slaKey}/preflight`, {
        token: await suite.service.token(),
        json: { scope: 'all_tenants', parameters: { slaDays: { critical: 1 } } },
      })
      expect(api.status, api.text).toBe(200)
      expect(shown).toEqual([api.body.affectedCount, api.body.totalCount, api.body.estimatedTenants])
      expect(unexpectedProblems(problems, [422])).toEqual([])
    })

    it('answers a start the server refuses in place (values kept, nothing started), and a valid one with the run page showing its parameters', async () => {
      const { page, problems } = await runbooksPage(slaOperator)
      const runsBefore = await runCount()
      const form = slaForm(page)
      await form.getByLabel('Single tenant').click()
      await form.getByLabel('Tenant', { exact: true }).fill('Acme Logistics (#2)')
      await form.getByLabel(/Confirmation/).fill(slaKey)
      await form.getByLabel('Critical', { exact: true }).fill('0')
      await form.getByLabel('Medium', { exact: true }).fill('45')
      await dropMinimum(page, 'Critical')
      const refused = await submitForm(page, () => form.getByRole('button', { name: 'Start run' }).click())
      expect(refused.status(), await describePage(page)).toBe(422)
      expect(await form.getByLabel('Critical', { exact: true }).getAttribute('aria-invalid')).toBe('true')
      expect(await explanation(page, 'Critical')).toBe('Critical must be at least 1')
      expect(await explanation(page, 'High')).toBe('')
      expect(await form.locator('.form-errors').textContent()).toBe('')
      expect(await form.getByLabel('Critical', { exact: true }).inputValue()).toBe('0')
      expect(await form.getByLabel('Medium', { exact: true }).inputValue()).toBe('45')
      expect(await form.getByLabel('Low', { exact: true }).inputValue()).toBe('90')
      expect(await runCount()).toBe(runsBefore)

      await form.getByLabel('Critical', { exact: true }).fill('1')
      await form.getByLabel(/Confirmation/).fill(slaKey)
      await submitForm(page, () => form.getByRole('button', { name: 'Start run' }).click())
      expect(new URL(page.url()).pathname, await describePage(page)).toMatch(/^\/system\/ops\/runs\/[0-9A-Z]{26}$/)
      expect(await page.locator('h1').textContent()).toContain('Findings SLA recalculation')
      expect(await page.locator('#run-parameters li').allTextContents()).toEqual([
        'SLA days per severity › Critical: 1',
        'SLA days per severity › High: 7',
        'SLA days per severity › Medium: 45',
        'SLA days per severity › Low: 90',
      ])
      expect(await page.getByRole('region', { name: 'Summary' }).locator('dt').first().textContent()).toBe('Findings scanned')
      expect(await runCount()).toBe(runsBefore + 1)
      expect(unexpectedProblems(problems, [422])).toEqual([])
    })
  })
})
