import type { FailureReasonCode } from '../events/index.js'
import { CONNECTION_ERROR_CODES, describeFailure, failureCodeOf } from '../commands/run/failure-message.js'
import { RunbookDataError } from '../runbooks/runbook.js'

export class TenantNotAllowedError extends Error {
  constructor(readonly tenantId: number) {
    super(`tenant ${tenantId} left the allowed universe (archived, platform or deleted) before it was repaired`)
    this.name = 'TenantNotAllowedError'
  }
}

export interface ClassifiedFailure {
  reasonCode: FailureReasonCode
  /** Worth another attempt: the same job may succeed later. */
  transient: boolean
  /** Built from a fixed vocabulary (SPEC §3): never a copy of the error's text. */
  message: string
}

function classify(error: unknown): Omit<ClassifiedFailure, 'message'> {
  if (error instanceof RunbookDataError) return { reasonCode: 'INVALID_DATA', transient: false }
  if (error instanceof TenantNotAllowedError) return { reasonCode: 'TENANT_NOT_ALLOWED', transient: false }
  const code = failureCodeOf(error)
  if (code === '55P03') return { reasonCode: 'TENANT_LOCKED', transient: true }
  if (code === '57014') return { reasonCode: 'TIMEOUT', transient: true }
  if (code !== undefined && (CONNECTION_ERROR_CODES.has(code) || /^[0-9A-Z]{5}$/.test(code))) {
    return { reasonCode: 'DB_ERROR', transient: true }
  }
  return { reasonCode: 'UNKNOWN', transient: true }
}

/** Maps whatever a tenant job threw to a stable reason code (SPEC §3), with a message safe to store anywhere. */
export function classifyFailure(error: unknown): ClassifiedFailure {
  const classified = classify(error)
  return { ...classified, message: describeFailure(error, classified.reasonCode) }
}
