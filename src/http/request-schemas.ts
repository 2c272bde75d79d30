import { z } from 'zod'
import { reasonCodeSchema, runScopeSchema, runSourceSchema } from '../events/index.js'

/**
 * Request shapes shared by the API and the console's script endpoints: one definition of each. The `meta`
 * only describes (the OpenAPI document shows it); it does not change what is accepted.
 */

const tenantIdField = z.number().int('must be an integer').positive('must be a positive id').max(Number.MAX_SAFE_INTEGER)

// A string first, then the enum: a non-string is malformed (400), an unknown word an invalid value (422).
const targetFields = {
  scope: z.string().pipe(runScopeSchema).meta({ enum: runScopeSchema.options }),
  tenantId: tenantIdField.nullish().meta({ description: 'Required for `single_tenant`, omitted for `all_tenants`.' }),
}

export const preflightBodySchema = z.object(targetFields).meta({ id: 'PreflightBody' })

export const startRunBodySchema = z
  .object({
    ...targetFields,
    confirmation: z.string().max(200).meta({ description: 'Exactly the runbook key, typed by the operator.' }),
    reason: z
      .object({
        code: z.string().max(50).meta({ description: `One of ${reasonCodeSchema.options.join(', ')}.` }),
        text: z.string().max(2000).meta({ description: '10 to 500 characters once trimmed.' }),
      })
      .nullish()
      .meta({ description: 'Required for all-tenants runs and for every run by a break-glass operator.' }),
    source: z.string().pipe(runSourceSchema).optional().meta({ enum: runSourceSchema.options, default: 'api' }),
  })
  .meta({ id: 'StartRunBody' })

export const tenantQuerySchema = z.object({
  q: z.string().max(200).optional().meta({ description: 'Case-insensitive substring of the tenant name.' }),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
})
