import type { Reason, RunLimits } from '../api-client.js'

/** Options several commands share: a reason (SPEC §3) and run limits (SPEC §9). */

export interface ReasonOptions {
  reasonCode?: string
  reason?: string
}

/**
 * The reason as typed, or none when neither option is given. Half a reason goes to the service as it is,
 * so that its answer names the missing half: whether a reason is needed, and valid, is the service's call.
 */
export function reasonOf(options: ReasonOptions): Reason | undefined {
  if (options.reasonCode === undefined && options.reason === undefined) return undefined
  return { code: options.reasonCode ?? '', text: options.reason ?? '' }
}

export const reasonFieldFlags: Record<string, string> = {
  reason: '--reason-code and --reason',
  'reason.code': '--reason-code',
  'reason.text': '--reason',
}

export interface LimitsOptions {
  maxConcurrency?: number
  /** `none` from `--max-failures none`: no limit, sent as `null`. */
  maxFailures?: number | 'none'
}

/** The limits given, or none; `maxFailures: null` (no limit) is a value, not an absence. */
export function limitsOf(options: LimitsOptions): RunLimits | undefined {
  const limits: RunLimits = {}
  if (options.maxConcurrency !== undefined) limits.maxConcurrency = options.maxConcurrency
  if (options.maxFailures !== undefined) limits.maxFailures = options.maxFailures === 'none' ? null : options.maxFailures
  return Object.keys(limits).length > 0 ? limits : undefined
}

/** Limits are `limits.*` in a start or retry body, top-level fields in `PATCH …/limits`: both name the option. */
export const limitsFieldFlags: Record<string, string> = {
  limits: '--max-concurrency | --max-failures',
  'limits.maxConcurrency': '--max-concurrency',
  'limits.maxFailures': '--max-failures',
  maxConcurrency: '--max-concurrency',
  maxFailures: '--max-failures',
}
