import { MAX_CONCURRENCY_LIMIT, type RunLimits } from '../../events/index.js'
import { ValidationError, type FieldProblem } from '../errors.js'

/** SPEC §9: `maxConcurrency` an integer 1–1000, `maxFailures` an integer ≥ 0 or null (no limit). */
export function validateLimits(limits: { maxConcurrency: unknown; maxFailures: unknown }, field = 'limits'): RunLimits {
  const problems: FieldProblem[] = []
  const { maxConcurrency, maxFailures } = limits
  if (!Number.isSafeInteger(maxConcurrency) || (maxConcurrency as number) < 1 || (maxConcurrency as number) > MAX_CONCURRENCY_LIMIT) {
    problems.push({ field: `${field}.maxConcurrency`, message: `must be an integer from 1 to ${MAX_CONCURRENCY_LIMIT}` })
  }
  if (maxFailures !== null && (!Number.isSafeInteger(maxFailures) || (maxFailures as number) < 0)) {
    problems.push({ field: `${field}.maxFailures`, message: 'must be an integer of 0 or more, or null for no limit' })
  }
  if (problems.length > 0) throw new ValidationError(problems)
  return { maxConcurrency: maxConcurrency as number, maxFailures: maxFailures as number | null }
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
