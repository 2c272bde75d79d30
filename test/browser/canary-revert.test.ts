import { describe, expect, it } from 'vitest'
import { CHROMIUM_PATH, describePage, submitForm, unexpectedProblems } from '../support/browser.js'
import { everyConsoleCapability, runbookKey, useBrowserSuite } from './browser-fixtures.js'

const RUN_PATH = /^\/system\/ops\/runs\/([0-9A-Z]{26})$/

/**
 * SPEC §11 in the browser: a start with a canary of the 2 smallest tenants from the runbooks page, the run
 * page paused CANARY_COMPLETE with its Canary section, Resume, completed, then Revert with the typed
 * confirmation, landing on the revert run's page.
 */
describe.runIf(CHROMIUM_PATH)('browser: canary start → resume → revert', () => {
  const suite = useBrowserSuite()

  it('starts with a canary of 2, resumes it once the canary succeeded, and reverts the completed run', async () => {
    const { context, page, problems } = await suite.signedInPage(everyConsoleCapability)
    try {
      expect((await page.goto('/system/ops/runbooks'))?.status()).toBe(200)
      const form = page.locator('form.runbook').first()
      await form.getByLabel('All tenants').check()
      expect(await form.getByLabel('Number of smallest tenants (fewest findings)').isHidden()).toBe(true)
      await form.getByLabel('The N smallest tenants').check()
      await form.getByLabel('Number of smallest tenants (fewest findings)').fill('2')
      await form.getByLabel(/Confirmation/).fill(runbookKey)
      await form.getByLabel('Reason code').selectOption('DATA_REPAIR')
      await form.getByLabel('Reason', { exact: true }).fill('normalise legacy finding lifecycles, two tenants first')
      const started = await submitForm(page, () => form.getByRole('button', { name: 'Start run' }).click())
      expect(started.status(), await describePage(page)).toBe(303)
      const runId = RUN_PATH.exec(new URL(page.url()).pathname)?.[1]
      expect(runId, await describePage(page)).toBeDefined()

      // Paused by the service once the canary succeeded (live, or already at load).
      await page.locator('#run-canary-complete').waitFor({ state: 'visible', timeout: 30_000 })
      expect(await page.locator('#run-canary-complete').textContent()).toContain('look at their results below, then Resume to repair the rest')
      expect(await page.locator('#run-status').textContent()).toBe('paused')
      expect(await page.locator('#run-pause code').textContent()).toBe('CANARY_COMPLETE')
      expect(await page.locator('#run-canary-state').textContent()).toBe('passed')
      expect(await page.locator('#run-canary-tenants li').count()).toBe(2)

      const resume = page.locator('[data-control=resume]')
      await resume.locator('summary').click()
      const resumed = await submitForm(page, () => resume.getByRole('button', { name: 'Resume run' }).click())
      expect(resumed.status(), await describePage(page)).toBe(303)
      await page.locator('#run-status', { hasText: 'completed' }).waitFor({ timeout: 60_000 })
      expect(await page.locator('#run-canary-complete').isHidden()).toBe(true)
      await page.locator('#run-revert-available').waitFor({ state: 'visible' })

      await page.reload()
      const revert = page.locator('[data-revert]')
      await revert.locator('summary').click()
      await revert.getByLabel(/^Confirmation/).fill(`revert ${runId}`)
      await revert.getByLabel('Reason code').selectOption('INCIDENT')
      await revert.getByLabel('Reason', { exact: true }).fill('the repair broke the importer downstream')
      const reverted = await submitForm(page, () => revert.getByRole('button', { name: 'Revert run' }).click())
      expect(reverted.status(), await describePage(page)).toBe(303)
      const revertRunId = RUN_PATH.exec(new URL(page.url()).pathname)?.[1]
      expect(revertRunId).toBeDefined()
      expect(revertRunId).not.toBe(runId)
      expect((await page.locator('#run-revert-of').textContent())?.replace(/\s+/g, ' ').trim()).toBe(`Revert of run ${runId}`)
      expect(await page.locator('#run-revert-of a').getAttribute('href')).toBe(`/system/ops/runs/${runId}`)
      expect(unexpectedProblems(problems)).toEqual([])
    } finally {
      await context.close()
    }
  })
})
