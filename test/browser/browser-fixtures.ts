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

export interface PacedTenantJobs {
  /** Lets the held jobs reach the queue, one every `perJobMs`. */
  release(): void
  /** Puts the queue's own publish back. */
  restore(): void
}

/**
 * Holds the tenant jobs of the service's (real, in-process) queue until `release()`, then lets them in one
 * at a time. The demo run finishes in well under a second on the embedded service — sooner than a run page
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
