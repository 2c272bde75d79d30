import type { Logger } from 'pino'
import { purgeBeforeImages } from '../db/before-images.js'
import type { Sql } from '../db/database.js'
import { passLogger } from './work-log.js'

export interface BeforeImagePurgeOptions {
  /** OPS_BEFORE_IMAGE_DAYS. */
  retentionDays: number
  intervalMs: number
}

/**
 * SPEC §11: before-images older than the retention are dropped by the service itself — at start, then
 * every `intervalMs` — in each worker process (a purge is one idempotent delete; two at once are harmless).
 */
export class BeforeImagePurge {
  private timer: NodeJS.Timeout | null = null
  private pass: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly deps: { sql: Sql; logger: Logger },
    private readonly options: BeforeImagePurgeOptions,
  ) {}

  start(): void {
    void this.runOnce()
    this.timer = setInterval(() => void this.runOnce(), this.options.intervalMs)
    this.timer.unref()
  }

  /** One purge; a failure is logged and the next pass tries again. */
  runOnce(): Promise<unknown> {
    this.pass = this.pass.then(async () => {
      try {
        const purged = await purgeBeforeImages(this.deps.sql, this.options.retentionDays)
        if (purged > 0) passLogger(this.deps.logger).info({ purged, retentionDays: this.options.retentionDays }, 'expired before-images purged')
      } catch (error) {
        passLogger(this.deps.logger).warn({ err: error }, 'before-image purge failed; will try again')
      }
    })
    return this.pass
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.pass
  }
}
