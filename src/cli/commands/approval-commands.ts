import type { CommandContext } from '../command-context.js'
import { exitCodes, UsageError, type ExitCode } from '../exit-codes.js'
import { formatApprovalSettings, formatControlled } from '../format.js'
import type { ReasonOptions } from './control-options.js'

/**
 * Approvals, four eyes (SPEC §10): `rcp approve`, `rcp reject` (another operator than the one who started
 * the run, 403 otherwise), and `rcp approvals [set none|all_tenants|all]`.
 */

export const APPROVAL_POLICIES = ['none', 'all_tenants', 'all'] as const

export async function approveRun(context: CommandContext, id: string, options: { comment?: string }): Promise<ExitCode> {
  const run = await context.client.approveRun(id, options.comment)
  if (context.json) context.printJson(run)
  else context.print(formatControlled('approve', run))
  return exitCodes.ok
}

export async function rejectRun(context: CommandContext, id: string, options: Required<ReasonOptions>): Promise<ExitCode> {
  const run = await context.client.rejectRun(id, { code: options.reasonCode, text: options.reason })
  if (context.json) context.printJson(run)
  else context.print(formatControlled('reject', run))
  return exitCodes.ok
}

export async function showApprovalSettings(context: CommandContext): Promise<ExitCode> {
  const settings = await context.client.getApprovalSettings()
  if (context.json) context.printJson(settings)
  else context.print(formatApprovalSettings(settings))
  return exitCodes.ok
}

export async function setApprovalSettings(context: CommandContext, required: string): Promise<ExitCode> {
  if (!(APPROVAL_POLICIES as readonly string[]).includes(required)) {
    throw new UsageError(`approvals set: expected ${APPROVAL_POLICIES.join(', ')}, got "${required}"`)
  }
  const settings = await context.client.setApprovalSettings(required)
  if (context.json) context.printJson(settings)
  else context.print(formatApprovalSettings(settings))
  return exitCodes.ok
}
