import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { CHROMIUM_PATH, describePage, hasMarker, markPage, submitForm, unexpectedProblems } from '../support/browser.js'
import { getRun } from '../../src/projections/queries.js'
import { runIsSettled, waitUntil } from '../support/service.js'
import { everyConsoleCapability, paceTenantJobs, runbookKey, useBrowserSuite } from './browser-fixtures.js'

/**
 * SPEC §9 in the browser: the run page's controls and the halt, clicked and typed as an operator would,
 * with the page following the run live in between.
 */
describe.runIf(CHROMIUM_PATH)('browser: run control from the run page, and the halt', () => {
  const suite = useBrowserSuite()

  async function startRun(json: object): Promise<string> {
    const response = await suite.service.request('POST', `/api/runbooks/${runbookKey}/runs`, {
      token: await suite.service.token(),
      json: { confirmation: runbookKey, ...json },
    })
    if (response.status !== 202) throw new Error(`start answered ${response.status}: ${response.text}`)
    return response.body.runId as string
  }

  const runStatus = async (id: string) => (await suite.service.request('GET', `/api/runs/${id}`, { token: await suite.service.token() })).body.status

  /** Opens a control's disclosure on the run page and fills its reason. */
  async function fillControl(page: Page, action: string, reason: { code: string; text: string } | null) {
    const control = page.locator(`[data-control=${action}]`)
    await control.locator('summary').click()
    if (reason) {
      await control.getByLabel(/^Reason code/).selectOption(reason.code)
      await control.getByLabel(/^Reason( \(optional\))?$/).fill(reason.text)
    }
    return control
  }

  it('pauses a running run from its page, shows it paused (not completed) while it stays paused, resumes it and sees it complete live', async () => {
    const { operator, context, page, problems } = await suite.signedInPage(everyConsoleCapability)
    // Its tenant jobs are held until released, so the run is still running when the operator pauses it.
    const pacing = paceTenantJobs(suite.service, 60)
    try {
      const runId = await startRun({ scope: 'all_tenants', reason: { code: 'DATA_REPAIR', text: 'normalise legacy finding lifecycles' } })
      await waitUntil(async () => (await runStatus(runId)) === 'running', `run ${runId} running`)
      expect((await page.goto(`/system/ops/runs/${runId}`))?.status()).toBe(200)
      expect(await page.locator('#run-status').textContent()).toBe('running')
      expect(await page.locator('[data-control=resume]').isHidden()).toBe(true)

      const pauseControl = await fillControl(page, 'pause', { code: 'INCIDENT', text: 'importer is writing bad lifecycles again' })
      const paused = await submitForm(page, () => pauseControl.getByRole('button', { name: 'Pause run' }).click())
      expect(paused.status(), await describePage(page)).toBe(303)
      expect(new URL(page.url()).pathname).toBe(`/system/ops/runs/${runId}`)
      expect(await page.locator('#run-status').textContent()).toBe('paused')
      const notice = page.locator('#run-pause')
      expect(await notice.isVisible()).toBe(true)
      expect(await notice.textContent()).toContain('importer is writing bad lifecycles again')
      expect(await notice.textContent()).toContain(operator.email)
      expect(await notice.locator('code').textContent()).toBe('INCIDENT')
      expect(await page.locator('[data-progress=eta]').textContent()).toContain('paused')
      expect(await page.locator('[data-control=pause]').isHidden()).toBe(true)
      expect(await page.locator('[data-control=resume]').isVisible()).toBe(true)

      // Jobs flow again, but the run is paused: nothing is repaired, and the live page keeps saying paused.
      await markPage(page)
      pacing.release()
      await new Promise((resolve) => setTimeout(resolve, 2_000))
      expect(await hasMarker(page)).toBe(true)
      expect(await page.locator('#run-status').textContent()).toBe('paused')
      expect(await page.locator('#run-outcome').textContent()).toBe('pending')
      expect(await page.locator('#run-progress-section').isVisible()).toBe(true)
      expect(await page.locator('#run-live-stopped').isHidden()).toBe(true)
      expect(await runStatus(runId)).toBe('paused')

      const resumeControl = await fillControl(page, 'resume', null)
      const resumed = await submitForm(page, () => resumeControl.getByRole('button', { name: 'Resume run' }).click())
      expect(resumed.status(), await describePage(page)).toBe(303)
      expect(await page.locator('#run-pause').isHidden()).toBe(true)
      await markPage(page)
      await page.locator('#run-status', { hasText: 'completed' }).waitFor({ timeout: 60_000 })
      expect(await hasMarker(page), 'the page was reloaded').toBe(true)
      expect(await page.locator('#run-outcome').textContent()).toBe('partially succeeded')
      expect(await page.locator('[data-progress=done]').textContent()).toBe('24')
      expect(await page.locator('[data-tenant-count=succeeded]').textContent()).toBe('23')
      expect(await page.locator('[data-tenant-count=pending]').textContent()).toBe('0')
      // Completed with a failed tenant: only the retry is offered now.
      for (const action of ['pause', 'resume', 'cancel', 'limits']) expect(await page.locator(`[data-control=${action}]`).isHidden(), action).toBe(true)
      expect(await page.locator('[data-control=retry]').isVisible()).toBe(true)
      // SPEC §11: the verification the service records a moment later replaces the page's note, still live.
      await page.locator('#run-verified').waitFor({ timeout: 20_000 })
      expect(await hasMarker(page), 'the page was reloaded').toBe(true)
      expect(await page.locator('#run-verified').textContent()).toContain('Verified: 0 remaining')
      expect(await page.locator('#run-verification-pending').count()).toBe(0)
      expect(unexpectedProblems(problems)).toEqual([])
    } finally {
      pacing.release()
      pacing.restore()
      await context.close()
    }
  })

  it('a page opened after its run completed, before the verification was recorded, shows the verification once it is (SPEC §11)', async () => {
    const { context, page, problems } = await suite.signedInPage(everyConsoleCapability)
    const sql = suite.service.sql
    try {
      const runId = await startRun({ scope: 'single_tenant', tenantId: 3 })
      await waitUntil(async () => runIsSettled((await getRun(sql, runId)) ?? undefined), `run ${runId} verified`)
      // The read model as it stands between the completion and the verification.
      await sql`update operation_run_controls set verification = null where run_id = ${runId}`
      expect((await page.goto(`/system/ops/runs/${runId}`))?.status()).toBe(200)
      expect(await page.locator('#run-status').textContent()).toBe('completed')
      expect(await page.locator('#run-not-verified').textContent()).toContain('Not verified yet')
      await markPage(page)
      const verifiedAt = '2026-01-02T03:04:05.000Z'
      await sql`update operation_run_controls set verification = ${JSON.stringify({ remaining: 0, tenantsWithRemaining: [], verifiedAt })}::text::jsonb
                where run_id = ${runId}`
      await page.locator('#run-verified').waitFor({ timeout: 20_000 })
      expect(await hasMarker(page), 'the page was reloaded').toBe(true)
      expect(await page.locator('#run-verified').textContent()).toContain('Verified: 0 remaining')
      expect(await page.locator('#run-not-verified').count()).toBe(0)
      expect(await page.locator('#run-verified time').getAttribute('datetime')).toBe(verifiedAt)
      expect(unexpectedProblems(problems)).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('halts from the halt page: the banner is on every page and the active run is paused HALTED; lifting removes the banner', async () => {
    const { operator, context, page, problems } = await suite.signedInPage([...everyConsoleCapability, 'platform.ops.halt'])
    const pacing = paceTenantJobs(suite.service, 0)
    try {
      const runId = await startRun({ scope: 'single_tenant', tenantId: 3 })
      await waitUntil(async () => (await runStatus(runId)) === 'running', `run ${runId} running`)

      await page.goto('/system/ops/runs')
      expect(await page.locator('#halt-banner').count()).toBe(0)
      await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Halt' }).click()
      await page.waitForURL('**/system/ops/halt')
      await page.getByLabel('Reason code').selectOption('SECURITY')
      await page.getByLabel('Reason', { exact: true }).fill('credential leak under investigation')
      const halted = await submitForm(page, () => page.getByRole('button', { name: 'Halt the deployment' }).click())
      expect(halted.status(), await describePage(page)).toBe(303)

      for (const path of ['/system/ops/halt', '/system/ops/runbooks', '/system/ops/runs', `/system/ops/runs/${runId}`]) {
        if (new URL(page.url()).pathname !== path) await page.goto(path)
        const banner = page.locator('#halt-banner')
        expect(await banner.isVisible(), path).toBe(true)
        expect(await banner.textContent(), path).toContain('The deployment is halted.')
        expect(await banner.textContent(), path).toContain('credential leak under investigation')
        expect(await banner.textContent(), path).toContain(operator.email)
      }
      // On the run's page: paused by the halt, and a resume is refused while halted.
      expect(await page.locator('#run-status').textContent()).toBe('paused')
      expect(await page.locator('#run-pause code').textContent()).toBe('HALTED')
      const resumeControl = await fillControl(page, 'resume', null)
      const refused = await submitForm(page, () => resumeControl.getByRole('button', { name: 'Resume run' }).click())
      expect(refused.status()).toBe(423)
      expect(await page.getByRole('alert').filter({ hasText: 'you cannot resume a run' }).isVisible()).toBe(true)

      await page.locator('#halt-banner').getByRole('link', { name: 'Lift the halt' }).click()
      await page.waitForURL('**/system/ops/halt')
      await page.getByLabel('Reason code').selectOption('SECURITY')
      await page.getByLabel('Reason', { exact: true }).fill('leak contained, credentials rotated')
      const lifted = await submitForm(page, () => page.getByRole('button', { name: 'Lift the halt' }).click())
      expect(lifted.status(), await describePage(page)).toBe(303)
      expect(await page.locator('#halt-banner').count()).toBe(0)
      await page.goto(`/system/ops/runs/${runId}`)
      expect(await page.locator('#halt-banner').count()).toBe(0)
      expect(await page.locator('#run-status').textContent(), 'lifting resumes nothing').toBe('paused')
      expect(unexpectedProblems(problems, [423])).toEqual([])
    } finally {
      pacing.release()
      pacing.restore()
      await context.close()
    }
  })
})
