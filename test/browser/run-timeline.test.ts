import { describe, expect, it } from 'vitest'
import { createConsoleOperator } from '../http/console/console-client.js'
import { CHROMIUM_PATH, hasMarker, markPage, unexpectedProblems } from '../support/browser.js'
import { waitUntil } from '../support/service.js'
import { everyConsoleCapability, paceTenantJobs, runbookKey, useBrowserSuite } from './browser-fixtures.js'

/** SPEC §12 in the browser: the run page's timeline reads as an auditor needs, and follows the run live. */
describe.runIf(CHROMIUM_PATH)('browser: the run timeline', () => {
  const suite = useBrowserSuite()

  it('shows a pause with its reason and actor, and appends new events without a reload', async () => {
    const { context, page, problems } = await suite.signedInPage(everyConsoleCapability)
    // The run's tenant jobs are held, so it is still running when it is paused.
    const pacing = paceTenantJobs(suite.service, 20)
    try {
      const pauser = await createConsoleOperator(suite.service, everyConsoleCapability)
      const token = await suite.service.token(pauser)
      const started = await suite.service.request('POST', `/api/runbooks/${runbookKey}/runs`, {
        token,
        json: { scope: 'all_tenants', confirmation: runbookKey, reason: { code: 'DATA_REPAIR', text: 'normalise legacy finding lifecycles' } },
      })
      expect(started.status, started.text).toBe(202)
      const runId = started.body.runId as string
      const status = async () => (await suite.service.request('GET', `/api/runs/${runId}`, { token })).body.status
      await waitUntil(async () => (await status()) === 'running', 'the run running')
      const paused = await suite.service.request('POST', `/api/runs/${runId}/pause`, { token, json: { reason: { code: 'INCIDENT', text: 'the importer writes bad lifecycles again' } } })
      expect(paused.status, paused.text).toBe(202)

      expect((await page.goto(`/system/ops/runs/${runId}`))?.status()).toBe(200)
      const entries = page.locator('#run-timeline-entries > li')
      const pauseEntry = entries.filter({ has: page.locator('.timeline-what', { hasText: /^paused the run$/ }) })
      expect(await pauseEntry.count()).toBe(1)
      expect(await pauseEntry.locator('.timeline-who').textContent()).toBe(`Console operator ${pauser.email} (${pauser.email})`)
      expect(await pauseEntry.locator('.timeline-why code').textContent()).toBe('INCIDENT')
      expect(await pauseEntry.locator('.timeline-why').textContent()).toContain('the importer writes bad lifecycles again')
      expect(await pauseEntry.locator('.timeline-when time').getAttribute('datetime')).toBe(paused.body.pause.at)
      // Its JSON is one click away.
      expect(await pauseEntry.locator('details pre').isVisible()).toBe(false)
      expect(await pauseEntry.locator('details summary').textContent()).toMatch(/^RunPaused, revision \d+ \(JSON\)$/)
      await pauseEntry.locator('details summary').click()
      expect(JSON.parse((await pauseEntry.locator('details pre').textContent())!)).toMatchObject({
        type: 'RunPaused',
        data: { reason: { reasonCode: 'INCIDENT' } },
        metadata: { initiator: { kind: 'operator', email: pauser.email } },
      })
      const shownAtLoad = await entries.count()

      await markPage(page)
      const resumed = await suite.service.request('POST', `/api/runs/${runId}/resume`, { token, json: {} })
      expect(resumed.status, resumed.text).toBe(202)
      const resumeEntry = entries.filter({ has: page.locator('.timeline-what', { hasText: /^resumed the run$/ }) })
      await resumeEntry.waitFor({ timeout: 15_000 })
      expect(await resumeEntry.locator('.timeline-who').textContent()).toContain(pauser.email)
      expect(await resumeEntry.locator('details summary').textContent()).toMatch(/^RunResumed, revision \d+ \(JSON\)$/)
      // The tenants' results and the completion follow, live, after what the page showed.
      pacing.release()
      await entries.filter({ has: page.locator('.timeline-what', { hasText: /^completed: / }) }).waitFor({ timeout: 60_000 })
      expect(await entries.count()).toBeGreaterThan(shownAtLoad + 1)
      const failed = entries.filter({ has: page.locator('.timeline-what', { hasText: /failed/ }) }).filter({ has: page.locator('.timeline-why code', { hasText: 'INVALID_DATA' }) })
      expect(await failed.count()).toBeGreaterThan(0)
      // Revisions follow one another: nothing shown twice, nothing skipped.
      const revisions = await entries.evaluateAll((items) => items.map((li) => [Number((li as HTMLElement).dataset.revision), Number((li as HTMLElement).dataset.lastRevision)]))
      revisions.forEach(([first, last], index) => {
        expect(first).toBe(index === 0 ? 0 : revisions[index - 1]![1]! + 1)
        expect(last).toBeGreaterThanOrEqual(first!)
      })
      const events = (await suite.service.request('GET', `/api/runs/${runId}/events`, { token })).body.items as unknown[]
      expect(revisions.at(-1)![1]).toBeGreaterThanOrEqual(events.length - 2) // RunVerified may come after the page stopped following
      expect(await hasMarker(page), 'the run page was reloaded').toBe(true)
      expect(unexpectedProblems(problems)).toEqual([])
    } finally {
      pacing.release()
      pacing.restore()
    }
  }, 120_000)
})
