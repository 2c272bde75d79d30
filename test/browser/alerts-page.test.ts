import { describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { CHROMIUM_PATH, describePage, saveScreenshot, unexpectedProblems } from '../support/browser.js'
import { waitUntil } from '../support/service.js'
import { runbookKey, useBrowserSuite } from './browser-fixtures.js'

/**
 * SPEC §5/§12 in a real browser, as a new user of the demo meets it: a run with a failed tenant raises
 * `operations.run.failed`, the console's own destination receives it as a signed POST (delivered), and
 * the Alerts page shows the alert, its delivery and what the inbox received, with a link to the run.
 */
describe.runIf(CHROMIUM_PATH)('browser: the Alerts page after a run with a failed tenant', () => {
  const suite = useBrowserSuite()

  it("shows the demo run's alert, delivered to the console's inbox, with its run link", async () => {
    const token = await suite.service.token()
    const tenants = (await suite.service.request('GET', '/api/tenants?limit=1000', { token })).body.items as Array<{ id: number; name: string }>
    const invalid = tenants.find((tenant) => tenant.name === DEMO_INVALID_TENANT_NAME)!
    const started = await suite.service.request('POST', `/api/runbooks/${runbookKey}/runs`, {
      token,
      json: { scope: 'single_tenant', tenantId: invalid.id, confirmation: runbookKey },
    })
    expect(started.status, started.text).toBe(202)
    const runId = started.body.runId as string
    await waitUntil(async () => {
      const deliveries = await suite.service.request('GET', `/api/alert-deliveries?runId=${runId}`, { token })
      return deliveries.body.items.some((d: any) => d.destination.kind === 'console' && d.status === 'delivered')
    }, "the alert delivered to the console's inbox")

    const { context, page, problems } = await suite.signedInPage(['platform.ops.view'])
    try {
      expect((await page.goto('/system/ops/runs'))?.status()).toBe(200)
      await page.getByRole('link', { name: 'Alerts' }).click()
      await page.waitForURL('**/system/ops/alerts')
      const row = page.locator(`tr[data-run="${runId}"]`)
      expect(await row.count(), await describePage(page)).toBe(1)
      const text = (await row.textContent())!.replace(/\s+/g, ' ')
      expect(text).toContain('operations.run.failed')
      expect(text).toContain('console inbox')
      expect(text).toContain('1 attempt')
      expect(await row.locator('[data-destination-kind="console"] [data-delivery-status]').textContent()).toBe('delivered')
      const received = page.locator('#alerts-received li').filter({ hasText: runId })
      expect(await received.count()).toBe(1)
      expect(await received.textContent()).toContain('operations.run.failed')
      // The managing forms are not the viewer's.
      expect(await page.locator('#add-alert-destination').count()).toBe(0)
      await saveScreenshot(page, 'alerts-page')
      await row.getByRole('link', { name: runId }).click()
      await page.waitForURL(`**/system/ops/runs/${runId}`)
      expect(unexpectedProblems(problems)).toEqual([])
    } finally {
      await context.close()
    }
  })
})
