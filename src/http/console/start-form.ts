import type { FieldProblem } from '../../commands/errors.js'
import type { StartRunInput } from '../../commands/start-run.js'
import { runScopeSchema } from '../../events/index.js'
import { findUnsafeText } from '../../events/safe-text.js'
import { parseTenantReference } from './tenant-reference.js'

/** The start form's fields as the operator typed them, kept to show the form again after an error. */
export interface StartFormValues {
  scope: string
  tenant: string
  confirmation: string
  reasonCode: string
  reasonText: string
}

export const emptyStartForm: StartFormValues = { scope: 'all_tenants', tenant: '', confirmation: '', reasonCode: '', reasonText: '' }

const LIMITS: Record<keyof StartFormValues, number> = { scope: 50, tenant: 400, confirmation: 200, reasonCode: 50, reasonText: 2000 }

export function readStartForm(body: Record<string, unknown>): StartFormValues {
  const text = (name: keyof StartFormValues) => {
    const value = body[name]
    return typeof value === 'string' ? value.slice(0, LIMITS[name]) : ''
  }
  return {
    scope: text('scope'),
    tenant: text('tenant'),
    confirmation: text('confirmation'),
    reasonCode: text('reasonCode'),
    reasonText: text('reasonText'),
  }
}

/**
 * The form as the command's input, or the form-level problems that keep it from being one (the command
 * checks everything else: confirmation, reason rules, universe). A reason with neither code nor text is
 * no reason; one with only one of them goes to the command, which says what is missing.
 */
export function toStartRunInput(runbookKey: string, form: StartFormValues): { input: StartRunInput } | { problems: FieldProblem[] } {
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
  if (problems.length > 0 || !scope.success) return { problems }
  const reason = form.reasonCode === '' && form.reasonText.trim() === '' ? null : { code: form.reasonCode, text: form.reasonText }
  return {
    input: { runbookKey, scope: scope.data, tenantId, confirmation: form.confirmation, reason, source: 'system_ui' },
  }
}
