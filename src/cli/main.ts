import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { execute, type ExecuteOptions, type GlobalOptions } from './command-context.js'
import type { CommandContext } from './command-context.js'
import { rebuildProjections } from './commands/admin-commands.js'
import { verifyAudit } from './commands/audit-commands.js'
import { exportEvents, exportFieldFlags, type ExportOptions } from './commands/event-commands.js'
import { login, logout } from './commands/auth-commands.js'
import { listRunbooks, listTenants, preflight, showPlan, type PlanOptions, type PreflightOptions } from './commands/catalog-commands.js'
import {
  auditFieldFlags,
  listAudit,
  listRuns,
  runsFieldFlags,
  showEvents,
  showRun,
  type AuditOptions,
  type RunsOptions,
} from './commands/history-commands.js'
import { limitsFieldFlags, reasonFieldFlags, type LimitsOptions, type ReasonOptions } from './commands/control-options.js'
import { engageHalt, liftHalt, showHalt } from './commands/halt-commands.js'
import { approveRun, rejectRun, setApprovalSettings, showApprovalSettings } from './commands/approval-commands.js'
import {
  changeOwnPassword,
  createOperator,
  listOperators,
  operatorFieldFlags,
  setOperatorDisabled,
  setOperatorPassword,
  showMe,
  updateOperator,
  type CreateOperatorOptions,
  type UpdateOperatorOptions,
} from './commands/operator-commands.js'
import {
  cancelRun,
  changeLimits,
  listRunTenants,
  pauseRun,
  resumeRun,
  retryFieldFlags,
  retryRun,
  runTenantsFieldFlags,
  type CancelOptions,
  type RetryOptions,
  type RunTenantsOptions,
} from './commands/run-control-commands.js'
import { driftPercent } from './commands/pinned-plan.js'
import { canaryTenantIds } from './commands/canary-options.js'
import { revertFieldFlags, revertRun, type RevertOptions } from './commands/revert-command.js'
import { startFieldFlags, startRun, type StartOptions } from './commands/start-command.js'
import { targetFieldFlags } from './commands/target.js'
import { exitCodes, UsageError, type ExitCode } from './exit-codes.js'
import type { CliIo } from './io.js'
import { parameterFieldFlags } from './params.js'

/**
 * `rcp`, the operator CLI: a thin client of the HTTP API (SPEC §7). This module only wires commander to
 * the command modules; `run` is the whole CLI as a function, so tests run it in-process.
 */

function positiveInteger(name: string) {
  return (value: string): number => {
    if (!/^\d{1,16}$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
      throw new InvalidArgumentError(`${name} must be a positive integer`)
    }
    return Number(value)
  }
}

/** A repeatable option: each occurrence adds to the list. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** `--max-failures N|none`: a failure budget, or `none` (sent as `null`: no limit; commander turns a parsed null into ''). */
function failureBudget(value: string): number | 'none' {
  if (value === 'none') return 'none'
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('--max-failures must be a non-negative integer or none')
  }
  return Number(value)
}

const EXIT_CODES_HELP = `
Exit codes:
  0  done (a followed run succeeded)
  1  a followed run completed partially_succeeded, failed, blocked, cancelled
     or rejected
  2  bad arguments or values refused by the service (4xx): invalid values (422),
     no such run, runbook or preview (404), the run's state does not allow it
     (409), an operator email that exists, the last operator manager (409),
     a start pinned with --preflight whose plan drifted (409 PLAN_DRIFTED),
     a revert of a run not completed or already reverted (409), a wrong
     revert confirmation, or a run with nothing to put back (422: it changed
     nothing, its before-images expired or were purged)
  3  start: an identical run is already active; retry: a retry of the run is;
     revert: a run of the same runbook and target is (its id is printed)
  4  not logged in, token rejected (a disabled operator's included), a missing
     capability, or a rule of who may do it (401/403: approving one's own run,
     changing one's own capabilities, disabling oneself)
  5  service unreachable or failing (network error, 5xx)
  6  refused while the deployment is halted (423; see rcp halt status): starts,
     resumes, retries, reverts, approvals
  7  audit verify: the audit log's hash chain is broken (the first broken entry
     is named)

Environment: RCP_URL (service URL), RCP_TOKEN (overrides the stored token),
RCP_CONFIG (credentials file, default ~/.config/rcp/credentials.json).`

function buildProgram(io: CliIo, finish: (code: ExitCode) => void): Command {
  const program = new Command('rcp')
    .description(
      'Operator CLI of the runbook control plane: catalog, preflight and its plan, start and follow runs (canary tenants first), run control (pause, resume, cancel, limits, retry, revert, halt), approvals, operators, history, audit, admin rebuild.',
    )
    .option('--url <url>', 'service URL (default: $RCP_URL, else the URL you logged in to, else http://localhost:8080)')
    .option('--json', 'print the raw JSON of the API instead of text')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)

  /**
   * Each action resolves the global options, runs its body through `execute`, and records the exit code.
   * `options` may depend on the command's first argument (a 404 names the run asked for).
   */
  const action =
    <Args extends unknown[]>(
      body: (context: CommandContext, ...args: Args) => Promise<ExitCode>,
      options?: ExecuteOptions | ((firstArgument: string | undefined) => ExecuteOptions),
    ) =>
    async (...received: unknown[]) => {
      const command = received[received.length - 1] as Command
      const args = received.slice(0, -1) as Args
      const resolved = typeof options === 'function' ? options(typeof args[0] === 'string' ? args[0] : undefined) : options
      finish(await execute(io, command.optsWithGlobals<GlobalOptions>(), (context) => body(context, ...args), resolved))
    }

  /** A command on a run: a 404 means that run does not exist, a 409 is about its state. */
  const onRun =
    (fieldFlags?: Record<string, string>) =>
    (runId: string | undefined): ExecuteOptions => ({ fieldFlags, runId })

  const REASON_CODES = 'DATA_REPAIR | INCIDENT | SUPPORT | SECURITY'
  /** `true`: required (commander checks); otherwise when it is needed, as the help says (the service checks). */
  const reasonOptions = (command: Command, required: true | string) =>
    required === true
      ? command.requiredOption('--reason-code <code>', REASON_CODES).requiredOption('--reason <text>', 'why, 10 to 500 characters')
      : command.option('--reason-code <code>', `${REASON_CODES} (${required})`).option('--reason <text>', `why, 10 to 500 characters (${required})`)

  const limitsOptions = (command: Command, what: string) =>
    command
      .option('--max-concurrency <n>', `at most this many tenants repaired at once (1-1000${what})`, positiveInteger('--max-concurrency'))
      .option('--max-failures <n|none>', `pause the run once more tenants than this failed; none: no limit${what}`, failureBudget)

  const targetOptions = (command: Command) =>
    command
      .addOption(new Option('--all-tenants', 'every tenant of the allowed universe').conflicts('tenant'))
      .addOption(new Option('--tenant <id>', 'one tenant (ids: rcp tenants)').argParser(positiveInteger('--tenant')))

  const parameterOptions = (command: Command) =>
    command
      .option(
        '--param <name=value>',
        'a runbook parameter (repeatable); NAME may be a dotted path (slaDays.critical=1); VALUE is JSON when it parses, else a string (see rcp runbooks)',
        collect,
      )
      .option('--params-file <file>', 'the parameters as a JSON object (- reads stdin); --param entries are merged over it')

  program
    .command('login')
    .description('log in and store an API token (password from --password-stdin or a hidden prompt)')
    .requiredOption('--email <email>', 'operator email')
    .option('--password-stdin', 'read the password from stdin instead of prompting')
    .action(action((context, options: { email: string; passwordStdin?: boolean }) => login(context, options), { suppressLoginHint: true }))

  program
    .command('logout')
    .description('revoke the stored token on the service, then delete it (deleted even if the service cannot be reached)')
    .action(action((context) => logout(context)))

  program
    .command('me')
    .description('the operator you are logged in as: capabilities, break-glass, last login')
    .action(action((context) => showMe(context)))

  program
    .command('password')
    .description(
      'change your own password: prompts for the current one and the new one (twice); every token of yours ends, log in again',
    )
    .option('--password-stdin', 'read two lines from stdin instead: the current password, then the new one')
    .action(
      action((context, options: { passwordStdin?: boolean }) => changeOwnPassword(context, options), {
        fieldFlags: { currentPassword: 'the current password', password: 'the new password' },
      }),
    )

  const operators = program
    .command('operators')
    .description('manage operators (platform.operators.manage); OPERATOR is an id or an email')
  const onOperator: ExecuteOptions = {
    fieldFlags: operatorFieldFlags,
    forbiddenHint: 'nobody changes their own capabilities or disables themselves: ask another operator manager',
  }
  operators
    .command('list')
    .description('every operator: state, break-glass, last login, capabilities')
    .action(action((context) => listOperators(context), onOperator))
  operators
    .command('create')
    .description('create an operator; the password from --password-stdin or a hidden prompt (12 to 200 characters, not the email)')
    .requiredOption('--email <email>', 'their email (their login)')
    .requiredOption('--name <name>', 'their name')
    .option('--capability <capability>', 'a capability to grant (repeatable)', collect)
    .option('--break-glass', 'a break-glass operator: every start needs a reason and raises an alert')
    .option('--password-stdin', 'read the password from stdin instead of prompting')
    .action(action((context, options: CreateOperatorOptions) => createOperator(context, options), onOperator))
  operators
    .command('update')
    .argument('<operator>', 'operator id or email')
    .description("change an operator's name, capabilities or break-glass flag (at least one option)")
    .option('--name <name>', 'their new name')
    .option('--capability <capability>', 'a capability (repeatable): the given ones replace the whole set', collect)
    .option('--break-glass', 'make them a break-glass operator')
    .option('--no-break-glass', 'make them a regular operator')
    .action(action((context, operator: string, options: UpdateOperatorOptions) => updateOperator(context, operator, options), onOperator))
  operators
    .command('disable')
    .argument('<operator>', 'operator id or email')
    .description('disable an operator: every token and console session of theirs ends at once')
    .action(action((context, operator: string) => setOperatorDisabled(context, operator, true), onOperator))
  operators
    .command('enable')
    .argument('<operator>', 'operator id or email')
    .description('enable a disabled operator again (they log in anew)')
    .action(action((context, operator: string) => setOperatorDisabled(context, operator, false), onOperator))
  operators
    .command('password')
    .argument('<operator>', 'operator id or email')
    .description("set another operator's password (--password-stdin or a hidden prompt); their tokens and sessions end")
    .option('--password-stdin', 'read the password from stdin instead of prompting')
    .action(action((context, operator: string, options: { passwordStdin?: boolean }) => setOperatorPassword(context, operator, options), onOperator))

  program
    .command('runbooks')
    .description("list the runbook catalog: each runbook's unit and parameters (name, type, default, bounds)")
    .action(action((context) => listRunbooks(context)))

  program
    .command('tenants')
    .argument('[run]', "a run id: list that run's tenants instead")
    .description('list the tenants runbooks can target; with a run id, the tenants of that run and how each fared')
    .option('--q <text>', 'without a run: filter by name (case-insensitive substring)')
    .addOption(new Option('--status <status>', 'with a run: only tenants in this status').choices(['pending', 'succeeded', 'failed', 'cancelled']))
    .option('--limit <n>', 'with a run: page size', positiveInteger('--limit'))
    .option('--cursor <cursor>', 'with a run: the next page, as printed under the previous one')
    .option('--all', 'with a run: every page')
    .action(
      action(
        (context, run: string | undefined, options: RunTenantsOptions & { q?: string }) => {
          const { q, ...runOptions } = options
          if (run === undefined) {
            const runOnly = Object.entries({ '--status': options.status, '--limit': options.limit, '--cursor': options.cursor, '--all': options.all })
              .filter(([, value]) => value !== undefined)
              .map(([flag]) => flag)
            if (runOnly.length > 0) throw new UsageError(`${runOnly.join(', ')}: only with a run id (rcp tenants RUN ${runOnly[0]} …)`)
            return listTenants(context, { q })
          }
          if (q !== undefined) throw new UsageError("--q filters the tenants runbooks can target, not a run's: leave out the run id")
          return listRunTenants(context, run, runOptions)
        },
        onRun(runTenantsFieldFlags),
      ),
    )

  parameterOptions(
    targetOptions(program.command('preflight').argument('<key>', 'runbook key').description('what a runbook would change, without changing anything')),
  ).action(
    action((context, key: string, options: PreflightOptions) => preflight(context, key, options), {
      fieldFlags: { ...targetFieldFlags, ...parameterFieldFlags },
    }),
  )

  program
    .command('plan')
    .argument('<preflight>', 'a preview id, as rcp preflight prints it')
    .description(
      "a preview's plan per tenant (kept 24 hours): what each tenant would change and whether its repair would fail; the tenants that would fail first",
    )
    .option('--would-fail', 'only the tenants whose repair would fail')
    .option('--limit <n>', "page size of the requests (1-200, default the service's 50); every page is printed", positiveInteger('--limit'))
    .action(
      action((context, preflightId: string, options: PlanOptions) => showPlan(context, preflightId, options), {
        fieldFlags: { limit: '--limit' },
        notFoundHint: 'no such preview, or it expired (previews are kept 24 hours): rcp preflight KEY … prints a new id',
      }),
    )

  const start = parameterOptions(targetOptions(program.command('start').argument('<key>', 'runbook key').description('start a run; prints its id')))
    .requiredOption('--confirm <key>', 'type the runbook key again to confirm')
    .option('--reason-code <code>', 'DATA_REPAIR | INCIDENT | SUPPORT | SECURITY (required for all tenants)')
    .option('--reason <text>', 'why, 10 to 500 characters (required for all tenants)')
    .option('--follow', 'poll the run until it completes; exit 0 only if it succeeded and its verification found nothing left')
    .option('--preflight <id>', 'pin the start to this preview (the id rcp preflight printed): refused when the data changed since')
    .option('--max-drift <percent>', 'with --preflight: how far the affected count may have moved, 0-100 (default: the service\'s, 10)', driftPercent)
    .addOption(
      new Option('--canary-count <n>', 'canary: repair the N target tenants with the fewest findings first and alone, then pause (CANARY_COMPLETE)')
        .argParser(positiveInteger('--canary-count'))
        .conflicts('canaryTenants'),
    )
    .addOption(new Option('--canary-tenants <ids>', 'canary: these tenants (comma-separated ids, e.g. 11,12) first and alone, then pause').argParser(canaryTenantIds))
    .option('--auto-promote', 'with a canary: go on with the other tenants once the canary succeeded instead of pausing')
  limitsOptions(start, ', default: the deployment\'s')
    .action(action((context, key: string, options: StartOptions) => startRun(context, key, options), { fieldFlags: startFieldFlags }))

  program
    .command('runs')
    .description('run history, newest first')
    .option('--status <status>', 'awaiting_approval | queued | running | paused | completed')
    .option('--outcome <outcome>', 'pending | succeeded | partially_succeeded | failed | blocked | cancelled | rejected')
    .option('--runbook <key>', 'runbook key')
    .option('--tenant <id>', 'single-tenant runs of this tenant', positiveInteger('--tenant'))
    .option('--limit <n>', 'page size', positiveInteger('--limit'))
    .option('--cursor <cursor>', 'the next page, as printed under the previous one')
    .action(action((context, options: RunsOptions) => listRuns(context, options), { fieldFlags: runsFieldFlags }))

  program
    .command('run')
    .argument('<id>', 'run id')
    .description('one run: status, pause, limits, tenant counts, outcome, counts, failures')
    .option('--at <n>', "the run as it stood right after its n-th event (1: after RunRequested; rcp events RUN lists them, revision n-1)", positiveInteger('--at'))
    .action(action((context, id: string, options: { at?: number }) => showRun(context, id, options), onRun({ at: '--at', revision: '--at' })))

  const events = program
    .command('events')
    .argument('<id>', 'run id')
    .description("the run's event stream, in order (rcp events export: every event of the store)")
    .action(action((context, id: string) => showEvents(context, id), onRun()))
  events
    .command('export')
    .description('every event of the event store, in global order, as NDJSON on stdout (one JSON object per line), streamed')
    .option('--after <position>', "start after this event (its position, e.g. the last exported line's)")
    .action(action((context, options: ExportOptions) => exportEvents(context, options), { fieldFlags: exportFieldFlags }))

  reasonOptions(
    program
      .command('pause')
      .argument('<run>', 'run id')
      .description('pause a run: no tenant repair of it starts until it is resumed (repairs in flight finish)'),
    true,
  ).action(action((context, id: string, options: Required<ReasonOptions>) => pauseRun(context, id, options), onRun(reasonFieldFlags)))

  reasonOptions(
    program.command('resume').argument('<run>', 'run id').description('resume a paused run with the tenants not yet processed'),
    'optional',
  ).action(action((context, id: string, options: ReasonOptions) => resumeRun(context, id, options), onRun(reasonFieldFlags)))

  reasonOptions(
    program
      .command('cancel')
      .argument('<run>', 'run id')
      .description('cancel a run for good: it completes cancelled once repairs in flight finish; asks to type the run id'),
    true,
  )
    .option('--yes', 'do not ask to type the run id (required without a terminal)')
    .action(action((context, id: string, options: CancelOptions) => cancelRun(context, id, options), onRun(reasonFieldFlags)))

  reasonOptions(
    program
      .command('revert')
      .argument('<run>', 'id of a completed run')
      .description(
        'start a run that puts back what RUN changed (its before-images, kept 30 days), tenant by tenant; findings changed since are skipped. Asks to type "revert RUN"; prints the new run\'s id',
      ),
    true,
  )
    .option('--yes', 'send the confirmation "revert RUN" without asking (required without a terminal)')
    .option('--follow', 'poll the revert run until it completes; exit 0 only if it succeeded')
    .action(action((context, id: string, options: RevertOptions) => revertRun(context, id, options), onRun(revertFieldFlags)))

  limitsOptions(program.command('limits').argument('<run>', 'run id').description("change an active run's limits (at least one option)"), '')
    .action(action((context, id: string, options: LimitsOptions) => changeLimits(context, id, options), onRun(limitsFieldFlags)))

  const retry = reasonOptions(
    program
      .command('retry')
      .argument('<run>', 'id of a completed run with failed tenants')
      .description('start a new run over the failed tenants of a completed run; prints its id')
      .requiredOption('--confirm <key>', "type the run's runbook key to confirm"),
    'required when the run was for all tenants',
  ).option('--follow', 'poll the new run until it completes; exit 0 only if it succeeded and its verification found nothing left')
  limitsOptions(retry, ", default: the retried run's")
    .action(action((context, id: string, options: RetryOptions) => retryRun(context, id, options), onRun(retryFieldFlags)))

  const halt = program
    .command('halt')
    .description('halt the deployment (kill switch): pause every active run, refuse starts, resumes and retries until lifted')
    .option('--reason-code <code>', `${REASON_CODES} (required)`)
    .option('--reason <text>', 'why, 10 to 500 characters (required)')
    .action(
      action(
        (context, options: ReasonOptions) => {
          if (options.reasonCode === undefined || options.reason === undefined) {
            throw new UsageError('halt needs --reason-code CODE and --reason TEXT (rcp halt status shows the halt)')
          }
          return engageHalt(context, { reasonCode: options.reasonCode, reason: options.reason })
        },
        { fieldFlags: reasonFieldFlags },
      ),
    )
  halt
    .command('status')
    .description('whether the deployment is halted, why, by whom, since when')
    .action(action((context) => showHalt(context)))

  reasonOptions(
    program.command('unhalt').description('lift the halt: starts are accepted again; paused runs stay paused until resumed'),
    true,
  ).action(action((context, options: Required<ReasonOptions>) => liftHalt(context, options), { fieldFlags: reasonFieldFlags }))

  const approvalHint = (runId: string | undefined): ExecuteOptions => ({
    runId,
    fieldFlags: { comment: '--comment', ...reasonFieldFlags },
    forbiddenHint: 'the operator who started a run cannot approve or reject it: a second operator must',
  })
  program
    .command('approve')
    .argument('<run>', 'id of a run awaiting approval')
    .description('approve a run another operator started (four eyes): it is queued and proceeds')
    .option('--comment <text>', 'a comment recorded with the approval (at most 500 characters)')
    .action(action((context, id: string, options: { comment?: string }) => approveRun(context, id, options), approvalHint))

  reasonOptions(
    program.command('reject').argument('<run>', 'id of a run awaiting approval').description('reject a run another operator started: it completes rejected, nothing repaired'),
    true,
  ).action(action((context, id: string, options: Required<ReasonOptions>) => rejectRun(context, id, options), approvalHint))

  const approvals = program
    .command('approvals')
    .description('which starts need a second operator to approve: none, all_tenants or all')
    .action(action((context) => showApprovalSettings(context)))
  approvals
    .command('set')
    .argument('<required>', 'none | all_tenants | all')
    .description('set which starts need approval (platform.operators.manage)')
    .action(action((context, required: string) => setApprovalSettings(context, required), { fieldFlags: { required: 'none|all_tenants|all' } }))

  const audit = program
    .command('audit')
    .description('audit log, newest first')
    .option('--action <action>', 'e.g. platform.ops.runbooks.start')
    .option('--operator <operator>', "only this operator's entries: their id or email")
    .option('--run <run>', 'only the entries about this run')
    .option('--limit <n>', 'page size', positiveInteger('--limit'))
    .option('--cursor <cursor>', 'the next page, as printed under the previous one')
    .action(action((context, options: AuditOptions) => listAudit(context, options), { fieldFlags: auditFieldFlags }))
  audit
    .command('verify')
    .description("recompute the audit log's hash chain; exit 7 naming the first broken entry when an entry was altered, deleted or inserted")
    .action(action((context) => verifyAudit(context)))

  const admin = program.command('admin').description('administration of the deployment')
  admin
    .command('rebuild')
    .description(
      'rebuild every read model from the event store into new tables and switch to them while the service answers; prints each table\'s checksum before and after (platform.operators.manage)',
    )
    .action(action((context) => rebuildProjections(context)))

  return program
}

/** Runs the CLI on `argv` (the arguments after the program name) and resolves to its exit code. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  let exitCode: ExitCode = exitCodes.ok
  const program = buildProgram(io, (code) => {
    exitCode = code
  })
  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (error) {
    // Commander already printed its message (usage errors) or the help text.
    if (error instanceof CommanderError) return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage
    throw error
  }
  return exitCode
}

/** Output piped into a reader that stopped (`rcp runs | head`) ends the CLI quietly (exit 0), as Unix tools do. */
export function endQuietlyWhenOutputCloses(): void {
  for (const output of [process.stdout, process.stderr]) {
    output.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0)
      throw error
    })
  }
}

function isEntryPoint(): boolean {
  const invoked = process.argv[1]
  if (!invoked) return false
  try {
    return realpathSync(invoked) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  endQuietlyWhenOutputCloses()
  process.exitCode = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    stdin: process.stdin,
  })
}
