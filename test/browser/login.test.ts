import { describe, expect, it } from 'vitest'
import { CHROMIUM_PATH, describePage, loginThroughForm, openConsolePage, submitForm, unexpectedProblems } from '../support/browser.js'
import { everyConsoleCapability, useBrowserSuite } from './browser-fixtures.js'
import { createConsoleOperator } from '../http/console/console-client.js'

describe.runIf(CHROMIUM_PATH)('browser: console login', () => {
  const suite = useBrowserSuite()

  it('logs in and lands on the runbooks page', async () => {
    const operator = await createConsoleOperator(suite.service, everyConsoleCapability)
    const { context, page, problems } = await openConsolePage(suite.browser, suite.service.baseUrl)
    try {
      await loginThroughForm(page, operator)
      expect(new URL(page.url()).pathname).toBe('/system/ops/runbooks')
      await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Runbooks')
      expect(await page.getByText(`Signed in as`).textContent()).toContain(operator.email)
      expect(unexpectedProblems(problems)).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('shows a wrong password as an error in the form, keeping the typed email', async () => {
    const operator = await createConsoleOperator(suite.service, everyConsoleCapability)
    const { context, page, problems } = await openConsolePage(suite.browser, suite.service.baseUrl)
    try {
      await page.goto('/system/login')
      await page.getByLabel('Email').fill(operator.email)
      await page.getByLabel('Password').fill('not the password')
      const response = await submitForm(page, () => page.getByRole('button', { name: 'Log in' }).click())
      expect(response.status(), await describePage(page)).toBe(401)
      expect(new URL(page.url()).pathname).toBe('/system/login')
      const alert = page.locator('form').locator('xpath=..').getByRole('alert')
      expect(await alert.textContent()).toContain('Unknown email or wrong password.')
      expect(await page.getByLabel('Email').inputValue()).toBe(operator.email)
      expect(await page.getByLabel('Password').inputValue()).toBe('')
      expect(unexpectedProblems(problems, [401])).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('answers the 11th quick attempt with the 429 page that says when to retry', async () => {
    const operator = await createConsoleOperator(suite.service, everyConsoleCapability)
    const { context, page, problems } = await openConsolePage(suite.browser, suite.service.baseUrl)
    try {
      await page.goto('/system/login')
      const statuses: number[] = []
      let lastRetryAfter: string | null = null
      for (let attempt = 1; attempt <= 11; attempt++) {
        await page.getByLabel('Email').fill(operator.email)
        await page.getByLabel('Password').fill(`wrong password ${attempt}`)
        const response = await submitForm(page, () => page.getByRole('button', { name: 'Log in' }).click())
        statuses.push(response.status())
        lastRetryAfter = await response.headerValue('retry-after')
        // Anything but the login form again (or the 429 page) ends the attempts: say what came instead.
        if (response.status() !== 401) break
      }
      expect(statuses, await describePage(page)).toEqual([...Array<number>(10).fill(401), 429])
      await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Too many login attempts')
      const message = (await page.getByRole('alert').textContent()) ?? ''
      const seconds = /Try again in (\d+) seconds \(at (\d\d:\d\d:\d\d) UTC\)/.exec(message)
      expect(seconds, message).not.toBeNull()
      expect(Number(seconds![1])).toBeGreaterThan(0)
      expect(Number(seconds![1])).toBeLessThanOrEqual(60)
      expect(lastRetryAfter).toBe(seconds![1])
      const retryAt = Date.parse((await page.locator('time').getAttribute('datetime')) ?? '')
      expect(Math.abs(retryAt - (Date.now() + Number(seconds![1]) * 1000))).toBeLessThan(15_000)
      // The way back is a link, and the form is not offered again on this page.
      expect(await page.getByRole('link', { name: 'Back to the login form' }).getAttribute('href')).toBe('/system/login')
      expect(await page.getByLabel('Password').count()).toBe(0)
      expect(unexpectedProblems(problems, [401, 429])).toEqual([])
    } finally {
      await context.close()
    }
  })
})
