import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core'
import { cookieValue, submitLogin } from '../http/console/console-client.js'
import type { TestService } from './service.js'

/**
 * Debian's chromium, driven through playwright-core. The browser suites run only when CHROMIUM_PATH is
 * set (.ci/run sets it); then a browser that cannot start fails them. Never a browser download.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? ''

/** The flags known to work on the CI machine (no sandbox in containers, no GPU, no background traffic). */
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export async function launchChromium(): Promise<Browser> {
  if (!CHROMIUM_PATH) throw new Error('CHROMIUM_PATH is not set: the browser suite needs a chromium executable')
  try {
    return await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 30_000 })
  } catch (error) {
    throw new Error(`chromium at ${CHROMIUM_PATH} could not start: ${error instanceof Error ? error.message : String(error)}`)
  }
}

export const desktopViewport = { width: 1280, height: 800 } as const
export const phoneViewport = { width: 390, height: 844 } as const

/** Something a page reported that a working page never does: a script error, a CSP refusal, an error log. */
export interface BrowserProblem {
  kind: 'console' | 'pageerror' | 'csp'
  text: string
  url: string
}

export interface ConsoleBrowserPage {
  context: BrowserContext
  page: Page
  /** Every problem the page reported so far, in order. */
  problems: BrowserProblem[]
}

/**
 * A fresh browser context (its own cookies) with one page on the service, recording console errors,
 * uncaught exceptions and CSP violations (reported from inside the page, since a refused inline script
 * cannot report itself).
 */
export async function openConsolePage(
  browser: Browser,
  baseUrl: string,
  options: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {},
): Promise<ConsoleBrowserPage> {
  const context = await browser.newContext({
    baseURL: baseUrl,
    viewport: options.viewport ?? desktopViewport,
    colorScheme: options.colorScheme ?? 'light',
    locale: 'en-GB',
    timezoneId: 'UTC',
  })
  const problems: BrowserProblem[] = []
  await context.exposeBinding('__reportCspViolation', ({ page }, text: string) => {
    problems.push({ kind: 'csp', text, url: page.url() })
  })
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      const report = (window as unknown as { __reportCspViolation?: (text: string) => void }).__reportCspViolation
      report?.(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'} at ${event.sourceFile}:${event.lineNumber}`)
    })
  })
  const page = await context.newPage()
  page.on('console', (message) => {
    if (message.type() !== 'error') return
    // For "Failed to load resource" the location is the resource, not the page.
    problems.push({ kind: 'console', text: message.text(), url: message.location().url || page.url() })
  })
  page.on('pageerror', (error) => problems.push({ kind: 'pageerror', text: `${error.name}: ${error.message}`, url: page.url() }))
  return { context, page, problems }
}

/**
 * The problems that are not a page's normal answer: chromium logs "Failed to load resource: … status of
 * 401/403/422/429" for documents and fetches the console answers with those statuses on purpose.
 */
export function unexpectedProblems(problems: BrowserProblem[], expectedStatuses: number[] = []): BrowserProblem[] {
  return problems.filter((problem) => {
    const status = /Failed to load resource: the server responded with a status of (\d{3})/.exec(problem.text)?.[1]
    if (problem.kind !== 'console' || status === undefined) return true
    // The console has no favicon; the browser's own request for one is not a page's doing.
    if (status === '404' && new URL(problem.url).pathname === '/favicon.ico') return false
    return !expectedStatuses.includes(Number(status))
  })
}

/** The page's heading and alert text, to say in a failure what the browser was looking at. */
export async function describePage(page: Page): Promise<string> {
  const heading = await page.locator('h1').first().textContent().catch(() => null)
  const alert = await page.getByRole('alert').first().textContent({ timeout: 500 }).catch(() => null)
  return `${page.url()} — h1: ${heading?.trim() ?? '(none)'}${alert ? ` — alert: ${alert.trim()}` : ''}`
}

/**
 * Submits a form with `act` (a click or a key press) and waits until the page it leads to has loaded
 * (after any redirect). Returns the answer to the POST itself.
 */
export async function submitForm(page: Page, act: () => Promise<void>): Promise<Response> {
  const navigated = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame(), timeout: 15_000 })
  const answered = page.waitForResponse((response) => response.request().method() === 'POST' && response.request().isNavigationRequest(), {
    timeout: 15_000,
  })
  await act()
  const [response] = await Promise.all([answered, navigated])
  await page.waitForLoadState('load')
  return response
}

/** Logs in through the login form with real typing and a click; resolves once the next page has loaded. */
export async function loginThroughForm(page: Page, credentials: { email: string; password: string }): Promise<void> {
  await page.goto('/system/login')
  await page.getByLabel('Email').fill(credentials.email)
  await page.getByLabel('Password').fill(credentials.password)
  const response = await submitForm(page, () => page.getByRole('button', { name: 'Log in' }).click())
  if (response.status() !== 303) throw new Error(`the login form answered ${response.status()}: ${await describePage(page)}`)
}

/**
 * Gives a browser context a console session without going through the login form (logged in over HTTP,
 * the cookie handed to the browser as the server set it): for tests about other pages than the login.
 */
export async function signInWithSessionCookie(context: BrowserContext, service: TestService, credentials: { email: string; password: string }): Promise<void> {
  const response = await submitLogin(service, credentials)
  if (response.status !== 303) throw new Error(`console login over HTTP answered ${response.status}`)
  await context.addCookies([
    {
      name: 'rcp_session',
      value: cookieValue(response.setCookies.get('rcp_session')),
      domain: new URL(service.baseUrl).hostname,
      path: '/system',
      httpOnly: true,
      sameSite: 'Lax',
    },
  ])
}

/** Puts a marker on the page's window; `hasMarker` is true only while the page was not reloaded since. */
export async function markPage(page: Page): Promise<void> {
  await page.evaluate(() => {
    ;(window as unknown as { __marker?: number }).__marker = 1
  })
}

export async function hasMarker(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { __marker?: number }).__marker === 1)
}

export const SCREENSHOT_DIR = join(process.cwd(), 'test-artifacts', 'screenshots')

/** Writes a full-page screenshot to test-artifacts/screenshots/<name>.png and returns the path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true })
  const path = join(SCREENSHOT_DIR, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

