import { beforeAll, describe, expect, it } from 'vitest'
import { createConsoleOperator } from '../http/console/console-client.js'
import { CHROMIUM_PATH, describePage, loginThroughForm, openConsolePage, saveScreenshot, unexpectedProblems } from '../support/browser.js'
import { runIsSettled, waitUntil } from '../support/service.js'
import { getRun } from '../../src/projections/queries.js'
import { runbookKey, useBrowserSuite } from './browser-fixtures.js'

/** Issue 12: the audit page in a browser — navigation, filters, and a chain broken by hand. */
describe.runIf(CHROMIUM_PATH)('browser: console audit page', () => {
  const suite = useBrowserSuite()
  let runId: string

  beforeAll(async () => {
    const started = await suite.service.request('POST', `/api/runbooks/${runbookKey}/runs`, {
      token: await suite.service.token(),
      json: { scope: 'all_tenants', confirmation: runbookKey, reason: { code: 'DATA_REPAIR', text: 'a run for the audit page' } },
    })
    expect(started.status, started.text).toBe(202)
    runId = started.body.runId
    await waitUntil(async () => runIsSettled((await getRun(suite.service.sql, runId)) ?? undefined), `run ${runId} settled`)
  })

  it('opens from the navigation, filters by action and by run, and shows the chain broken after a row is edited by hand', async () => {
    const operator = await createConsoleOperator(suite.service, ['platform.ops.view'])
    const { context, page, problems } = await openConsolePage(suite.browser, suite.service.baseUrl)
    try {
      await loginThroughForm(page, operator)
      await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Audit' }).click()
      await page.waitForURL('**/system/ops/audit')
      await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Audit log')
      expect(await page.locator('#audit-chain').textContent()).toMatch(/Chain verified: \d+ entries, head [0-9a-f]{12}…/)
      const rows = page.locator('#audit-entries tbody tr')
      expect(await rows.count()).toBeGreaterThan(1)
      const sequences = async () => (await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-sequence')))))
      const all = await sequences()
      expect(all).toEqual([...all].sort((a, b) => b - a))

      // Filter: the run's start entry only.
      await page.getByLabel('Action').selectOption('platform.ops.runbooks.start')
      await page.getByRole('button', { name: 'Filter' }).click()
      await page.waitForURL(/action=platform\.ops\.runbooks\.start/)
      expect(await rows.count(), await describePage(page)).toBe(1)
      expect(await rows.first().getByRole('cell').nth(2).textContent()).toBe('platform.ops.runbooks.start')
      await rows.first().getByRole('link', { name: runId }).click()
      await page.waitForURL(`**/system/ops/runs/${runId}`)
      await page.goBack()

      // Filter: every entry about the run, whatever the action.
      await page.getByLabel('Action').selectOption('')
      await page.getByLabel('Run').fill(runId)
      await page.getByRole('button', { name: 'Filter' }).click()
      await page.waitForURL(new RegExp(`runId=${runId}`))
      const aboutRun = await suite.service.sql<Array<{ n: number }>>`select count(*)::int as n from audit_log where operation_run_id = ${runId}`
      expect(await rows.count()).toBe(aboutRun[0]!.n)
      expect(await page.getByLabel('Run').inputValue()).toBe(runId)

      // Someone edits an audit row by hand: the page says the chain is broken, and where.
      const [target] = await suite.service.sql<Array<{ sequence: string }>>`select min(sequence)::text as sequence from audit_log where operation_run_id = ${runId}`
      await suite.service.sql`update audit_log set actor_email = 'mallory@evil.example' where sequence = ${target!.sequence}`
      await page.getByRole('link', { name: 'Clear filters' }).click()
      await page.waitForURL('**/system/ops/audit')
      const broken = page.getByRole('alert').filter({ hasText: 'Chain BROKEN' })
      expect(await broken.textContent()).toContain(`Chain BROKEN at entry #${target!.sequence}`)
      await saveScreenshot(page, 'audit-page-broken-chain')
      expect(unexpectedProblems(problems)).toEqual([])
    } finally {
      await context.close()
    }
  })
})
