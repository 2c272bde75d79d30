import type { PlanComparison } from './plan/plan-drift.js'

/**
 * Typed domain errors. The HTTP layer maps each class to a status in one place (src/http/problem.ts);
 * workers map them to failure reason codes.
 */
export interface FieldProblem {
  field: string
  message: string
}

export class DomainError extends Error {
  constructor(message: string) {
    super(message)
    this.name = new.target.name
  }
}

/** The request is well-formed but its values break a rule (422). */
export class ValidationError extends DomainError {
  constructor(readonly fields: FieldProblem[]) {
    super(fields.map((f) => `${f.field}: ${f.message}`).join('; '))
  }
}

/** The operator lacks a capability, or a rule forbids this operator the command (403). */
export class ForbiddenError extends DomainError {
  constructor(
    readonly missingCapabilities: string[],
    reason?: string,
  ) {
    super(reason ?? `missing capability: ${missingCapabilities.join(', ')}`)
  }
}

/** The command conflicts with the current state of something other than a run (409). */
export class ConflictError extends DomainError {}

export class NotFoundError extends DomainError {
  constructor(
    readonly resource: 'runbook' | 'run' | 'tenant' | 'operator' | 'preflight' | 'alert destination',
    readonly id: string,
  ) {
    super(`unknown ${resource}: ${id}`)
  }
}

/** A run with the same identity is queued or running (409, carrying that run's id). */
export class ActiveRunExistsError extends DomainError {
  constructor(readonly runId: string) {
    super(`an identical run is already active: ${runId}`)
  }
}

/** A command that the current state does not allow: rejected, never silently applied. */
export class InvalidTransitionError extends DomainError {
  constructor(
    readonly command: string,
    readonly state: string,
    subject = 'the run',
  ) {
    super(`${command} is not allowed when ${subject} is ${state}`)
  }
}

/** The deployment is halted (SPEC §9): starts, resumes and approvals are refused (423 `HALTED`). */
export class HaltedError extends DomainError {
  readonly code = 'HALTED'
  constructor(readonly attempted: string) {
    super(`the deployment is halted: cannot ${attempted} until the halt is lifted`)
  }
}

/**
 * SPEC §11: a start pinned to a preview found the data moved beyond its tolerance (409 `PLAN_DRIFTED`),
 * carrying what changed; nothing was appended.
 */
export class PlanDriftedError extends DomainError {
  readonly code = 'PLAN_DRIFTED'
  constructor(readonly comparison: PlanComparison) {
    super('the data changed since the pinned preview beyond the tolerance: preview again and start from the new plan')
  }
}
