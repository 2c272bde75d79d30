import type { FieldProblem } from '../../commands/errors.js'

/** Human names of the fields the commands report, so "reason.text: must be …" reads "Reason text must be …". */
export const fieldLabels: Record<string, string> = {
  scope: 'Scope',
  tenantId: 'Tenant',
  confirmation: 'Confirmation',
  reason: 'Reason',
  'reason.code': 'Reason code',
  'reason.text': 'Reason text',
  reasonCode: 'Reason code',
  reasonText: 'Reason text',
  'limits.maxConcurrency': 'Max concurrency',
  'limits.maxFailures': 'Max failures',
  maxConcurrency: 'Max concurrency',
  maxFailures: 'Max failures',
  preflightId: 'The pinned preview',
  maxDriftPercent: 'Allowed drift',
  canary: 'Canary',
  'canary.count': 'Number of canary tenants',
  'canary.tenantIds': 'Canary tenants',
  email: 'Email',
  name: 'Name',
  password: 'Password',
  currentPassword: 'Current password',
  capabilities: 'Capabilities',
  comment: 'Comment',
  required: 'Approval setting',
  // "the run has no failed tenant to retry": a sentence of its own
  runId: '',
}

export function describeProblem(problem: FieldProblem): string {
  return describeProblemAs(problem, fieldLabels)
}

/** As `describeProblem`, with a form's own labels (e.g. its runbook's `parameters.<path>` titles) first. */
export function describeProblemAs(problem: FieldProblem, labels: Record<string, string>): string {
  const label = Object.hasOwn(labels, problem.field) ? labels[problem.field] : fieldLabels[problem.field]
  if (label === '') return problem.message.charAt(0).toUpperCase() + problem.message.slice(1)
  return label ? `${label} ${problem.message}` : `${problem.field}: ${problem.message}`
}

/** Where each reported field is explained in the start form; a field not listed goes to the form's top. */
export const problemSlots = {
  scope: ['scope'],
  tenantId: ['tenantId'],
  confirmation: ['confirmation'],
  reasonCode: ['reason.code'],
  // "reason is required" belongs where the operator types it
  reasonText: ['reason', 'reason.text'],
  // SPEC §11: a pinned start's preview and tolerance
  preflightId: ['preflightId'],
  maxDriftPercent: ['maxDriftPercent'],
  // SPEC §11 canary: the choice itself, and the field of the chosen kind
  canary: ['canary'],
  canaryCount: ['canary.count'],
  canaryTenants: ['canary.tenantIds'],
  // SPEC §9 limits of the start
  maxConcurrency: ['limits.maxConcurrency'],
  maxFailures: ['limits.maxFailures'],
} as const

export type ProblemSlot = keyof typeof problemSlots

export function messagesFor(problems: FieldProblem[], slot: ProblemSlot): string[] {
  const fields: readonly string[] = problemSlots[slot]
  return problems.filter((p) => fields.includes(p.field)).map(describeProblem)
}

export function unplacedMessages(problems: FieldProblem[]): string[] {
  const placed = new Set<string>(Object.values(problemSlots).flat())
  return problems.filter((p) => !placed.has(p.field)).map(describeProblem)
}

/** The messages of the problems reported for any of `fields`. */
export function messagesForFields(problems: FieldProblem[], fields: readonly string[]): string[] {
  return problems.filter((p) => fields.includes(p.field)).map(describeProblem)
}

/** The messages of the problems reported for none of `placed` (shown at the top of a form). */
export function messagesBesides(problems: FieldProblem[], placed: readonly string[]): string[] {
  return problems.filter((p) => !placed.includes(p.field)).map(describeProblem)
}
