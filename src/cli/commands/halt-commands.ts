import type { CommandContext } from '../command-context.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'
import { formatHalt, formatHaltEngaged, formatHaltLifted } from '../format.js'
import type { ReasonOptions } from './control-options.js'

/** The deployment's kill switch (SPEC §9): `rcp halt`, `rcp unhalt`, `rcp halt status`. */

export async function engageHalt(context: CommandContext, options: Required<ReasonOptions>): Promise<ExitCode> {
  const halt = await context.client.halt({ code: options.reasonCode, text: options.reason })
  if (context.json) context.printJson(halt)
  else context.print(formatHaltEngaged(halt))
  return exitCodes.ok
}

export async function liftHalt(context: CommandContext, options: Required<ReasonOptions>): Promise<ExitCode> {
  const halt = await context.client.liftHalt({ code: options.reasonCode, text: options.reason })
  if (context.json) context.printJson(halt)
  else context.print(formatHaltLifted())
  return exitCodes.ok
}

/** Exit 0 whether or not the deployment is halted; `--json` gives scripts `halted`. */
export async function showHalt(context: CommandContext): Promise<ExitCode> {
  const halt = await context.client.getHalt()
  if (context.json) context.printJson(halt)
  else context.print(formatHalt(halt))
  return exitCodes.ok
}
