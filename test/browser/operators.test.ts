import { beforeAll, describe, expect, it } from 'vitest'
import { createConsoleOperator } from '../http/console/console-client.js'
import {
  CHROMIUM_PATH,
  describePage,
  loginThroughForm,
  openConsolePage,
  saveScreenshot,
  submitForm,
  unexpectedProblems,
} from '../support/browser.js'
import { everyConsoleCapability, runbookKey, useBrowserSuite } from './browser-fixtures.js'

/** SPEC §10 in a real browser: an administrator creates a colleague from the operators page; four eyes on a run. */
describe.runIf(CHROMIUM_PATH)('browser: operators and approvals', () => {
  const suite = useBrowserSuite()
  let admin: { email: string; password: string }

  beforeAll(async () => {
    admin = await createConsoleOperator(suite.service, [...everyConsoleCapability, 'platform.operators.manage', 'platform.runbooks.approve'])
    // A run to see, started over the API by the bootstrap administrator.
    const started = await suite.service.request('POST', `/api/runbooks/${runbookKey}/runs`, {
      token: await suite.service.token(),
      json: { scope: 'all_tenants', confirmation: runbookKey, reason: { code: 'DATA_REPAIR', text: 'a run for the colleague to see' } },
    })
    expect(started.status, started.text).toBe(202)
  })

  it('an administrator creates a view-only colleague, who logs in and sees runs but no start controls', async () => {
    const email = `viewer-${Date.now()}@ops.test`
    const password = 'the colleague password'
    const adminSide = await openConsolePage(suite.browser, suite.service.baseUrl)
    try {
      await loginThroughForm(adminSide.page, admin)
      await adminSide.page.getByRole('link', { name: 'Operators' }).click()
      await adminSide.page.waitForURL('**/system/ops/operators')
      const form = adminSide.page.locator('#create-operator')
      await form.getByLabel('Email').fill(email)
      await form.getByLabel('Name').fill('View Only Colleague')
      await form.getByLabel('Initial password').fill(password)
      await form.locator('[data-capability="platform.ops.view"]').check()
      await form.locator('[data-capability="platform.runbooks.view"]').check()
      const created = await submitForm(adminSide.page, () => form.getByRole('button', { name: 'Create the operator' }).click())
      expect(created.status(), await describePage(adminSide.page)).toBe(303)
      const row = adminSide.page.locator(`tr[data-operator="${email}"]`)
      expect(await row.textContent()).toContain('View Only Colleague')
      expect(await row.textContent()).toContain('platform.ops.view')
      await saveScreenshot(adminSide.page, 'operators-page')
      expect(unexpectedProblems(adminSide.problems)).toEqual([])
    } finally {
      await adminSide.context.close()
    }

    const colleague = await openConsolePage(suite.browser, suite.service.baseUrl)
    try {
      await loginThroughForm(colleague.page, { email, password })
      await colleague.page.goto('/system/ops/runs')
      expect(await colleague.page.getByRole('heading', { level: 1 }).textContent()).toContain('Runs')
      expect(await colleague.page.locator(`a[href^="/system/ops/runs/"]`).count()).toBeGreaterThan(0)
      expect(await colleague.page.getByRole('link', { name: 'Operators' }).count()).toBe(0)
      await colleague.page.goto('/system/ops/runbooks')
      expect(await colleague.page.locator('input[name="confirmation"]').count()).toBe(0)
      expect(await colleague.page.getByRole('button', { name: /start/i }).count()).toBe(0)
      expect(unexpectedProblems(colleague.problems)).toEqual([])
    } finally {
      await colleague.context.close()
    }
  })

  it('an approval round: the setting is switched on from the operators page, a second operator approves and the run completes live', async () => {
    const { context, page, problems } = await openConsolePage(suite.browser, suite.service.baseUrl)
    try {
      await loginThroughForm(page, admin)
      await page.goto('/system/ops/operators')
      await page.locator('input[name="required"][value="all"]').check()
      const saved = await submitForm(page, () => page.getByRole('button', { name: 'Save the approval setting' }).click())
      expect(saved.status(), await describePage(page)).toBe(303)
      expect(await page.locator('input[name="required"][value="all"]').isChecked()).toBe(true)

      // Another operator (the bootstrap administrator, over the API) starts a run: it waits for approval.
      const tenants = (await suite.service.request('GET', '/api/tenants', { token: await suite.service.token() })).body.items as Array<{ id: number }>
      const started = await suite.service.request('POST', `/api/runbooks/${runbookKey}/runs`, {
        token: await suite.service.token(),
        json: { scope: 'single_tenant', tenantId: tenants[0]!.id, confirmation: runbookKey },
      })
      expect(started.status, started.text).toBe(202)
      expect(started.body.status).toBe('awaiting_approval')

      await page.goto(`/system/ops/runs/${started.body.runId}`)
      expect(await page.locator('#run-approval').textContent()).toContain('waiting for a second operator')
      expect(await page.locator('#run-status').textContent()).toBe('awaiting approval')
      await saveScreenshot(page, 'run-awaiting-approval')
      await page.getByLabel('Comment (optional)').fill('looked at the preflight')
      const approved = await submitForm(page, () => page.getByRole('button', { name: 'Approve the run' }).click())
      expect(approved.status(), await describePage(page)).toBe(303)
      await page.locator('#run-status', { hasText: 'completed' }).waitFor({ timeout: 60_000 })
      expect(await page.locator('#run-outcome').textContent()).toBe('succeeded')
      expect(unexpectedProblems(problems)).toEqual([])
    } finally {
      await context.close()
    }
  })
})
