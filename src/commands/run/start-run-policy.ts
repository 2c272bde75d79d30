import type { RunScope } from '../../events/index.js'
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
  if (request.reason === null) {
    if (reasonRequired) {
      const why = request.operatorIsBreakGlass ? 'every run by a break-glass operator' : 'a run on all tenants'
      problems.push({ field: 'reason', message: `is required for ${why}` })
    }
  } else {
    if (!(REASON_CODES as readonly string[]).includes(request.reason.code)) {
      problems.push({ field: 'reason.code', message: `must be one of ${REASON_CODES.join(', ')}` })
    }
    const length = [...request.reason.text.trim()].length
    if (length < REASON_TEXT_MIN || length > REASON_TEXT_MAX) {
      problems.push({
        field: 'reason.text',
        message: `must be ${REASON_TEXT_MIN} to ${REASON_TEXT_MAX} characters (got ${length})`,
      })
    }
  }
  if (problems.length > 0) throw new ValidationError(problems)
}
