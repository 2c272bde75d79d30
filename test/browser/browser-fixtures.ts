import type { Browser } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'
import { createConsoleOperator } from '../http/console/console-client.js'
import { launchChromium, openConsolePage, signInWithSessionCookie, type ConsoleBrowserPage } from '../support/browser.js'
import { serviceFlavours, type TestService } from '../support/service.js'

export const runbookKey = 'findings.lifecycle.backfill'
export const runbookCapability = 'platform.runbooks.findings.lifecycle_backfill'
export const everyConsoleCapability = ['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.run', runbookCapability]

/** The embedded flavour (PGlite + in-process queue, demo seed): one per test file, started in beforeAll. */
export function embeddedService(): Promise<TestService> {
  const flavour = serviceFlavours().find((candidate) => candidate.name.startsWith('embedded'))
  if (!flavour) throw new Error('no embedded service flavour')
  return flavour.start()
}

export interface BrowserSuite {
  /** The file's embedded service and chromium, started in beforeAll: read them inside the tests. */
  readonly service: TestService
  readonly browser: Browser
  /**
   * A new operator holding `capabilities` and a fresh page (its own context) already signed in as that
   * operator through its session cookie: the start of every test about a page other than the login.
   * The test closes `context` when it is done.
   */
  signedInPage(capabilities: string[]): Promise<ConsoleBrowserPage & { operator: { email: string; password: string } }>
}

/**
 * Launches chromium and starts the embedded service before the file's tests, and closes both after them
 * (after the file's own afterAll hooks, which vitest runs first). A file with more setup adds its own
 * beforeAll after this call: it runs once the service is up.
 */
export function useBrowserSuite(): BrowserSuite {
  let browser: Browser | undefined
  let service: TestService | undefined
  beforeAll(async () => {
    browser = await launchChromium()
    service = await embeddedService()
  })
  afterAll(async () => {
    await browser?.close()
    await service?.close()
  })
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the browser suite starts in beforeAll: use it inside a test or a later hook')
    return value
  }
  return {
    get service() {
      return started(service)
    },
    get browser() {
      return started(browser)
    },
    async signedInPage(capabilities) {
      const operator = await createConsoleOperator(started(service), capabilities)
      const opened = await openConsolePage(started(browser), started(service).baseUrl)
      try {
        await signInWithSessionCookie(opened.context, started(service), operator)
      } catch (error) {
        await opened.context.close()
        throw error
      }
      return { ...opened, operator }
    },
  }
}

export interface PacedTenantJobs {
  /** Lets the held jobs reach the queue, one every `perJobMs`. */
  release(): void
  /** Puts the queue's own publish back. */
  restore(): void
}

/**
 * Holds the tenant jobs of the service's (real, in-process) queue until `release()`, then lets them in one
 * at a time (a job of small tenants carries several). The demo run finishes in well under a second on the embedded service — sooner than a run page
 * loads — so without pacing there is no live progress to watch. Nothing else changes: the same dispatcher
 * publishes, the same workers consume, every job still goes through the queue.
 */
export function paceTenantJobs(service: TestService, perJobMs: number): PacedTenantJobs {
  const queue = service.service.queue
  const original = queue.publish
  let release!: () => void
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  let turn = Promise.resolve()
  queue.publish = async (job, dedupeId) => {
    await released
    // One after another, each `perJobMs` after the last, in the order they were published.
    const mine = turn.then(() => new Promise<void>((resolve) => setTimeout(resolve, perJobMs)))
    turn = mine
    await mine
    return original.call(queue, job, dedupeId)
  }
  return {
    release,
    restore() {
      queue.publish = original
    },
  }
}
