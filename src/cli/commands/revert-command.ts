import type { CommandContext } from '../command-context.js'
import { typedAtTerminal } from '../confirm-input.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'
import type { FollowOptions } from '../follow-run.js'
import { printable } from '../format.js'
import { reasonFieldFlags, type ReasonOptions } from './control-options.js'
import { startedRun } from './start-command.js'

/**
 * `rcp revert RUN` (SPEC §11): a new run that puts back the before-image of every finding RUN changed and
 * nobody changed since. The confirmation is `revert RUN`, typed at a terminal like `rcp cancel`'s (or sent
 * as such with `--yes`), and goes to the service as typed: whether it is right is the service's answer (422).
 */

export interface RevertOptions extends Required<ReasonOptions> {
  yes?: boolean
  follow?: boolean
}

export const revertFieldFlags: Record<string, string> = {
  confirmation: 'the typed confirmation',
  // A run that changed nothing, or whose before-images expired or were purged: about RUN itself.
  runId: 'RUN',
  ...reasonFieldFlags,
}

/** The words the service expects (SPEC §11). */
export function revertConfirmationOf(runId: string): string {
  return `revert ${runId}`
}

/** What the operator is shown before typing: what a revert does, and what to type. */
export function revertPrompt(runId: string): string {
  const id = printable(runId)
  return [
    `Reverting run ${id} puts back, tenant by tenant, what it changed; findings changed since are left alone (skipped).`,
    `A run is reverted once (again only if that revert was rejected, cancelled or failed). Type "revert ${id}" to confirm: `,
  ].join('\n')
}

export async function revertRun(context: CommandContext, id: string, options: RevertOptions, follow: FollowOptions = {}): Promise<ExitCode> {
  const confirmation = options.yes
    ? revertConfirmationOf(id)
    : await typedAtTerminal(context.io.stdin, context.io.stderr, {
        prompt: revertPrompt(id),
        noTerminal: `revert needs a confirmation: pass --yes (there is no terminal to type "revert ${printable(id)}" at)`,
      })
  const result = await context.client.revertRun(id, {
    confirmation,
    reason: { code: options.reasonCode, text: options.reason },
    source: 'cli',
  })
  if (!result.accepted) {
    if (context.json) context.printJson(result.problem)
    else {
      context.print(result.activeRunId)
      context.note(`error: a run of the same runbook and target is active: ${result.activeRunId}; nothing was started`)
      context.note(`hint: revert once it completed (rcp run ${result.activeRunId})`)
    }
    return exitCodes.activeRun
  }
  const headline = `Run ${result.runId} started (${result.status}): reverts ${printable(id)}`
  return startedRun(context, result, headline, options.follow === true, follow)
}
