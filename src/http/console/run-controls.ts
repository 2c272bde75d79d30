import { missingCapabilities } from '../../auth/capabilities.js'
import { InvalidTransitionError, type FieldProblem } from '../../commands/errors.js'
import { runControlCapabilities } from '../../commands/run-control.js'
import type { RunbookCatalog } from '../../runbooks/catalog.js'
import { allowedControls } from '../../commands/run/allowed-controls.js'
import type { RunStatus } from '../../events/index.js'
import { findUnsafeText } from '../../events/safe-text.js'
import type { RunDetail } from '../../projections/queries.js'
import type { RunAction } from './console-env.js'

/**
 * The run page's control forms (SPEC §9) as the console reads them. The rules are the commands'
 * (src/commands/run-control.ts, retryRun): this module only turns form text into their input, and says
 * which forms a run's state makes worth showing — the server refuses the others whatever the page showed.
 */

/** The fields of every control form, as typed, kept to show a refused form again. */
export interface ControlFormValues {
  reasonCode: string
  reasonText: string
  confirmation: string
  maxConcurrency: string
  maxFailures: string
}

export const emptyControlForm: ControlFormValues = { reasonCode: '', reasonText: '', confirmation: '', maxConcurrency: '', maxFailures: '' }

const FIELD_LIMITS: Record<keyof ControlFormValues, number> = {
  reasonCode: 50,
  reasonText: 2000,
  confirmation: 200,
  maxConcurrency: 20,
  maxFailures: 20,
}

/** What a refused control left to show: which form, what was typed, why it was refused. */
export interface ControlAttempt {
  action: RunAction
  values: ControlFormValues
  /** Field problems (422), shown beside their fields. */
  problems: FieldProblem[]
  /** A refusal of the whole request (409 state, 423 halted), shown above the controls. */
  message?: string
  /** A retry of this run that is already active (409). */
  activeRunId?: string
}

/** The word the cancel form asks to be typed: the console's own guard against a stray click. */
export const CANCEL_CONFIRMATION = 'cancel'

export function readControlForm(body: Record<string, unknown>): ControlFormValues {
  const text = (name: keyof ControlFormValues) => {
    const value = body[name]
    return typeof value === 'string' ? value.slice(0, FIELD_LIMITS[name]) : ''
  }
  return {
    reasonCode: text('reasonCode'),
    reasonText: text('reasonText'),
    confirmation: text('confirmation'),
    maxConcurrency: text('maxConcurrency'),
    maxFailures: text('maxFailures'),
  }
}

/** Text the database could not store, refused before any command (as the start form does). */
export function unsafeFieldProblems(values: ControlFormValues): FieldProblem[] {
  const fields: Record<string, string> = { reasonCode: 'reason.code', reasonText: 'reason.text', maxConcurrency: 'limits.maxConcurrency', maxFailures: 'limits.maxFailures' }
  return findUnsafeText(values).map((field) => ({ field: fields[field] ?? field, message: 'contains characters that cannot be stored' }))
}

/** The form's reason for a command: none when both fields are empty; otherwise the command checks it. */
export function reasonOf(values: ControlFormValues): { code: string; text: string } | null {
  return values.reasonCode === '' && values.reasonText.trim() === '' ? null : { code: values.reasonCode, text: values.reasonText }
}

const INTEGER = /^\s*-?\d{1,12}\s*$/

/**
 * The limits form as `changeRunLimits` input: an empty max concurrency leaves it unchanged, an empty max
 * failures means no limit. Only "is it a whole number" is the form's to say; the ranges are the command's.
 */
export function limitsOf(values: Pick<ControlFormValues, 'maxConcurrency' | 'maxFailures'>): { limits: { maxConcurrency?: number; maxFailures: number | null } } | { problems: FieldProblem[] } {
  const problems: FieldProblem[] = []
  let maxConcurrency: number | undefined
  if (values.maxConcurrency.trim() !== '') {
    if (INTEGER.test(values.maxConcurrency)) maxConcurrency = Number(values.maxConcurrency)
    else problems.push({ field: 'limits.maxConcurrency', message: 'must be a whole number' })
  }
  let maxFailures: number | null = null
  if (values.maxFailures.trim() !== '') {
    if (INTEGER.test(values.maxFailures)) maxFailures = Number(values.maxFailures)
    else problems.push({ field: 'limits.maxFailures', message: 'must be a whole number, or empty for no limit' })
  }
  if (problems.length > 0) return { problems }
  return { limits: { ...(maxConcurrency !== undefined ? { maxConcurrency } : {}), maxFailures } }
}

export function mayControlRun(catalog: RunbookCatalog, operatorCapabilities: readonly string[], runbookKey: string): boolean {
  return missingCapabilities(operatorCapabilities, runControlCapabilities(catalog, runbookKey)).length === 0
}

/** The controls the page offers for a run: those its state accepts (src/commands/run/allowed-controls.ts). */
export function availableActions(run: Pick<RunDetail, 'status' | 'cancellation' | 'tenantCounts'>): RunAction[] {
  return allowedControls({ status: run.status as RunStatus, cancelling: run.cancellation !== null, failedTenants: run.tenantCounts.failed })
}

const refusedAs: Record<RunAction, string> = {
  pause: 'it cannot be paused',
  resume: 'it cannot be resumed',
  cancel: 'it cannot be cancelled',
  limits: 'its limits cannot be changed',
  retry: 'its failed tenants cannot be retried',
}

/** A 409 of a control, naming the state the run is in. */
export function describeStateConflict(action: RunAction, error: InvalidTransitionError): string {
  return `The run is ${error.state.replaceAll('_', ' ')}, so ${refusedAs[action]}. Nothing was changed; the page shows the run as it is now.`
}
