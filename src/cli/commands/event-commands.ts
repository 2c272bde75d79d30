import { once } from 'node:events'
import { NetworkError } from '../api-client.js'
import type { CommandContext } from '../command-context.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'

export interface ExportOptions {
  after?: string
}

export const exportFieldFlags: Record<string, string> = { after: '--after' }

/**
 * `rcp events export` (SPEC §12): every event of the event store as NDJSON on stdout, written as it arrives
 * and no faster than stdout takes it (a pipe to a slow consumer holds the download back, not memory).
 */
export async function exportEvents(context: CommandContext, options: ExportOptions): Promise<ExitCode> {
  const chunks = await context.client.exportEvents(options.after)
  const stdout = context.io.stdout
  // A reader that went away (`rcp events export | head`) ends the export quietly, as other tools do.
  let readerGone = false
  const onError = () => {
    readerGone = true
  }
  stdout.on('error', onError)
  try {
    for await (const chunk of chunks) {
      if (readerGone) break
      if (!stdout.write(chunk)) await drained(stdout)
    }
  } catch (error) {
    if (readerGone) return exitCodes.ok
    // The answer started, then broke (the service stopped, the connection dropped): the file is incomplete.
    throw new NetworkError(context.client.baseUrl, `the export stopped before the end of the store (${error instanceof Error ? error.message : String(error)}); export again with --after <the last line's position>`)
  } finally {
    stdout.off('error', onError)
  }
  return exitCodes.ok
}

/** Resolves once the stream takes writes again (or closed); the listeners go with it. */
async function drained(stream: NodeJS.EventEmitter): Promise<void> {
  const done = new AbortController()
  try {
    await Promise.race([once(stream, 'drain', { signal: done.signal }), once(stream, 'close', { signal: done.signal })])
  } finally {
    done.abort()
  }
}
