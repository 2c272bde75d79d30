import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { createConsoleOperator } from '../http/console/console-client.js'
import {
  CHROMIUM_PATH,
  describePage,
  hasMarker,
  launchChromium,
  markPage,
  openConsolePage,
  signInWithSessionCookie,
  submitForm,
  unexpectedProblems,
  type ConsoleBrowserPage,
} from '../support/browser.js'
import type { TestService } from '../support/service.js'
import { embeddedService, everyConsoleCapability, runbookKey } from './browser-fixtures.js'

const validReasonText = 'normalise legacy finding lifecycles'

describe.runIf(CHROMIUM_PATH)('browser: runbooks page', () => {
  let service: TestService
  let browser: Browser
  let operator: { email: string; password: string }
  const opened: ConsoleBrowserPage[] = []

  beforeAll(async () => {
    browser = await launchChromium()
    service = await embeddedService()
    operator = await createConsoleOperator(service, everyConsoleCapability)
  })

  afterAll(async () => {
    for (const { context } of opened) await context.close().catch(() => {})
    await browser?.close()
    await service?.close()
  })

  async function runbooksPage(credentials = operator): Promise<ConsoleBrowserPage> {
    const console = await openConsolePage(browser, service.baseUrl)
    opened.push(console)
    await signInWithSessionCookie(console.context, service, credentials)
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
    const response = await service.request('GET', `/api/tenants?q=${encodeURIComponent(q)}`, { token: await service.token() })
    expect(response.status).toBe(200)
    return (response.body.items as Array<{ id: number; name: string }>).map((tenant) => `${tenant.name} (#${tenant.id})`)
  }
  const runCount = async () => {
    const [row] = await service.sql<{ count: number }[]>`select count(*)::int as count from operation_runs`
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
    const token = await service.token()
    const apiPreflight = async (json: object) => {
      const response = await service.request('POST', `/api/runbooks/${runbookKey}/preflight`, { token, json })
      expect(response.status, response.text).toBe(200)
      return response.body as { affectedCount: number; totalCount: number; estimatedTenants: number }
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
    await page.keyboard.press('Tab')
    expect((await focused()).text).toBe('Start run')
    await submitForm(page, () => page.keyboard.press('Enter'))
    expect(new URL(page.url()).pathname, await describePage(page)).toMatch(/^\/system\/ops\/runs\/[0-9A-Z]{26}$/)
    expect(await page.locator('#run').textContent()).toContain('Single tenant Acme Logistics (#2)')
    expect(unexpectedProblems(problems)).toEqual([])
  })

  it('shows a view-only operator no start form and no preflight, and refuses its forged POSTs with 403', async () => {
    const viewer = await createConsoleOperator(service, ['platform.ops.view'])
    const { context, page, problems } = await openConsolePage(browser, service.baseUrl)
    opened.push({ context, page, problems })
    await signInWithSessionCookie(context, service, viewer)
    const eventsBefore = await service.eventCount()

    expect((await page.goto('/system/ops/runs'))?.status()).toBe(200)
    expect(await page.getByRole('navigation', { name: 'Console' }).getByRole('link').allTextContents()).toEqual(['Runs'])
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
    expect(await service.eventCount()).toBe(eventsBefore)
    expect(unexpectedProblems(problems, [403])).toEqual([])
  })
})
