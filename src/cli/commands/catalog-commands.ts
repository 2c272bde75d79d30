import type { CommandContext } from '../command-context.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'
import { formatPreflight, formatRunbooks, formatTenants } from '../format.js'
import { parametersOf, type ParameterOptions } from '../params.js'
import { describeTarget, targetOf, type TargetOptions } from './target.js'

export type PreflightOptions = TargetOptions & ParameterOptions

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
export async function preflight(context: CommandContext, runbookKey: string, options: PreflightOptions): Promise<ExitCode> {
  const target = targetOf(options)
  const parameters = await parametersOf(options, context.io.stdin)
  const result = await context.client.preflight(runbookKey, parameters === undefined ? target : { ...target, parameters })
  if (context.json) context.printJson(result)
  else context.print(formatPreflight(runbookKey, describeTarget(target), result, await context.runbookUnit(runbookKey)))
  return exitCodes.ok
}
