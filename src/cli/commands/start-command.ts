import { ApiError, type CanaryRequest, type RunDetail, type StartRunRequest, type StartRunResult } from '../api-client.js'
import type { CommandContext } from '../command-context.js'
import { exitCodeForStatus } from '../error-report.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'
import { awaitVerification, followRun, notesOnlyReporter, progressReporterFor, type FollowOptions, type ProgressReporter } from '../follow-run.js'
import { awaitingApprovalNote, formatCompletion, printable, verificationHasResidue } from '../format.js'
import { parameterFieldFlags, parametersOf, type ParameterOptions } from '../params.js'
import { limitsFieldFlags, limitsOf, reasonFieldFlags, reasonOf, type LimitsOptions, type ReasonOptions } from './control-options.js'
import { canaryFieldFlags, canaryOf, type CanaryOptions } from './canary-options.js'
import { formatPlanDrift, isPlanDrifted, pinFieldFlags, pinOf, previewAgainCommand, type PinOptions } from './pinned-plan.js'
import { targetFieldFlags, targetOf, type TargetOptions } from './target.js'

export interface StartOptions extends TargetOptions, ReasonOptions, LimitsOptions, ParameterOptions, PinOptions, CanaryOptions {
  confirm: string
  follow?: boolean
}

export const startFieldFlags: Record<string, string> = {
  ...targetFieldFlags,
  confirmation: '--confirm',
  ...reasonFieldFlags,
  ...limitsFieldFlags,
  ...parameterFieldFlags,
  ...pinFieldFlags,
  ...canaryFieldFlags,
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
  const pin = pinOf(options)
  const canary = canaryOf(options)
  if (canary) request.canary = canary
  const parameters = await parametersOf(options, context.io.stdin)
  if (parameters !== undefined) request.parameters = parameters
  const reason = reasonOf(options)
  if (reason) request.reason = reason
  const limits = limitsOf(options)
  if (limits) request.limits = limits
  Object.assign(request, pin)
  let result: StartRunResult
  try {
    result = await context.client.startRun(runbookKey, request)
  } catch (error) {
    if (error instanceof ApiError && error.status === 409 && pin.preflightId !== undefined && isPlanDrifted(error.problem)) {
      return planDrifted(context, runbookKey, options, pin.preflightId, error)
    }
    throw error
  }

  if (!result.accepted) {
    if (context.json) context.printJson(result.problem)
    else {
      context.print(result.activeRunId)
      context.note(`error: an identical run is already active (queued, running or paused): ${result.activeRunId}; nothing was started`)
      context.note(`hint: rcp run ${result.activeRunId}`)
    }
    return exitCodes.activeRun
  }

  return startedRun(context, result, startHeadline(result, canary), options.follow === true, follow)
}

/** `Run X started (queued)`, and with a canary, what happens once the canary tenants are done. */
export function startHeadline(started: { runId: string; status: string }, canary: CanaryRequest | undefined): string {
  const headline = `Run ${started.runId} started (${started.status})`
  if (!canary) return headline
  const which = canary.count !== undefined ? `the ${canary.count} with the fewest findings` : `tenants ${canary.tenantIds?.join(', ')}`
  const then = canary.autoPromote ? 'then the others' : `then it pauses (CANARY_COMPLETE) until rcp resume ${printable(started.runId)}`
  return `${headline}: canary first (${which}), ${then}`
}

/**
 * A start refused 409 `PLAN_DRIFTED`: nothing was started. The report goes to stderr like any refusal
 * (`--json`: the problem document on stdout); the exit code is that of any other 409 refusal.
 */
async function planDrifted(context: CommandContext, runbookKey: string, options: StartOptions, preflightId: string, error: ApiError): Promise<ExitCode> {
  const problem = error.problem as Parameters<typeof formatPlanDrift>[0]
  if (context.json) context.printJson(problem)
  else {
    const names = (problem.tenants ?? []).length > 0 ? await context.tenantNames() : new Map<number, string>()
    context.note(
      formatPlanDrift(problem, {
        preflightId,
        maxDriftPercent: options.maxDrift,
        unit: await context.runbookUnit(runbookKey),
        names,
        previewCommand: previewAgainCommand(runbookKey, options),
      }),
    )
  }
  return exitCodeForStatus(error.status)
}

/**
 * A run the service accepted (a start, a retry): its id, or with `follow`, the run polled to completion —
 * exit 0 only when it succeeded and its verification found nothing left.
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
  const completed = await followRun(context.client, started.runId, reporter, followOptions)
  // SPEC §11: the verification follows completion within seconds; wait a little for it (else: pending), so
  // the run printed (as text or as the resource with --json) is the verified one.
  const run = await awaitVerification(context.client, completed, { intervalMs: followOptions.intervalMs, sleep: followOptions.sleep })
  if (context.json) {
    context.printJson(run)
    return followedRunExitCode(run)
  }
  const residue = verificationHasResidue(run)
  const names = run.failureSummary.length > 0 || residue ? await context.tenantNames() : new Map()
  context.print(formatCompletion(run, names, residue ? await context.runbookUnit(run.type) : undefined))
  return followedRunExitCode(run)
}

/**
 * 0 only for a run that succeeded and whose verification found nothing left to change (SPEC §11): a
 * residue means the data still needs the repair, which a script must not take for done. A verification
 * still pending counts as none found.
 */
export function followedRunExitCode(run: Pick<RunDetail, 'outcome' | 'verification'>): ExitCode {
  return run.outcome === 'succeeded' && !verificationHasResidue(run) ? exitCodes.ok : exitCodes.runNotSucceeded
}
