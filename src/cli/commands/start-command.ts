import type { StartRunRequest } from '../api-client.js'
import type { CommandContext } from '../command-context.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'
import { followRun, progressReporterFor, type FollowOptions, type ProgressReporter } from '../follow-run.js'
import { formatCompletion } from '../format.js'
import { targetFieldFlags, targetOf, type TargetOptions } from './target.js'

export interface StartOptions extends TargetOptions {
  confirm: string
  reasonCode?: string
  reason?: string
  follow?: boolean
}

export const startFieldFlags: Record<string, string> = {
  ...targetFieldFlags,
  confirmation: '--confirm',
  reason: '--reason-code and --reason',
  'reason.code': '--reason-code',
  'reason.text': '--reason',
}

/**
 * Starts a run (`source: "cli"`). The confirmation and the reason go to the service as typed: whether they
 * are right, and whether a reason is needed, is the service's decision.
 */
export async function startRun(
  context: CommandContext,
  runbookKey: string,
  options: StartOptions,
  follow: FollowOptions = {},
): Promise<ExitCode> {
  const request: StartRunRequest = { ...targetOf(options), confirmation: options.confirm, source: 'cli' }
  if (options.reasonCode !== undefined || options.reason !== undefined) {
    request.reason = { code: options.reasonCode ?? '', text: options.reason ?? '' }
  }
  const result = await context.client.startRun(runbookKey, request)

  if (!result.accepted) {
    if (context.json) context.printJson(result.problem)
    else {
      context.print(result.activeRunId)
      context.note(`error: an identical run is already queued or running: ${result.activeRunId}; nothing was started`)
      context.note(`hint: rcp run ${result.activeRunId}`)
    }
    return exitCodes.activeRun
  }

  if (!options.follow) {
    if (context.json) context.printJson({ runId: result.runId, status: result.status })
    else context.print(`Run ${result.runId} started (${result.status})`)
    return exitCodes.ok
  }

  // With --json, stdout carries only the final run: the id goes to stderr, so it is never lost if following fails.
  if (!context.json) context.print(`Run ${result.runId} started (${result.status})`)
  else context.note(`started ${result.runId}`)
  const reporter: ProgressReporter = context.json ? silentReporter : progressReporterFor(context.io.stdout, result.runId)
  const run = await followRun(context.client, result.runId, reporter, follow)
  if (context.json) context.printJson(run)
  else context.print(formatCompletion(run, run.failureSummary.length > 0 ? await context.tenantNames() : new Map()))
  return run.outcome === 'succeeded' ? exitCodes.ok : exitCodes.runNotSucceeded
}

const silentReporter: ProgressReporter = { update() {}, stop() {} }
