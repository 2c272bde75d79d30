import type { CommandContext } from '../command-context.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'
import { formatPreflight, formatRunbooks, formatTenants } from '../format.js'
import { describeTarget, targetOf, type TargetOptions } from './target.js'

export async function listRunbooks(context: CommandContext): Promise<ExitCode> {
  const page = await context.client.listRunbooks()
  if (context.json) context.printJson(page)
  else context.print(formatRunbooks(page.items))
  return exitCodes.ok
}

export async function listTenants(context: CommandContext, options: { q?: string }): Promise<ExitCode> {
  const page = await context.client.listTenants({ q: options.q })
  if (context.json) context.printJson(page)
  else context.print(formatTenants(page.items))
  return exitCodes.ok
}

/** What the runbook would change, computed by the service without changing anything. */
export async function preflight(context: CommandContext, runbookKey: string, options: TargetOptions): Promise<ExitCode> {
  const target = targetOf(options)
  const result = await context.client.preflight(runbookKey, target)
  if (context.json) context.printJson(result)
  else context.print(formatPreflight(runbookKey, describeTarget(target), result))
  return exitCodes.ok
}
