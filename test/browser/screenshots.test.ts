import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createConsoleOperator } from '../http/console/console-client.js'
import {
  CHROMIUM_PATH,
  describePage,
  desktopViewport,
  openConsolePage,
  phoneViewport,
  saveScreenshot,
  signInWithSessionCookie,
  submitForm,
  unexpectedProblems,
  type ConsoleBrowserPage,
} from '../support/browser.js'
import { waitUntil } from '../support/service.js'
import { everyConsoleCapability, paceTenantJobs, runbookKey, useBrowserSuite, type PacedTenantJobs } from './browser-fixtures.js'

interface Look {
  viewport: { width: number; height: number }
  colorScheme: 'light' | 'dark'
}

const looks: Look[] = [desktopViewport, phoneViewport].flatMap((viewport) =>
  (['light', 'dark'] as const).map((colorScheme) => ({ viewport, colorScheme })),
)

/**
 * Every page in every look (1280×800 and 390×844, light and dark), written to test-artifacts/screenshots/:
 * no horizontal scrollbar at 390 px, and dark mode really changes the background. A page is opened once and
 * re-laid out in each look (no reload, so the 429 page needs no fresh attempts).
 */
describe.runIf(CHROMIUM_PATH)('browser: screenshots of every console page, light and dark, desktop and phone', () => {
  const suite = useBrowserSuite()
  let operator: { email: string; password: string }
  let completedRunId: string
  let liveRunId: string
  let controlRunId: string
  let pacing: PacedTenantJobs | null = null

  beforeAll(async () => {
    operator = await createConsoleOperator(suite.service, [...everyConsoleCapability, 'platform.ops.halt'])
    const token = await suite.service.token()
    const start = async (json: object) => {
      const response = await suite.service.request('POST', `/api/runbooks/${runbookKey}/runs`, { token, json: { confirmation: runbookKey, ...json } })
      if (response.status !== 202) throw new Error(`start answered ${response.status}: ${response.text}`)
      return response.body.runId as string
    }
    const runStatus = async (id: string) => (await suite.service.request('GET', `/api/runs/${id}`, { token })).body.status
    completedRunId = await start({ scope: 'all_tenants', reason: { code: 'DATA_REPAIR', text: 'normalise legacy finding lifecycles' } })
    await waitUntil(async () => (await runStatus(completedRunId)) === 'completed', `run ${completedRunId} completed`)
    // A run held at 0 of 1 while the screenshots are taken, to show the progress bar and its ETA.
    pacing = paceTenantJobs(suite.service, 0)
    liveRunId = await start({ scope: 'single_tenant', tenantId: 3 })
    await waitUntil(async () => (await runStatus(liveRunId)) === 'running', `run ${liveRunId} running`)
    // Another held run, to be paused from its page for the run-control screenshots.
    controlRunId = await start({ scope: 'all_tenants', reason: { code: 'DATA_REPAIR', text: 'normalise legacy finding lifecycles' } })
    await waitUntil(async () => (await runStatus(controlRunId)) === 'running', `run ${controlRunId} running`)
  })

  afterAll(async () => {
    pacing?.release()
    pacing?.restore()
  })

  async function everyLook(name: string, console: ConsoleBrowserPage, expectedStatuses: number[] = []) {
    const { page, problems } = console
    const backgrounds = new Map<string, string>()
    for (const look of looks) {
      await page.setViewportSize(look.viewport)
      await page.emulateMedia({ colorScheme: look.colorScheme })
      const file = await saveScreenshot(page, `${name}-${look.viewport.width}-${look.colorScheme}`)
      const layout = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        background: getComputedStyle(document.body).backgroundColor,
        // The elements that stick out to the right, to say where a too-wide layout comes from.
        overflowing: Array.from(document.querySelectorAll('body *'))
          .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 0.5)
          .filter((element) => !element.closest('.table-wrap, pre'))
          .slice(0, 5)
          .map((element) => `${element.tagName.toLowerCase()}${element.id ? `#${element.id}` : ''}${element.className ? `.${String(element.className).replace(/ /g, '.')}` : ''} → ${Math.round(element.getBoundingClientRect().right)}px`),
      }))
      if (look.viewport.width === phoneViewport.width) {
        expect(layout.scrollWidth, `${file}: horizontal scrollbar at 390 px; too wide: ${layout.overflowing.join(', ')}`).toBeLessThanOrEqual(layout.innerWidth)
      }
      backgrounds.set(`${look.viewport.width}-${look.colorScheme}`, layout.background)
    }
    for (const width of [desktopViewport.width, phoneViewport.width]) {
      expect(backgrounds.get(`${width}-dark`), `${name}: dark mode does not change the background`).not.toBe(backgrounds.get(`${width}-light`))
    }
    expect(unexpectedProblems(problems, expectedStatuses)).toEqual([])
  }

  async function signedInPage(): Promise<ConsoleBrowserPage> {
    const console = await openConsolePage(suite.browser, suite.service.baseUrl)
    await signInWithSessionCookie(console.context, suite.service, operator)
    return console
  }

  async function opened(console: ConsoleBrowserPage, path: string, expectedStatus = 200): Promise<Page> {
    const response = await console.page.goto(path)
    expect(response?.status(), await describePage(console.page)).toBe(expectedStatus)
    return console.page
  }

  it('login page', async () => {
    const console = await openConsolePage(suite.browser, suite.service.baseUrl)
    try {
      await opened(console, '/system/login')
      await everyLook('login', console)
    } finally {
      await console.context.close()
    }
  })

  it('runbooks page (single tenant chosen, preflight shown)', async () => {
    const console = await signedInPage()
    try {
      const page = await opened(console, '/system/ops/runbooks')
      const form = page.locator('form.runbook').first()
      await form.getByLabel('Single tenant').click()
      await page.keyboard.type('Acme Logistics (#2)')
      await form.getByRole('button', { name: 'Preflight' }).click()
      await form.locator('[data-preflight-result] dl').waitFor({ timeout: 10_000 })
      await everyLook('runbooks', console)
    } finally {
      await console.context.close()
    }
  })

  it('runbooks page with refused fields', async () => {
    const console = await signedInPage()
    try {
      const page = await opened(console, '/system/ops/runbooks')
      await page.locator('form.runbook').first().getByLabel(/Confirmation/).fill('wrong')
      const response = await submitForm(page, () => page.getByRole('button', { name: 'Start run' }).click())
      expect(response.status(), await describePage(page)).toBe(422)
      await everyLook('runbooks-invalid', console, [422])
    } finally {
      await console.context.close()
    }
  })

  it('runs list', async () => {
    const console = await signedInPage()
    try {
      const page = await opened(console, '/system/ops/runs')
      expect(await page.locator('tbody tr').count()).toBeGreaterThanOrEqual(2)
      await everyLook('runs', console)
    } finally {
      await console.context.close()
    }
  })

  it('audit log', async () => {
    const console = await signedInPage()
    try {
      const page = await opened(console, '/system/ops/audit')
      expect(await page.locator('#audit-entries tbody tr').count()).toBeGreaterThanOrEqual(2)
      expect(await page.locator('#audit-chain').textContent()).toContain('Chain verified')
      await everyLook('audit', console)
    } finally {
      await console.context.close()
    }
  })

  it('run detail, completed, with its failure and both sections open', async () => {
    const console = await signedInPage()
    try {
      const page = await opened(console, `/system/ops/runs/${completedRunId}`)
      for (const summary of await page.locator('details > summary').all()) await summary.click()
      expect(await page.locator('#run-failure-rows tr').count()).toBe(1)
      await everyLook('run-detail', console)
    } finally {
      await console.context.close()
    }
  })

  it('run detail, live', async () => {
    const console = await signedInPage()
    try {
      const page = await opened(console, `/system/ops/runs/${liveRunId}`)
      expect(await page.locator('#run-progress').isVisible()).toBe(true)
      await everyLook('run-live', console)
    } finally {
      await console.context.close()
    }
  })

  it('run detail, paused from its page, with its controls and the limits form open', async () => {
    const console = await signedInPage()
    try {
      const page = await opened(console, `/system/ops/runs/${controlRunId}`)
      await everyLook('run-controls-running', console)
      const pause = page.locator('[data-control=pause]')
      await pause.locator('summary').click()
      await pause.getByLabel('Reason code').selectOption('INCIDENT')
      await pause.getByLabel('Reason', { exact: true }).fill('importer is writing bad lifecycles again')
      const response = await submitForm(page, () => pause.getByRole('button', { name: 'Pause run' }).click())
      expect(response.status(), await describePage(page)).toBe(303)
      expect(await page.locator('#run-status').textContent()).toBe('paused')
      await page.locator('[data-control=limits] summary').click()
      await everyLook('run-controls-paused', console)
    } finally {
      await console.context.close()
    }
  })

  it('run detail, a refused cancel (422) explained in place', async () => {
    const console = await signedInPage()
    try {
      const page = await opened(console, `/system/ops/runs/${controlRunId}`)
      const cancel = page.locator('[data-control=cancel]')
      await cancel.locator('summary').click()
      await cancel.getByLabel(/Confirmation/).fill('yes')
      const response = await submitForm(page, () => cancel.getByRole('button', { name: 'Cancel run' }).click())
      expect(response.status(), await describePage(page)).toBe(422)
      expect(await page.locator('#cancel-confirmation-error').textContent()).toContain('cancel')
      await everyLook('run-controls-invalid', console, [422])
    } finally {
      await console.context.close()
    }
  })

  it('429 page', async () => {
    const console = await openConsolePage(suite.browser, suite.service.baseUrl)
    const victim = await createConsoleOperator(suite.service, ['platform.ops.view'])
    try {
      const page = await opened(console, '/system/login')
      let status = 0
      for (let attempt = 1; attempt <= 11 && (attempt === 1 || status === 401); attempt++) {
        await page.getByLabel('Email').fill(victim.email)
        await page.getByLabel('Password').fill('wrong password')
        status = (await submitForm(page, () => page.getByRole('button', { name: 'Log in' }).click())).status()
      }
      expect(status, await describePage(page)).toBe(429)
      await everyLook('rate-limited', console, [401, 429])
    } finally {
      await console.context.close()
    }
  })

  // Last: the halt shows on every page until lifted.
  it('halt page and the banner while halted', async () => {
    const console = await signedInPage()
    try {
      const page = await opened(console, '/system/ops/halt')
      await everyLook('halt', console)
      await page.getByLabel('Reason code').selectOption('SECURITY')
      await page.getByLabel('Reason', { exact: true }).fill('credential leak under investigation')
      const response = await submitForm(page, () => page.getByRole('button', { name: 'Halt the deployment' }).click())
      expect(response.status(), await describePage(page)).toBe(303)
      expect(await page.locator('#halt-banner').isVisible()).toBe(true)
      await everyLook('halt-halted', console)
      await opened(console, `/system/ops/runs/${controlRunId}`)
      expect(await page.locator('#halt-banner').isVisible()).toBe(true)
      await everyLook('run-halted', console)
    } finally {
      await console.context.close()
    }
  })
})
