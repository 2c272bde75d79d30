import { MAX_CONCURRENCY_LIMIT, type RunLimits } from '../../events/index.js'
import { ValidationError, type FieldProblem } from '../errors.js'

/**
 * SPEC §9: `maxConcurrency` an integer 1–1000, `maxFailures` an integer ≥ 0 or null (no limit); a field
 * absent is not checked. Fields are named under `field` (`limits` in a start's body), or as they are when
 * null (`PATCH …/limits` sends them at the top).
 */
export function limitProblems(limits: { maxConcurrency?: unknown; maxFailures?: unknown }, field: string | null): FieldProblem[] {
  const named = (name: string) => (field === null ? name : `${field}.${name}`)
  const problems: FieldProblem[] = []
  const { maxConcurrency, maxFailures } = limits
  if (
    maxConcurrency !== undefined &&
    (!Number.isSafeInteger(maxConcurrency) || (maxConcurrency as number) < 1 || (maxConcurrency as number) > MAX_CONCURRENCY_LIMIT)
  ) {
    problems.push({ field: named('maxConcurrency'), message: `must be an integer from 1 to ${MAX_CONCURRENCY_LIMIT}` })
  }
  if (maxFailures !== undefined && maxFailures !== null && (!Number.isSafeInteger(maxFailures) || (maxFailures as number) < 0)) {
    problems.push({ field: named('maxFailures'), message: 'must be an integer of 0 or more, or null for no limit' })
  }
  return problems
}

/** Both limits, checked (`limitProblems`): a ValidationError names what is wrong. */
export function validateLimits(limits: { maxConcurrency: unknown; maxFailures: unknown }, field = 'limits'): RunLimits {
  // Both are required here: an absent one is as wrong as a bad one.
  const required = (value: unknown) => (value === undefined ? Number.NaN : value)
  const problems = limitProblems({ maxConcurrency: required(limits.maxConcurrency), maxFailures: required(limits.maxFailures) }, field)
  if (problems.length > 0) throw new ValidationError(problems)
  return { maxConcurrency: limits.maxConcurrency as number, maxFailures: limits.maxFailures as number | null }
}

/**
 * The limits a start asks for, completed with the deployment's defaults: `maxConcurrency` defaults to the
 * deployment's worker capacity, `maxFailures` to no limit.
 */
export function resolveLimits(
  requested: { maxConcurrency?: number | undefined; maxFailures?: number | null | undefined } | null | undefined,
  defaultMaxConcurrency: number,
): RunLimits {
  return validateLimits({
    maxConcurrency: requested?.maxConcurrency ?? Math.min(defaultMaxConcurrency, MAX_CONCURRENCY_LIMIT),
    maxFailures: requested?.maxFailures === undefined ? null : requested.maxFailures,
  })
}
