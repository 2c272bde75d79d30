import type { Operator, UpdateOperatorRequest } from '../api-client.js'
import type { CommandContext } from '../command-context.js'
import { exitCodes, UsageError, type ExitCode } from '../exit-codes.js'
import { formatOperator, formatOperators, printable } from '../format.js'
import { promptHiddenPassword, readNewPassword, readPasswordLinesFromStdin } from '../password-input.js'

/**
 * Operators managed in the product (SPEC §10): `rcp operators …` (platform.operators.manage), `rcp me` and
 * `rcp password`. Passwords are read like `rcp login` reads one — piped with `--password-stdin` or typed at
 * a hidden prompt — never taken as an argument, and never printed.
 */

/** The API's field names as these commands' options, so a 422 names what to fix. */
export const operatorFieldFlags: Record<string, string> = {
  email: '--email',
  name: '--name',
  capabilities: '--capability',
  isBreakGlass: '--break-glass',
  password: 'the password',
  currentPassword: 'the current password',
}

/** `OPERATOR` is an id, or an email (looked up in the list). */
export async function resolveOperatorId(context: CommandContext, operator: string): Promise<string> {
  if (!operator.includes('@')) return operator
  const wanted = operator.toLowerCase()
  const found = (await context.client.listOperators()).items.find((o) => o.email.toLowerCase() === wanted)
  if (!found) throw new UsageError(`no operator with the email ${printable(operator)} (rcp operators list shows them)`)
  return found.id
}

function printOperator(context: CommandContext, operator: Operator, headline: string): void {
  if (context.json) context.printJson(operator)
  else {
    context.print(headline)
    context.print(formatOperator(operator))
  }
}

export async function listOperators(context: CommandContext): Promise<ExitCode> {
  const page = await context.client.listOperators()
  if (context.json) context.printJson(page)
  else context.print(formatOperators(page.items))
  return exitCodes.ok
}

export interface CreateOperatorOptions {
  email: string
  name: string
  capability?: string[]
  breakGlass?: boolean
  passwordStdin?: boolean
}

export async function createOperator(context: CommandContext, options: CreateOperatorOptions): Promise<ExitCode> {
  const password = await readNewPassword(context.io.stdin, context.io.stderr, {
    fromStdin: options.passwordStdin === true,
    prompt: `Password for ${printable(options.email)}: `,
  })
  const operator = await context.client.createOperator({
    email: options.email,
    name: options.name,
    password,
    capabilities: options.capability ?? [],
    ...(options.breakGlass ? { isBreakGlass: true } : {}),
  })
  printOperator(context, operator, `Operator ${printable(operator.email)} created: ${printable(operator.id)}`)
  return exitCodes.ok
}

export interface UpdateOperatorOptions {
  name?: string
  capability?: string[]
  breakGlass?: boolean
}

export async function updateOperator(context: CommandContext, operator: string, options: UpdateOperatorOptions): Promise<ExitCode> {
  const change: UpdateOperatorRequest = {}
  if (options.name !== undefined) change.name = options.name
  if (options.capability !== undefined) change.capabilities = options.capability
  if (options.breakGlass !== undefined) change.isBreakGlass = options.breakGlass
  if (Object.keys(change).length === 0) {
    throw new UsageError('give --name, --capability (repeatable; replaces the set) or --break-glass/--no-break-glass')
  }
  const updated = await context.client.updateOperator(await resolveOperatorId(context, operator), change)
  printOperator(context, updated, `Operator ${printable(updated.email)} updated`)
  return exitCodes.ok
}

export async function setOperatorDisabled(context: CommandContext, operator: string, disabled: boolean): Promise<ExitCode> {
  const updated = await context.client.updateOperator(await resolveOperatorId(context, operator), { disabled })
  const headline = disabled
    ? `Operator ${printable(updated.email)} disabled: every token and console session of theirs ended`
    : `Operator ${printable(updated.email)} enabled: they can log in again`
  printOperator(context, updated, headline)
  return exitCodes.ok
}

export async function setOperatorPassword(context: CommandContext, operator: string, options: { passwordStdin?: boolean }): Promise<ExitCode> {
  const id = await resolveOperatorId(context, operator)
  const password = await readNewPassword(context.io.stdin, context.io.stderr, {
    fromStdin: options.passwordStdin === true,
    prompt: `New password for ${printable(operator)}: `,
  })
  const updated = await context.client.setOperatorPassword(id, password)
  printOperator(context, updated, `Password of ${printable(updated.email)} set: every token and console session of theirs ended`)
  return exitCodes.ok
}

export async function showMe(context: CommandContext): Promise<ExitCode> {
  const operator = await context.client.me()
  if (context.json) context.printJson(operator)
  else context.print(formatOperator(operator))
  return exitCodes.ok
}

/**
 * Changes one's own password: the current one, then the new one (typed twice at a terminal, or two lines
 * on stdin). Every token of the operator ends, the stored one too: log in again.
 */
export async function changeOwnPassword(context: CommandContext, options: { passwordStdin?: boolean }): Promise<ExitCode> {
  const { io } = context
  let current: string
  let next: string
  if (options.passwordStdin) {
    ;[current, next] = await readPasswordLinesFromStdin(io.stdin, ['the current password', 'the new one'])
  } else {
    current = await promptHiddenPassword(io.stdin, io.stderr, 'Current password: ')
    next = await readNewPassword(io.stdin, io.stderr, { fromStdin: false, prompt: 'New password: ' })
  }
  const result = await context.client.changeOwnPassword(current, next)
  if (context.json) context.printJson(result)
  else context.print('Password changed: every token and console session of yours ended, this one too; log in again (rcp login).')
  return exitCodes.ok
}
