import cliProgress from 'cli-progress'
import { ApiError, NetworkError, type ApiClient, type RunDetail } from './api-client.js'
import { awaitingApprovalNote, awaitsVerification, formatControlEntry, printable } from './format.js'
import type { OutputStream } from './io.js'

/**
 * `rcp start --follow` (and `retry --follow`): polls the run until it completes and shows how far it got —
 * a progress bar on a terminal, plain lines (one per change) anywhere else, so logs and pipes get no
 * control sequences. A run awaiting approval never starts by itself, and a paused run never completes by itself: following goes on (more slowly) and says
 * when the run pauses, resumes or is being cancelled.
 */

export const FOLLOW_INTERVAL_MS = 500
/** Polls of a paused run: it changes only when an operator acts. */
export const PAUSED_INTERVAL_MS = 2_000

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
  return { status: run.status, done, total, failed: run.tenantCounts?.failed ?? counts.failed ?? 0 }
}

export interface ProgressReporter {
  update(progress: RunProgress): void
  /** A line that is news rather than progress: the run paused, resumed, is being cancelled. */
  note(text: string): void
  stop(): void
}

export function progressReporterFor(stdout: OutputStream, runId: string): ProgressReporter {
  return stdout.isTTY ? new ProgressBarReporter(stdout) : new LineReporter(stdout, runId)
}

class ProgressBarReporter implements ProgressReporter {
  private readonly bar: cliProgress.SingleBar
  private started = false

  constructor(private readonly stream: OutputStream) {
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

  /** The bar ends its line (as it stands), the note gets its own, and the next update draws a fresh bar. */
  note(text: string): void {
    if (this.started) {
      this.bar.stop()
      this.started = false
    }
    this.stream.write(`${text}\n`)
  }

  stop(): void {
    if (this.started) this.bar.stop()
    this.started = false
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

  note(text: string): void {
    this.stream.write(`${text}\n`)
  }

  stop(): void {}
}

/** For `--json`: stdout is kept for the final run, so only the notes show, on stderr. */
export function notesOnlyReporter(stderr: OutputStream): ProgressReporter {
  return {
    update() {},
    note: (text) => void stderr.write(`${text}\n`),
    stop() {},
  }
}

/** What changed in how the run is controlled between two polls, as lines for the operator. */
export function controlNotes(previous: RunDetail | null, run: RunDetail): string[] {
  const id = printable(run.id)
  const notes: string[] = []
  if (run.status === 'awaiting_approval' && previous?.status !== 'awaiting_approval') {
    notes.push(`Run ${id} is ${awaitingApprovalNote(run.id)}; it does not start by itself.`)
  } else if (previous?.status === 'awaiting_approval' && run.status !== 'awaiting_approval') {
    notes.push(run.status === 'completed' ? `Run ${id} was not approved: ${printable(run.outcome)}.` : `Run ${id} approved: ${printable(run.status)}.`)
  }
  const pauseKey = (r: RunDetail | null) => (r?.status === 'paused' && r.pause ? `${r.pause.at}|${r.pause.reasonCode}` : null)
  if (run.status === 'paused' && pauseKey(run) !== pauseKey(previous)) {
    const why = run.pause ? ` ${printable(formatControlEntry(run.pause))}` : ''
    notes.push(canaryPauseNote(run) ?? `Run ${id} paused:${why}; it does not complete until resumed (rcp resume ${id}) or cancelled (rcp cancel ${id}).`)
  } else if (previous?.status === 'paused' && run.status !== 'paused' && run.status !== 'completed') {
    notes.push(`Run ${id} resumed: ${printable(run.status)}.`)
  }
  if (run.cancellation && !previous?.cancellation && run.status !== 'completed') {
    notes.push(`Run ${id} is being cancelled: ${printable(formatControlEntry(run.cancellation))}; repairs in flight finish first.`)
  }
  return notes
}

/**
 * SPEC §11: a canary pause is a checkpoint the operator is expected to act on, not an incident, so it says
 * what to look at and how to go on. Null for any other pause. Following goes on, as for any pause.
 */
export function canaryPauseNote(run: Pick<RunDetail, 'id' | 'pause'>): string | null {
  const id = printable(run.id)
  switch (run.pause?.reasonCode) {
    case 'CANARY_COMPLETE':
      return `Paused: the canary tenants succeeded (CANARY_COMPLETE) — check them (rcp tenants ${id}), then rcp resume ${id}`
    case 'CANARY_FAILED':
      return `Paused: a canary tenant failed (CANARY_FAILED) — see rcp tenants ${id} --status failed, then rcp resume ${id} or rcp cancel ${id}`
    default:
      return null
  }
}

export interface FollowOptions {
  intervalMs?: number
  /** Between polls of a paused run. */
  pausedIntervalMs?: number
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

/** Polls `GET /api/runs/{id}` until the run is completed (a paused one included: it waits); returns the completed run. */
export async function followRun(
  client: ApiClient,
  runId: string,
  reporter: ProgressReporter,
  options: FollowOptions = {},
): Promise<RunDetail> {
  const intervalMs = options.intervalMs ?? FOLLOW_INTERVAL_MS
  const pausedIntervalMs = options.pausedIntervalMs ?? Math.max(intervalMs, PAUSED_INTERVAL_MS)
  const sleep = options.sleep ?? defaultSleep
  const maxFailures = options.maxConsecutiveFailures ?? 20
  // Ctrl-C while following: put the terminal back (the progress bar hides the cursor), then exit 130.
  const interrupted = () => {
    reporter.stop()
    process.exit(130)
  }
  process.once('SIGINT', interrupted)
  let failures = 0
  let previous: RunDetail | null = null
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
      for (const note of controlNotes(previous, run)) reporter.note(note)
      previous = run
      reporter.update(progressOf(run))
      if (run.status === 'completed') return run
      // A paused run or one awaiting approval changes only when an operator acts.
      await sleep(run.status === 'paused' || run.status === 'awaiting_approval' ? pausedIntervalMs : intervalMs)
    }
  } finally {
    process.removeListener('SIGINT', interrupted)
    reporter.stop()
  }
}

/** How long `--follow` waits, after completion, for the service to verify the run (SPEC §11). */
export const VERIFICATION_WAIT_MS = 10_000

export interface VerificationWaitOptions {
  timeoutMs?: number
  intervalMs?: number
  sleep?: (ms: number) => Promise<void>
}

/**
 * A run completed succeeded or partially succeeded is verified within a second or two (SPEC §11): polls it
 * until its verification is recorded, for at most `timeoutMs`; returns the last run seen (verification still
 * null when it did not come). Other outcomes, revert runs (never verified) and a resource without the field
 * are returned as they are.
 */
export async function awaitVerification(client: ApiClient, run: RunDetail, options: VerificationWaitOptions = {}): Promise<RunDetail> {
  if (run.verification !== null || !awaitsVerification(run)) return run
  const timeoutMs = options.timeoutMs ?? VERIFICATION_WAIT_MS
  const intervalMs = options.intervalMs ?? FOLLOW_INTERVAL_MS
  const sleep = options.sleep ?? defaultSleep
  let latest = run
  for (let waited = 0; waited < timeoutMs; waited += intervalMs) {
    await sleep(intervalMs)
    try {
      latest = await client.getRun(run.id)
    } catch (error) {
      if (!isTransient(error)) throw error
      continue
    }
    if (latest.verification !== null) return latest
  }
  return latest
}
