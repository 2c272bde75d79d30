import type { StartRunRequest } from '../api-client.js'
import type { CommandContext } from '../command-context.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'
import { followRun, notesOnlyReporter, progressReporterFor, type FollowOptions, type ProgressReporter } from '../follow-run.js'
import { awaitingApprovalNote, formatCompletion, printable } from '../format.js'
import { parameterFieldFlags, parametersOf, type ParameterOptions } from '../params.js'
import { limitsFieldFlags, limitsOf, reasonFieldFlags, reasonOf, type LimitsOptions, type ReasonOptions } from './control-options.js'
import { targetFieldFlags, targetOf, type TargetOptions } from './target.js'

export interface StartOptions extends TargetOptions, ReasonOptions, LimitsOptions, ParameterOptions {
  confirm: string
  follow?: boolean
}

export const startFieldFlags: Record<string, string> = {
  ...targetFieldFlags,
  confirmation: '--confirm',
  ...reasonFieldFlags,
  ...limitsFieldFlags,
  ...parameterFieldFlags,
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
  const parameters = await parametersOf(options, context.io.stdin)
  if (parameters !== undefined) request.parameters = parameters
  const reason = reasonOf(options)
  if (reason) request.reason = reason
  const limits = limitsOf(options)
  if (limits) request.limits = limits
  const result = await context.client.startRun(runbookKey, request)

  if (!result.accepted) {
    if (context.json) context.printJson(result.problem)
    else {
      context.print(result.activeRunId)
      context.note(`error: an identical run is already active (queued, running or paused): ${result.activeRunId}; nothing was started`)
      context.note(`hint: rcp run ${result.activeRunId}`)
    }
    return exitCodes.activeRun
  }

  return startedRun(context, result, `Run ${result.runId} started (${result.status})`, options.follow === true, follow)
}

/**
 * A run the service accepted (a start, a retry): its id, or with `follow`, the run polled to completion —
 * exit 0 only when it succeeded.
 */
export async function startedRun(
  context: CommandContext,
  started: { runId: string; status: string },
  headline: string,
  follow: boolean,
  followOptions: FollowOptions = {},
): Promise<ExitCode> {
  const awaiting = started.status === 'awaiting_approval'
  if (!follow) {
    if (context.json) context.printJson({ runId: started.runId, status: started.status })
    else {
      context.print(headline)
      // Nothing is dispatched until a second operator approves (SPEC §10).
      if (awaiting) context.print(`Run ${printable(started.runId)} is ${awaitingApprovalNote(started.runId)}`)
    }
    return exitCodes.ok
  }

  // With --json, stdout carries only the final run: the id goes to stderr, so it is never lost if following fails.
  if (!context.json) context.print(headline)
  else context.note(`started ${started.runId}`)
  const reporter: ProgressReporter = context.json ? notesOnlyReporter(context.io.stderr) : progressReporterFor(context.io.stdout, started.runId)
  const run = await followRun(context.client, started.runId, reporter, followOptions)
  if (context.json) context.printJson(run)
  else context.print(formatCompletion(run, run.failureSummary.length > 0 ? await context.tenantNames() : new Map()))
  return run.outcome === 'succeeded' ? exitCodes.ok : exitCodes.runNotSucceeded
}
