import type { Page, RunTenant, RunTenantStatus } from '../api-client.js'
import type { CommandContext } from '../command-context.js'
import { everyPage } from '../every-page.js'
import { confirmByTyping } from '../confirm-input.js'
import { exitCodes, UsageError, type ExitCode } from '../exit-codes.js'
import type { FollowOptions } from '../follow-run.js'
import { formatControlled, formatRunTenants, nextPageHint, printable } from '../format.js'
import { limitsFieldFlags, limitsOf, reasonFieldFlags, reasonOf, type LimitsOptions, type ReasonOptions } from './control-options.js'
import { startedRun } from './start-command.js'

/**
 * Run control (SPEC §9): pause, resume, cancel, limits, retry, and the tenants of a run. Each command is
 * one request; whether the run's state allows it (409), the reason is valid (422) or the deployment is
 * halted (423) is the service's answer.
 */

export async function pauseRun(context: CommandContext, id: string, options: Required<ReasonOptions>): Promise<ExitCode> {
  const run = await context.client.pauseRun(id, { code: options.reasonCode, text: options.reason })
  if (context.json) context.printJson(run)
  else context.print(formatControlled('pause', run))
  return exitCodes.ok
}

export async function resumeRun(context: CommandContext, id: string, options: ReasonOptions): Promise<ExitCode> {
  const run = await context.client.resumeRun(id, reasonOf(options))
  if (context.json) context.printJson(run)
  else context.print(formatControlled('resume', run))
  return exitCodes.ok
}

export interface CancelOptions extends Required<ReasonOptions> {
  yes?: boolean
}

/**
 * Cancels a run: no tenant repair of it starts afterwards, and that cannot be undone. Without `--yes`, the
 * operator types the run id again at a terminal; without a terminal, `--yes` is required.
 */
export async function cancelRun(context: CommandContext, id: string, options: CancelOptions): Promise<ExitCode> {
  if (!options.yes) {
    await confirmByTyping(context.io.stdin, context.io.stderr, {
      expected: id,
      prompt: `Cancelling run ${printable(id)} stops it for good: tenants not yet repaired stay untouched.\nType the run id to confirm: `,
      refused: 'the typed id does not match the run; nothing was cancelled',
      noTerminal: 'cancel needs a confirmation: pass --yes (there is no terminal to type the run id at)',
    })
  }
  const run = await context.client.cancelRun(id, { code: options.reasonCode, text: options.reason })
  if (context.json) context.printJson(run)
  else context.print(formatControlled('cancel', run))
  return exitCodes.ok
}

export async function changeLimits(context: CommandContext, id: string, options: LimitsOptions): Promise<ExitCode> {
  const limits = limitsOf(options)
  if (!limits) throw new UsageError('give --max-concurrency N, --max-failures N|none, or both')
  const run = await context.client.changeRunLimits(id, limits)
  if (context.json) context.printJson(run)
  else context.print(formatControlled('limits', run))
  return exitCodes.ok
}

export interface RetryOptions extends ReasonOptions, LimitsOptions {
  confirm: string
  follow?: boolean
}

export const retryFieldFlags: Record<string, string> = {
  confirmation: '--confirm',
  runId: 'RUN',
  ...reasonFieldFlags,
  ...limitsFieldFlags,
}

/**
 * A new run over the run's failed tenants (`source: "cli"`). Like `start`: the new run's id, exit 3 with the
 * active retry's id when one is running, and `--follow` to poll it to completion.
 */
export async function retryRun(context: CommandContext, id: string, options: RetryOptions, follow: FollowOptions = {}): Promise<ExitCode> {
  const reason = reasonOf(options)
  const limits = limitsOf(options)
  const result = await context.client.retryRun(id, {
    confirmation: options.confirm,
    ...(reason ? { reason } : {}),
    ...(limits ? { limits } : {}),
    source: 'cli',
  })
  if (!result.accepted) {
    if (context.json) context.printJson(result.problem)
    else {
      context.print(result.activeRunId)
      context.note(`error: a retry of run ${printable(id)} (or an identical run) is already active: ${result.activeRunId}; nothing was started`)
      context.note(`hint: rcp run ${result.activeRunId}`)
    }
    return exitCodes.activeRun
  }
  const headline = `Run ${result.runId} started (${result.status}): retries the failed tenants of ${printable(id)}`
  return startedRun(context, result, headline, options.follow === true, follow)
}

export interface RunTenantsOptions {
  status?: RunTenantStatus
  limit?: number
  cursor?: string
  all?: boolean
}

export const runTenantsFieldFlags: Record<string, string> = { status: '--status', limit: '--limit', cursor: '--cursor' }

/** The tenants of a run by tenant id: one page (`--limit`, `--cursor`), or every page with `--all`. */
export async function listRunTenants(context: CommandContext, id: string, options: RunTenantsOptions): Promise<ExitCode> {
  const filter = { status: options.status, limit: options.limit, cursor: options.cursor }
  const page: Page<RunTenant> = options.all
    ? { items: await everyPage((cursor) => context.client.listRunTenants(id, { ...filter, cursor }), { cursor: options.cursor }), nextCursor: null }
    : await context.client.listRunTenants(id, filter)
  if (context.json) context.printJson(page)
  else {
    context.print(formatRunTenants(page.items))
    context.print(nextPageHint(page.nextCursor))
  }
  return exitCodes.ok
}
