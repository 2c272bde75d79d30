import type { FailureReasonCode } from '../events/index.js'
import { sanitizeFailureMessage } from '../commands/run/failure-message.js'
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
  message: string
}

const CONNECTION_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED'])

/** Maps whatever a tenant job threw to a stable reason code (SPEC §3), with a message safe to store anywhere. */
export function classifyFailure(error: unknown): ClassifiedFailure {
  const message = sanitizeFailureMessage(error instanceof Error ? error.message : String(error))
  if (error instanceof RunbookDataError) return { reasonCode: 'INVALID_DATA', transient: false, message }
  if (error instanceof TenantNotAllowedError) return { reasonCode: 'TENANT_NOT_ALLOWED', transient: false, message }
  const code = (error as { code?: unknown } | null)?.code
  if (code === '55P03') return { reasonCode: 'TENANT_LOCKED', transient: true, message: 'the tenant is being repaired by another run' }
  if (code === '57014') return { reasonCode: 'TIMEOUT', transient: true, message: 'the tenant repair exceeded its statement timeout' }
  if (typeof code === 'string' && (CONNECTION_ERRORS.has(code) || /^[0-9A-Z]{5}$/.test(code))) {
    return { reasonCode: 'DB_ERROR', transient: true, message }
  }
  return { reasonCode: 'UNKNOWN', transient: true, message }
}
