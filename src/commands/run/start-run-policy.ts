import type { RunReason, RunScope } from '../../events/index.js'
import { hiddenCharacterProblems } from '../visible-text.js'
import { capabilities } from '../../auth/capabilities.js'
import { requireCapabilities } from '../actor.js'
import { ValidationError, type FieldProblem } from '../errors.js'

/** The capability every start needs, besides the runbook's own. */
export const RUN_CAPABILITY = capabilities.runbooksRun
export const REASON_TEXT_MIN = 10
export const REASON_TEXT_MAX = 500
export const REASON_CODES = ['DATA_REPAIR', 'INCIDENT', 'SUPPORT', 'SECURITY'] as const

export interface StartRunRequest {
  runbookKey: string
  runbookCapability: string
  scope: RunScope
  tenantId: number | null
  confirmation: string
  reason: { code: string; text: string } | null
  operatorCapabilities: readonly string[]
  operatorIsBreakGlass: boolean
}

/** SPEC §3 "Starting a run requires": the capabilities, a typed confirmation and, where required, a reason. */
export function checkStartRunPolicy(request: StartRunRequest): void {
  requireCapabilities({ capabilities: request.operatorCapabilities }, [RUN_CAPABILITY, request.runbookCapability])

  const problems: FieldProblem[] = []
  if (request.scope === 'single_tenant' && request.tenantId === null) {
    problems.push({ field: 'tenantId', message: 'is required for a single-tenant run' })
  }
  if (request.scope === 'all_tenants' && request.tenantId !== null) {
    problems.push({ field: 'tenantId', message: 'must be omitted for an all-tenants run' })
  }
  if (request.confirmation !== request.runbookKey) {
    problems.push({ field: 'confirmation', message: `must be exactly the runbook key "${request.runbookKey}"` })
  }
  const reasonRequired = request.scope === 'all_tenants' || request.operatorIsBreakGlass
  const why = request.operatorIsBreakGlass ? 'every run by a break-glass operator' : 'a run on all tenants'
  problems.push(...reasonProblems(request.reason, reasonRequired ? why : null))
  if (problems.length > 0) throw new ValidationError(problems)
}

/**
 * The reason rules (SPEC §3): a code of REASON_CODES and a text of 10 to 500 characters. `requiredFor`
 * names why a missing reason is refused, or is null when the reason is optional.
 */
export function reasonProblems(reason: { code: string; text: string } | null, requiredFor: string | null): FieldProblem[] {
  if (reason === null) return requiredFor === null ? [] : [{ field: 'reason', message: `is required for ${requiredFor}` }]
  const problems: FieldProblem[] = []
  if (!(REASON_CODES as readonly string[]).includes(reason.code)) {
    problems.push({ field: 'reason.code', message: `must be one of ${REASON_CODES.join(', ')}` })
  }
  const length = [...reason.text.trim()].length
  if (length < REASON_TEXT_MIN || length > REASON_TEXT_MAX) {
    problems.push({ field: 'reason.text', message: `must be ${REASON_TEXT_MIN} to ${REASON_TEXT_MAX} characters (got ${length})` })
  } else problems.push(...hiddenCharacterProblems('reason.text', reason.text, 'text'))
  return problems
}

/** A checked reason as events store it (text trimmed), or null when none was given. */
export function checkedReason(reason: { code: string; text: string } | null, requiredFor: string | null): RunReason | null {
  const problems = reasonProblems(reason, requiredFor)
  if (problems.length > 0) throw new ValidationError(problems)
  return reason ? { reasonCode: reason.code as RunReason['reasonCode'], reasonText: reason.text.trim() } : null
}
