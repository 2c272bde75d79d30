import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { execute, type ExecuteOptions, type GlobalOptions } from './command-context.js'
import type { CommandContext } from './command-context.js'
import { login, logout } from './commands/auth-commands.js'
import { listRunbooks, listTenants, preflight } from './commands/catalog-commands.js'
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
import { startFieldFlags, startRun, type StartOptions } from './commands/start-command.js'
import { targetFieldFlags, type TargetOptions } from './commands/target.js'
import { exitCodes, type ExitCode } from './exit-codes.js'
import type { CliIo } from './io.js'

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

const EXIT_CODES_HELP = `
Exit codes:
  0  done (a followed run succeeded)
  1  a followed run completed partially_succeeded, failed or blocked
  2  bad arguments or values refused by the service (4xx)
  3  start: an identical run is already active (its id is printed)
  4  not logged in, token rejected, or a missing capability (401/403)
  5  service unreachable or failing (network error, 5xx)

Environment: RCP_URL (service URL), RCP_TOKEN (overrides the stored token),
RCP_CONFIG (credentials file, default ~/.config/rcp/credentials.json).`

function buildProgram(io: CliIo, finish: (code: ExitCode) => void): Command {
  const program = new Command('rcp')
    .description('Operator CLI of the runbook control plane: catalog, preflight, start and follow runs, history, audit.')
    .option('--url <url>', 'service URL (default: $RCP_URL, else the URL you logged in to, else http://localhost:8080)')
    .option('--json', 'print the raw JSON of the API instead of text')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)

  /** Each action resolves the global options, runs its body through `execute`, and records the exit code. */
  const action =
    <Args extends unknown[]>(body: (context: CommandContext, ...args: Args) => Promise<ExitCode>, options?: ExecuteOptions) =>
    async (...received: unknown[]) => {
      const command = received[received.length - 1] as Command
      const args = received.slice(0, -1) as Args
      finish(await execute(io, command.optsWithGlobals<GlobalOptions>(), (context) => body(context, ...args), options))
    }

  const targetOptions = (command: Command) =>
    command
      .addOption(new Option('--all-tenants', 'every tenant of the allowed universe').conflicts('tenant'))
      .addOption(new Option('--tenant <id>', 'one tenant (ids: rcp tenants)').argParser(positiveInteger('--tenant')))

  program
    .command('login')
    .description('log in and store an API token (password from --password-stdin or a hidden prompt)')
    .requiredOption('--email <email>', 'operator email')
    .option('--password-stdin', 'read the password from stdin instead of prompting')
    .action(action((context, options: { email: string; passwordStdin?: boolean }) => login(context, options), { suppressLoginHint: true }))

  program
    .command('logout')
    .description('delete the stored token')
    .action(action((context) => logout(context)))

  program
    .command('runbooks')
    .description('list the runbook catalog')
    .action(action((context) => listRunbooks(context)))

  program
    .command('tenants')
    .description('list the tenants runbooks can target')
    .option('--q <text>', 'filter by name (case-insensitive substring)')
    .action(action((context, options: { q?: string }) => listTenants(context, options)))

  targetOptions(program.command('preflight').argument('<key>', 'runbook key').description('what a runbook would change, without changing anything'))
    .action(action((context, key: string, options: TargetOptions) => preflight(context, key, options), { fieldFlags: targetFieldFlags }))

  targetOptions(program.command('start').argument('<key>', 'runbook key').description('start a run; prints its id'))
    .requiredOption('--confirm <key>', 'type the runbook key again to confirm')
    .option('--reason-code <code>', 'DATA_REPAIR | INCIDENT | SUPPORT | SECURITY (required for all tenants)')
    .option('--reason <text>', 'why, 10 to 500 characters (required for all tenants)')
    .option('--follow', 'poll the run until it completes; exit 0 only if it succeeded')
    .action(action((context, key: string, options: StartOptions) => startRun(context, key, options), { fieldFlags: startFieldFlags }))

  program
    .command('runs')
    .description('run history, newest first')
    .option('--status <status>', 'queued | running | completed')
    .option('--outcome <outcome>', 'pending | succeeded | partially_succeeded | failed | blocked')
    .option('--runbook <key>', 'runbook key')
    .option('--tenant <id>', 'single-tenant runs of this tenant', positiveInteger('--tenant'))
    .option('--limit <n>', 'page size', positiveInteger('--limit'))
    .option('--cursor <cursor>', 'the next page, as printed under the previous one')
    .action(action((context, options: RunsOptions) => listRuns(context, options), { fieldFlags: runsFieldFlags }))

  program
    .command('run')
    .argument('<id>', 'run id')
    .description('one run: status, outcome, counts, failures')
    .action(action((context, id: string) => showRun(context, id)))

  program
    .command('events')
    .argument('<id>', 'run id')
    .description("the run's event stream, in order")
    .action(action((context, id: string) => showEvents(context, id)))

  program
    .command('audit')
    .description('audit log, newest first')
    .option('--action <action>', 'e.g. platform.ops.runbooks.start')
    .option('--limit <n>', 'page size', positiveInteger('--limit'))
    .option('--cursor <cursor>', 'the next page, as printed under the previous one')
    .action(action((context, options: AuditOptions) => listAudit(context, options), { fieldFlags: auditFieldFlags }))

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
  process.exitCode = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    stdin: process.stdin,
  })
}
