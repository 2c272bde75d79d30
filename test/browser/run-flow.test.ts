import { describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { CHROMIUM_PATH, describePage, hasMarker, markPage, submitForm, unexpectedProblems } from '../support/browser.js'
import { everyConsoleCapability, paceTenantJobs, runbookKey, useBrowserSuite } from './browser-fixtures.js'

interface ProgressRecord {
  /** `[data-progress=done]` as it was at DOMContentLoaded and after every change. */
  done: string[]
  /** The progress bar's value attribute, likewise. */
  bar: string[]
}

describe.runIf(CHROMIUM_PATH)('browser: start → live progress → completed, without a reload', () => {
  const suite = useBrowserSuite()

  it('starts an all-tenants run with confirmation and reason, follows it live over SSE and shows the failed demo tenant', async () => {
    const { context, page, problems } = await suite.signedInPage(everyConsoleCapability)
    // The demo's small tenants go ten to a job (three jobs): paced further apart than the live stream's 500 ms
    // polls, so the page sees the run part done.
    const pacing = paceTenantJobs(suite.service, 700)
    try {
      // Records what the run page's script writes, from the moment the page exists (before any event).
      await page.addInitScript(() => {
        document.addEventListener('DOMContentLoaded', () => {
          const done = document.querySelector('[data-progress=done]')
          const bar = document.getElementById('run-progress')
          if (!done || !bar) return
          const record: ProgressRecord = { done: [done.textContent ?? ''], bar: [bar.getAttribute('value') ?? ''] }
          ;(window as unknown as { __progress: ProgressRecord }).__progress = record
          new MutationObserver(() => record.done.push(done.textContent ?? '')).observe(done, { childList: true, characterData: true, subtree: true })
          new MutationObserver(() => record.bar.push(bar.getAttribute('value') ?? '')).observe(bar, { attributes: true, attributeFilter: ['value'] })
        })
      })

      expect((await page.goto('/system/ops/runbooks'))?.status()).toBe(200)
      const form = page.locator('form.runbook').first()
      await form.getByLabel('All tenants').check()
      await form.getByLabel(/Confirmation/).fill(runbookKey)
      await form.getByLabel('Reason code').selectOption('DATA_REPAIR')
      await form.getByLabel('Reason', { exact: true }).fill('normalise legacy finding lifecycles before the audit')
      const started = await submitForm(page, () => form.getByRole('button', { name: 'Start run' }).click())
      expect(started.status(), await describePage(page)).toBe(303)
      const runId = /^\/system\/ops\/runs\/([0-9A-Z]{26})$/.exec(new URL(page.url()).pathname)?.[1]
      expect(runId, await describePage(page)).toBeDefined()

      await markPage(page)
      let navigations = 0
      page.on('framenavigated', (frame) => {
        if (frame === page.mainFrame()) navigations++
      })
      // The page came up live: the progress bar is shown, out of the 24 tenants of the demo universe.
      expect(await page.locator('#run').getAttribute('data-live')).toBe('true')
      expect(await page.locator('#run-progress').isVisible()).toBe(true)
      expect(await page.locator('#run-progress').getAttribute('max')).toBe('24')
      expect(await page.locator('#run-status').textContent()).not.toBe('completed')
      pacing.release()

      await page.locator('#run-status', { hasText: 'completed' }).waitFor({ timeout: 60_000 })
      expect(await hasMarker(page), 'the run page was reloaded').toBe(true)
      expect(navigations).toBe(0)

      const record = await page.evaluate(() => (window as unknown as { __progress: ProgressRecord }).__progress)
      const done = record.done.map(Number)
      const bar = record.bar.map(Number)
      // It advanced: from fewer than all tenants at load to all 24, never backwards, the bar along with the text.
      expect(done[0]).toBeLessThan(24)
      expect(done.at(-1)).toBe(24)
      expect(done).toEqual([...done].sort((a, b) => a - b))
      expect(bar.at(-1)).toBe(24)
      expect(done.some((value) => value > 0 && value < 24), `progress seen: ${done.join(', ')}`).toBe(true)
      expect(bar.some((value) => value > 0 && value < 24), `bar values seen: ${bar.join(', ')}`).toBe(true)
      console.info(`run ${runId}: progress seen live ${[...new Set(done)].join(' → ')}`)

      expect(await page.locator('#run-outcome').textContent()).toBe('partially succeeded')
      expect(await page.locator('#run-progress-section').isHidden()).toBe(true)
      expect(await page.locator('[data-count=tenants]').textContent()).toBe('24')
      expect(await page.locator('[data-count=failed]').textContent()).toBe('1')
      expect(await page.locator("#run-completed-at time").count()).toBe(1)
      expect(await page.locator("#run-started-at time").count(), "the start time filled in live").toBe(1)
      const failures = page.locator('#run-failure-rows tr')
      expect(await failures.count()).toBe(1)
      const cells = await failures.first().locator('td').allTextContents()
      expect(cells[0]).toContain(DEMO_INVALID_TENANT_NAME)
      expect(cells[1]).toBe('INVALID_DATA')
      expect(cells[2]).toMatch(/finding \d+/)
      expect(await page.locator('#run-failures').isVisible()).toBe(true)

      // The run page agrees with the API.
      const api = await suite.service.request('GET', `/api/runs/${runId}`, { token: await suite.service.token() })
      expect(api.body.outcome).toBe('partially_succeeded')
      expect(await page.locator('[data-count=updated]').textContent()).toBe(String(api.body.summaryCounts.updated))

      const contextSection = page.locator('details', { has: page.locator('summary', { hasText: 'Context' }) })
      expect(await contextSection.locator('pre').isVisible()).toBe(false)
      await contextSection.locator('summary').click()
      expect(await contextSection.getAttribute('open')).not.toBeNull()
      expect(await contextSection.locator('pre').isVisible()).toBe(true)
      const contextJson = JSON.parse((await contextSection.locator('pre').textContent()) ?? '{}')
      expect(contextJson.scope).toBe('all_tenants')
      expect(contextJson.source).toBe('system_ui')
      expect(contextJson.reason.reason_code).toBe('DATA_REPAIR')

      // SPEC §12: the timeline reads in words; each event's JSON is one click away.
      const firstEntry = page.locator('#run-timeline-entries > li').first()
      expect(await firstEntry.locator('.timeline-what').textContent()).toMatch(/^requested the run over /)
      expect(await firstEntry.locator('details pre').isVisible()).toBe(false)
      await firstEntry.locator('details summary').click()
      expect(await firstEntry.locator('details pre').isVisible()).toBe(true)
      expect(JSON.parse((await firstEntry.locator('details pre').textContent())!)).toMatchObject({ type: 'RunRequested', revision: 0 })

      expect(await hasMarker(page), 'the run page was reloaded').toBe(true)
      expect(unexpectedProblems(problems)).toEqual([])
    } finally {
      pacing.release()
      pacing.restore()
      await context.close()
    }
  })
})
