import type { z } from 'zod'
import type { RunbookCatalog } from '../runbooks/catalog.js'
import type { Runbook, RunbookParameters } from '../runbooks/runbook.js'
import { NotFoundError, ValidationError, type FieldProblem } from './errors.js'

export function requireRunbook(catalog: RunbookCatalog, key: string): Runbook {
  const runbook = catalog.find(key)
  if (!runbook) throw new NotFoundError('runbook', key)
  return runbook
}

/**
 * SPEC §13: a start's or a preflight's `parameters` checked against the runbook's schema, defaults filled
 * in. Absent (or null) means "all defaults". Each problem names the field as `parameters.<path>`.
 */
export function validateParameters(runbook: Runbook, raw: unknown): RunbookParameters {
  const parsed = runbook.parameters.safeParse(raw ?? {})
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => parameterProblems(runbook, issue))
    // A body of a thousand unknown keys gets a readable answer, not a thousand lines.
    const shown = problems.slice(0, MAX_PROBLEMS)
    if (problems.length > MAX_PROBLEMS) shown.push({ field: 'parameters', message: `and ${problems.length - MAX_PROBLEMS} more problems` })
    throw new ValidationError(shown)
  }
  return parsed.data
}

const MAX_PROBLEMS = 50

function parameterProblems(runbook: Runbook, issue: z.core.$ZodIssue): FieldProblem[] {
  const at = ['parameters', ...issue.path.map(String)].join('.')
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ field: `${at}.${key}`, message: `is not a parameter of ${runbook.key}` }))
  }
  if (issue.code === 'invalid_type' && issue.path.length === 0) return [{ field: 'parameters', message: 'must be an object' }]
  return [{ field: at, message: parameterMessage(issue) }]
}

/** Zod's messages, in the words the rest of the API uses ("must be …"). */
function parameterMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'too_small':
      return `must be at least ${String(issue.minimum)}`
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`
    case 'invalid_type':
      // The console's form says the same of a typed value that is not one.
      return issue.expected === 'int' ? 'must be a whole number' : `must be ${article(issue.expected)}`
    default:
      return issue.message
  }
}

const article = (word: string) => (/^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`)
