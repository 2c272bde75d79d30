import cliProgress from 'cli-progress'
import { ApiError, NetworkError, type ApiClient, type RunDetail } from './api-client.js'
import { printable } from './format.js'
import type { OutputStream } from './io.js'

/**
 * `rcp start --follow`: polls the run until it completes and shows how far it got — a progress bar on a
 * terminal, plain lines (one per change) anywhere else, so logs and pipes get no control sequences.
 */

export const FOLLOW_INTERVAL_MS = 500

export interface RunProgress {
  status: string
  /** Tenants with a recorded result (succeeded or failed). */
  done: number
  total: number
  failed: number
}

export function progressOf(run: RunDetail): RunProgress {
  const counts = run.summaryCounts ?? {}
  const total = run.tenantCounts?.targeted ?? counts.tenants ?? (run.tenantId !== null ? 1 : 0)
  const recorded = run.tenantCounts ? run.tenantCounts.succeeded + run.tenantCounts.failed : (counts.failed ?? 0)
  const done = run.status === 'completed' ? total : Math.min(recorded, total)
  return { status: run.status, done, total, failed: counts.failed ?? 0 }
}

export interface ProgressReporter {
  update(progress: RunProgress): void
  stop(): void
}

export function progressReporterFor(stdout: OutputStream, runId: string): ProgressReporter {
  return stdout.isTTY ? new ProgressBarReporter(stdout) : new LineReporter(stdout, runId)
}

class ProgressBarReporter implements ProgressReporter {
  private readonly bar: cliProgress.SingleBar
  private started = false

  constructor(stream: OutputStream) {
    this.bar = new cliProgress.SingleBar(
      {
        stream,
        format: '{bar} {value}/{total} tenants | {status} | failed {failed}',
        barsize: 30,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    )
  }

  update(progress: RunProgress): void {
    const payload = { status: printable(progress.status), failed: progress.failed }
    if (!this.started) {
      this.bar.start(progress.total, progress.done, payload)
      this.started = true
      return
    }
    this.bar.setTotal(progress.total)
    this.bar.update(progress.done, payload)
  }

  stop(): void {
    if (this.started) this.bar.stop()
  }
}

class LineReporter implements ProgressReporter {
  private last = ''

  constructor(
    private readonly stream: OutputStream,
    private readonly runId: string,
  ) {}

  update(progress: RunProgress): void {
    const line = `run ${this.runId}: ${printable(progress.status)}, ${progress.done}/${progress.total} tenants done, ${progress.failed} failed`
    if (line === this.last) return
    this.last = line
    this.stream.write(`${line}\n`)
  }

  stop(): void {}
}

export interface FollowOptions {
  intervalMs?: number
  sleep?: (ms: number) => Promise<void>
  /** Consecutive failed polls (network, 5xx, a not-yet-projected 404) tolerated before giving up. */
  maxConsecutiveFailures?: number
}

/** A poll worth repeating: the service is restarting, briefly unreachable, or has not projected the run yet. */
function isTransient(error: unknown): boolean {
  if (error instanceof NetworkError) return true
  return error instanceof ApiError && (error.status >= 500 || error.status === 404)
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `GET /api/runs/{id}` until the run is completed; returns the completed run. */
export async function followRun(
  client: ApiClient,
  runId: string,
  reporter: ProgressReporter,
  options: FollowOptions = {},
): Promise<RunDetail> {
  const intervalMs = options.intervalMs ?? FOLLOW_INTERVAL_MS
  const sleep = options.sleep ?? defaultSleep
  const maxFailures = options.maxConsecutiveFailures ?? 20
  // Ctrl-C while following: put the terminal back (the progress bar hides the cursor), then exit 130.
  const interrupted = () => {
    reporter.stop()
    process.exit(130)
  }
  process.once('SIGINT', interrupted)
  let failures = 0
  try {
    for (;;) {
      let run: RunDetail
      try {
        run = await client.getRun(runId)
        failures = 0
      } catch (error) {
        if (!isTransient(error) || ++failures > maxFailures) throw error
        await sleep(Math.min(intervalMs * 2 ** failures, 10_000))
        continue
      }
      reporter.update(progressOf(run))
      if (run.status === 'completed') return run
      await sleep(intervalMs)
    }
  } finally {
    process.removeListener('SIGINT', interrupted)
    reporter.stop()
  }
}
