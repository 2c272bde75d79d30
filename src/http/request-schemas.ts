import { z } from 'zod'
import { decimal } from './schemas/decimal-query.js'
import { reasonCodeSchema, runScopeSchema, runSourceSchema } from '../events/index.js'

/**
 * Request shapes shared by the API and the console's script endpoints: one definition of each. The `meta`
 * only describes (the OpenAPI document shows it); it does not change what is accepted. Bodies are strict: a
 * field the API does not know (a misspelt `maxFailure`, say) is refused 422 naming it, never dropped in
 * silence while the rest is applied.
 */

const tenantIdField = z.number().int('must be an integer').positive('must be a positive id').max(Number.MAX_SAFE_INTEGER)

// A string first, then the enum: a non-string is malformed (400), an unknown word an invalid value (422).
const targetFields = {
  scope: z.string().pipe(runScopeSchema).meta({ enum: runScopeSchema.options }),
  tenantId: tenantIdField.nullish().meta({ description: 'Required for `single_tenant`, omitted for `all_tenants`.' }),
}

/** SPEC §13: checked against the runbook's own schema (the catalog's `parameters`), 422 naming `parameters.<name>`. */
// Passed through as sent: the runbook's schema is the one judge of it (422 naming `parameters` or `parameters.<path>`).
const parametersField = z
  .unknown()
  .optional()
  .meta({ type: 'object', description: "The runbook's parameters (see `parameters` in the catalog); omitted ones take their defaults." })

export const preflightBodySchema = z.strictObject({ ...targetFields, parameters: parametersField }).meta({ id: 'PreflightBody' })

/** An operator's reason (SPEC §3): its rules (code, length) are the command side's, answered 422. */
const reasonField = z
  .strictObject({
    code: z.string().max(50).meta({ description: `One of ${reasonCodeSchema.options.join(', ')}.` }),
    text: z.string().max(2000).meta({ description: '10 to 500 characters once trimmed.' }),
  })
  .meta({ id: 'Reason' })

/** SPEC §9 limits; their ranges are checked by the command side (422 naming the field). */
const limitsFields = {
  maxConcurrency: z
    .number()
    .int('must be an integer')
    .optional()
    .meta({ description: "1–1000 of the run's tenants repaired at once, across every worker (default: the deployment's worker capacity)." }),
  maxFailures: z
    .number()
    .int('must be an integer')
    .nullable()
    .optional()
    .meta({ description: 'Failed tenants beyond this pause the run (ERROR_BUDGET_EXCEEDED); null: no limit (the default).' }),
}
const limitsField = z.strictObject(limitsFields).meta({ id: 'RunLimitsRequest' })

/** SPEC §11 canary; which tenants and how many are the command side's rules (422 naming `canary.<field>`). */
const canaryField = z
  .strictObject({
    tenantIds: z.array(tenantIdField).max(10_000).nullish().meta({ description: "Tenants of the run's targets, repaired first and alone." }),
    count: z.number().int('must be an integer').nullish().meta({ description: 'Or: this many of the targets with the fewest findings (1 to the number of targets).' }),
    autoPromote: z.boolean().nullish().meta({ description: 'Default false: the run pauses (CANARY_COMPLETE) once the canary succeeded, until an operator resumes it.' }),
  })
  .meta({ id: 'CanaryRequest', description: 'Either `tenantIds` or `count`.' })

const sourceField = z.string().pipe(runSourceSchema).optional().meta({ enum: runSourceSchema.options, default: 'api' })

export const startRunBodySchema = z
  .strictObject({
    ...targetFields,
    confirmation: z.string().max(200).meta({ description: 'Exactly the runbook key, typed by the operator.' }),
    reason: reasonField.nullish().meta({ description: 'Required for all-tenants runs and for every run by a break-glass operator.' }),
    source: sourceField,
    limits: limitsField.nullish(),
    parameters: parametersField,
    preflightId: z
      .string()
      .max(100)
      .nullish()
      .meta({ description: 'Pin the start to this preview: refused 409 `PLAN_DRIFTED` when the data moved beyond `maxDriftPercent` since, or a tenant would now fail.' }),
    maxDriftPercent: z.number().nullish().meta({ description: '0–100, default 10: how far the affected count may have moved since the pinned preview.' }),
    canary: canaryField.nullish(),
  })
  .meta({ id: 'StartRunBody' })

/** Pause, cancel, halt and its lift: a reason is required (422 naming `reason` when missing). */
export const requiredReasonBodySchema = z
  .strictObject({ reason: reasonField.nullish().meta({ description: 'Required.' }) })
  .meta({ id: 'ReasonBody' })

export const resumeBodySchema = z.strictObject({ reason: reasonField.nullish().meta({ description: 'Optional.' }) }).meta({ id: 'ResumeBody' })

export const limitsBodySchema = z.strictObject(limitsFields).meta({ id: 'RunLimitsBody', description: 'Either field, or both.' })

export const retryBodySchema = z
  .strictObject({
    confirmation: z.string().max(200).meta({ description: 'Exactly the runbook key of the retried run.' }),
    reason: reasonField.nullish().meta({ description: 'As for a start of the original scope.' }),
    source: sourceField,
    limits: limitsField.nullish().meta({ description: "Each limit not given is the retried run's." }),
  })
  .meta({ id: 'RetryRunBody' })

export const revertBodySchema = z
  .strictObject({
    confirmation: z.string().max(200).meta({ description: 'Exactly `revert <runId>`, typed by the operator.' }),
    reason: reasonField.nullish().meta({ description: 'Required.' }),
    source: sourceField,
  })
  .meta({ id: 'RevertRunBody' })

export const preflightPlanQuerySchema = z.object({
  cursor: z.string().max(500).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
  limit: decimal(z.number().int().min(1).max(200)).default(50),
})

export const tenantQuerySchema = z.object({
  q: z.string().max(200).optional().meta({ description: 'Case-insensitive substring of the tenant name.' }),
  limit: decimal(z.number().int().min(1).max(1000)).optional().meta({ description: 'Tenants a page (1–1000, default 1000).' }),
  cursor: z.string().max(20_000).optional().meta({ description: 'The `nextCursor` of the page before.' }),
})

export const approveBodySchema = z
  .strictObject({ comment: z.string().max(2000).nullish().meta({ description: 'Optional, at most 500 characters.' }) })
  .meta({ id: 'ApproveBody' })

export const approvalSettingsBodySchema = z
  .strictObject({ required: z.string().max(50).meta({ enum: ['none', 'all_tenants', 'all'] }) })
  .meta({ id: 'ApprovalSettingsBody' })
