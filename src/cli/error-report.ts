import { ApiError, NetworkError } from './api-client.js'
import { exitCodes, InterruptedError, UsageError, type ExitCode } from './exit-codes.js'
import { printable } from './format.js'
import type { CliIo } from './io.js'

/**
 * How a failed command ends: the message on stderr (or, with `--json`, the problem document on stdout),
 * and the exit code scripts branch on. Nothing here prints request headers, so the token never shows.
 */

export interface ErrorReportContext {
  io: CliIo
  json: boolean
  /** The URL the command talked to, for the login hint. */
  baseUrl?: string
  /** The API's field names as this command's options (`confirmation` → `--confirm`), for the field lines. */
  fieldFlags?: Record<string, string>
  /** A 401 from `rcp login` is a wrong password, not a missing login: no hint to log in. */
  suppressLoginHint?: boolean
  /** The run a command is about: a 404 then means there is no such run, a 409 names the state it is in. */
  runId?: string
  /** Whether the command sent a token: a 401 then means it was rejected, not missing. */
  sentToken?: boolean
  /** The hint for a 403 that names no missing capability (a rule, not a capability: approving one's own run). */
  forbiddenHint?: string
  /** The hint for a 404 of a command about something other than a run (an expired preview). */
  notFoundHint?: string
}

export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return exitCodes.access
  if (status === 423) return exitCodes.halted
  if (status >= 400 && status < 500) return exitCodes.usage
  return exitCodes.unavailable
}

export function reportError(error: unknown, context: ErrorReportContext): ExitCode {
  const { io } = context
  const line = (text: string) => io.stderr.write(`${text}\n`)

  if (error instanceof ApiError) {
    if (context.json) io.stdout.write(`${JSON.stringify(error.problem)}\n`)
    else {
      const detail = error.status === 404 && context.runId !== undefined ? `no run ${context.runId}` : error.problem.detail
      line(`error: ${printable(detail)}`)
      for (const problem of error.problem.errors ?? []) {
        const flag = flagFor(problem.field, context.fieldFlags)
        line(`  ${printable(problem.field)}${flag ? ` (${flag})` : ''}: ${printable(problem.message)}`)
      }
    }
    for (const hint of hintsFor(error, context)) line(`hint: ${hint}`)
    return exitCodeForStatus(error.status)
  }
  if (error instanceof NetworkError) {
    line(`error: ${printable(error.message)}`)
    line('hint: is the service running? Point the CLI at it with --url or $RCP_URL.')
    return exitCodes.unavailable
  }
  if (error instanceof UsageError) {
    line(`error: ${printable(error.message)}`)
    return exitCodes.usage
  }
  if (error instanceof InterruptedError) {
    line('interrupted')
    return exitCodes.interrupted
  }
  line(`error: ${printable(error instanceof Error ? error.message : error)}`)
  return exitCodes.unavailable
}

/**
 * The option that fills an API field: its own entry, else that of its longest prefix `a.` (an entry whose
 * key ends in a dot), with the rest of the field appended: `parameters.slaDays.critical` → `--param slaDays.critical`.
 */
export function flagFor(field: string, fieldFlags: Record<string, string> | undefined): string | undefined {
  if (!fieldFlags || typeof field !== 'string') return undefined
  if (Object.hasOwn(fieldFlags, field)) return fieldFlags[field]
  for (let end = field.lastIndexOf('.'); end > 0; end = field.lastIndexOf('.', end - 1)) {
    const prefix = field.slice(0, end + 1)
    if (Object.hasOwn(fieldFlags, prefix)) return `${fieldFlags[prefix]} ${printable(field.slice(end + 1))}`
  }
  return undefined
}

function hintsFor(error: ApiError, context: ErrorReportContext): string[] {
  const url = context.baseUrl ? ` --url ${context.baseUrl}` : ''
  if (error.status === 401 && !context.suppressLoginHint) {
    const login = `log in first: rcp login${url} --email <your email> (or set $RCP_TOKEN)`
    if (!context.sentToken) return [login]
    return [
      'the token was refused: it expired, or was revoked (rcp logout, a password change, or the operator was disabled)',
      login,
    ]
  }
  if (error.status === 403) {
    const missing = error.problem.missingCapabilities
    if (!(Array.isArray(missing) && missing.length > 0) && context.forbiddenHint) return [context.forbiddenHint]
    const needs = Array.isArray(missing) && missing.length > 0 ? ` with ${missing.map(printable).join(', ')}` : ''
    return [`this operator lacks a capability; rcp login${url} as an operator${needs}`]
  }
  if (error.status === 404 && context.runId !== undefined) return ['rcp runs lists the runs']
  if (error.status === 404 && context.notFoundHint !== undefined) return [context.notFoundHint]
  if (error.status === 409 && context.runId !== undefined && typeof error.problem.state === 'string') {
    return [`the run is ${printable(error.problem.state)}: rcp run ${printable(context.runId)} shows it`]
  }
  if (error.status === 423) {
    return ['rcp halt status shows who halted the deployment and why; rcp unhalt --reason-code CODE --reason TEXT lifts it (platform.ops.halt)']
  }
  if (error.status === 429 && typeof error.problem.retryAfterSeconds === 'number') {
    return [`retry in ${error.problem.retryAfterSeconds} s`]
  }
  return []
}
