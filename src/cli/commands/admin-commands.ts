import { formatRebuildReport } from '../../projections/rebuild-report.js'
import type { CommandContext } from '../command-context.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'

/**
 * `rcp admin rebuild` (SPEC §12): the service rebuilds every read model from position zero into new tables
 * and switches to them; prints each table's checksum before and after and whether they match. Exit 0 once
 * switched, whether or not the old rows differed (they are then repaired: the verdict says which tables).
 */
export async function rebuildProjections(context: CommandContext): Promise<ExitCode> {
  const report = await context.client.rebuildProjections()
  if (context.json) context.printJson(report)
  else context.print(formatRebuildReport(report))
  return exitCodes.ok
}
