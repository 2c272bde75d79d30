import type { FieldProblem } from '../../commands/errors.js'
import { DEFAULT_MAX_DRIFT_PERCENT } from '../../commands/plan/plan-drift.js'
import type { CanaryRequest } from '../../commands/plan/canary.js'
import type { StartRunInput } from '../../commands/start-run.js'
import { runScopeSchema } from '../../events/index.js'
import { findUnsafeText } from '../../events/safe-text.js'
import { parametersFromFields, readParameterFields, type ParameterNode } from './parameter-form.js'
import { limitsOf } from './run-controls.js'
import { parseTenantReference } from './tenant-reference.js'

/** The start form's fields as the operator typed them, kept to show the form again after an error. */
export interface StartFormValues {
  scope: string
  tenant: string
  confirmation: string
  reasonCode: string
  reasonText: string
  /** The `param.<path>` fields as typed, by path (`slaDays.critical`); a field not sent shows its default. */
  parameters: Record<string, string>
  /** SPEC §11: the preview the start is pinned to (the hidden field the script fills after a preflight); '' for none. */
  preflightId: string
  /** "Allowed drift (%)" as typed; read only for a pinned start ('' takes the command's default). */
  maxDriftPercent: string
  /** SPEC §11 canary: `none`, `count` ("the N smallest tenants") or `tenants` ("these tenant ids"). */
  canaryMode: string
  /** The number of smallest tenants, as typed; read only when `canaryMode` is `count`. */
  canaryCount: string
  /** Tenant ids separated by commas, as typed; read only when `canaryMode` is `tenants`. */
  canaryTenants: string
  /** "Go on by itself once the canary succeeded": the checkbox's value (`on`), '' when unticked. */
  canaryAutoPromote: string
  /** SPEC §9 limits as typed: '' takes the default (the deployment's worker capacity; no failure limit). */
  maxConcurrency: string
  maxFailures: string
}

/** What "Allowed drift (%)" shows before the operator types anything: the command's default. */
export const DEFAULT_DRIFT_FIELD = String(DEFAULT_MAX_DRIFT_PERCENT)

export const emptyStartForm: StartFormValues = {
  scope: 'all_tenants',
  tenant: '',
  confirmation: '',
  reasonCode: '',
  reasonText: '',
  parameters: {},
  preflightId: '',
  maxDriftPercent: DEFAULT_DRIFT_FIELD,
  canaryMode: 'none',
  canaryCount: '',
  canaryTenants: '',
  canaryAutoPromote: '',
  maxConcurrency: '',
  maxFailures: '',
}

type TextField = Exclude<keyof StartFormValues, 'parameters'>

const LIMITS: Record<TextField, number> = {
  scope: 50,
  tenant: 400,
  confirmation: 200,
  reasonCode: 50,
  reasonText: 2000,
  preflightId: 64,
  maxDriftPercent: 32,
  canaryMode: 20,
  canaryCount: 20,
  canaryTenants: 2000,
  canaryAutoPromote: 10,
  maxConcurrency: 20,
  maxFailures: 20,
}

/** A decimal number as a person types it (`10`, `2.5`, `.5`); not `1e2`, `0x10` nor `Infinity`. */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/

export function readStartForm(body: Record<string, unknown>): StartFormValues {
  const text = (name: TextField) => {
    const value = body[name]
    return typeof value === 'string' ? value.slice(0, LIMITS[name]) : ''
  }
  return {
    scope: text('scope'),
    tenant: text('tenant'),
    confirmation: text('confirmation'),
    reasonCode: text('reasonCode'),
    reasonText: text('reasonText'),
    parameters: readParameterFields(body),
    preflightId: text('preflightId'),
    maxDriftPercent: text('maxDriftPercent'),
    // A form without the fieldset (an older page, a script) asks for no canary.
    canaryMode: text('canaryMode') || 'none',
    canaryCount: text('canaryCount'),
    canaryTenants: text('canaryTenants'),
    canaryAutoPromote: text('canaryAutoPromote'),
    maxConcurrency: text('maxConcurrency'),
    maxFailures: text('maxFailures'),
  }
}

/** Form fields named as the command names them, for a problem of text the database could not store. */
const UNSAFE_FIELD_NAMES: Record<string, string> = {
  tenant: 'tenantId',
  canaryMode: 'canary',
  canaryCount: 'canary.count',
  canaryTenants: 'canary.tenantIds',
  canaryAutoPromote: 'canary',
  maxConcurrency: 'limits.maxConcurrency',
  maxFailures: 'limits.maxFailures',
}

const WHOLE_NUMBER = /^\s*-?\d{1,12}\s*$/

/**
 * The canary fieldset as the command's `canary`: null for none. Only "is it a number / a list of ids" is
 * the form's to say; at least one, how many at most and whether they are targets are the command's.
 */
export function canaryOf(form: StartFormValues): { canary: CanaryRequest | null } | { problems: FieldProblem[] } {
  const autoPromote = form.canaryAutoPromote !== ''
  switch (form.canaryMode) {
    case 'none':
      return { canary: null }
    case 'count':
      if (!WHOLE_NUMBER.test(form.canaryCount)) return { problems: [{ field: 'canary.count', message: 'must be a whole number' }] }
      return { canary: { count: Number(form.canaryCount), autoPromote } }
    case 'tenants': {
      const pieces = form.canaryTenants.split(',').map((piece) => piece.trim()).filter((piece) => piece !== '')
      const ids = pieces.map(parseTenantReference)
      if (ids.some((id) => id === 'invalid' || id === null)) {
        return { problems: [{ field: 'canary.tenantIds', message: 'must be tenant ids separated by commas, e.g. 2, 5' }] }
      }
      return { canary: { tenantIds: ids as number[], autoPromote } }
    }
    default:
      return { problems: [{ field: 'canary', message: 'must be none, the smallest tenants or these tenant ids' }] }
  }
}

/**
 * The form as the command's input, or the form-level problems that keep it from being one (the command
 * checks everything else: confirmation, reason rules, universe). A reason with neither code nor text is
 * no reason; one with only one of them goes to the command, which says what is missing. The parameters
 * are read against the runbook's form (`parameterForm` of its JSON Schema): an empty field takes its
 * default, a number field must hold a number; their ranges are the command's to check.
 */
export function toStartRunInput(
  runbookKey: string,
  form: StartFormValues,
  parameterFields: readonly ParameterNode[] = [],
): { input: StartRunInput } | { problems: FieldProblem[] } {
  const problems: FieldProblem[] = findUnsafeText(form).map((field) => ({
    field: UNSAFE_FIELD_NAMES[field] ?? field,
    message: 'contains characters that cannot be stored',
  }))
  const scope = runScopeSchema.safeParse(form.scope)
  if (!scope.success) problems.push({ field: 'scope', message: 'must be all tenants or a single tenant' })
  let tenantId: number | null = null
  if (scope.success && scope.data === 'single_tenant') {
    const parsed = parseTenantReference(form.tenant)
    if (parsed === 'invalid') problems.push({ field: 'tenantId', message: 'must be picked from the list of tenants' })
    else tenantId = parsed
  }
  const parameters = parametersFromFields(parameterFields, form.parameters)
  problems.push(...parameters.problems)
  const canary = canaryOf(form)
  if ('problems' in canary) problems.push(...canary.problems)
  // SPEC §9: limits given only when typed (an empty field takes the default); their ranges are the command's.
  const typedLimits = form.maxConcurrency.trim() !== '' || form.maxFailures.trim() !== ''
  const limits = typedLimits ? limitsOf(form) : null
  if (limits && 'problems' in limits) problems.push(...limits.problems)
  // SPEC §11: pinned only when the form carries a preview id; the tolerance is read for a pinned start
  // only (the field stays in the form, hidden, without one). Its range is the command's to check.
  const preflightId = form.preflightId.trim() === '' ? null : form.preflightId.trim()
  let maxDriftPercent: number | undefined
  if (preflightId !== null && form.maxDriftPercent.trim() !== '') {
    const typed = form.maxDriftPercent.trim()
    if (DECIMAL.test(typed)) maxDriftPercent = Number(typed)
    else problems.push({ field: 'maxDriftPercent', message: 'must be a number from 0 to 100' })
  }
  if (problems.length > 0 || !scope.success) return { problems }
  const reason = form.reasonCode === '' && form.reasonText.trim() === '' ? null : { code: form.reasonCode, text: form.reasonText }
  const input: StartRunInput = {
    runbookKey,
    scope: scope.data,
    tenantId,
    confirmation: form.confirmation,
    reason,
    parameters: parameters.parameters,
    source: 'system_ui',
  }
  if ('canary' in canary && canary.canary !== null) input.canary = canary.canary
  if (limits && 'limits' in limits) input.limits = limits.limits
  if (preflightId !== null) {
    input.preflightId = preflightId
    if (maxDriftPercent !== undefined) input.maxDriftPercent = maxDriftPercent
  }
  return { input }
}
