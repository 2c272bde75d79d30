import { once } from 'node:events'
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
  for await (const chunk of chunks) {
    if (!stdout.write(chunk)) await once(stdout, 'drain')
  }
  return exitCodes.ok
}
