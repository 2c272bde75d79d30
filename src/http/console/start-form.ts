import type { FieldProblem } from '../../commands/errors.js'
import type { StartRunInput } from '../../commands/start-run.js'
import { runScopeSchema } from '../../events/index.js'
import { findUnsafeText } from '../../events/safe-text.js'
import { parametersFromFields, readParameterFields, type ParameterNode } from './parameter-form.js'
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
}

export const emptyStartForm: StartFormValues = { scope: 'all_tenants', tenant: '', confirmation: '', reasonCode: '', reasonText: '', parameters: {} }

type TextField = Exclude<keyof StartFormValues, 'parameters'>

const LIMITS: Record<TextField, number> = { scope: 50, tenant: 400, confirmation: 200, reasonCode: 50, reasonText: 2000 }

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
    field: field === 'tenant' ? 'tenantId' : field,
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
  if (problems.length > 0 || !scope.success) return { problems }
  const reason = form.reasonCode === '' && form.reasonText.trim() === '' ? null : { code: form.reasonCode, text: form.reasonText }
  return {
    input: { runbookKey, scope: scope.data, tenantId, confirmation: form.confirmation, reason, parameters: parameters.parameters, source: 'system_ui' },
  }
}
