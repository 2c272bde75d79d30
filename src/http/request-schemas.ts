import { z } from 'zod'
import { runScopeSchema, runSourceSchema } from '../events/index.js'

/** Request shapes shared by the API and the console's script endpoints: one definition of each. */

const tenantIdField = z.number().int('must be an integer').positive('must be a positive id').max(Number.MAX_SAFE_INTEGER)

const targetFields = {
  scope: z.string().pipe(runScopeSchema),
  tenantId: tenantIdField.nullish(),
}

export const preflightBodySchema = z.object(targetFields)

export const startRunBodySchema = z.object({
  ...targetFields,
  confirmation: z.string().max(200),
  reason: z.object({ code: z.string().max(50), text: z.string().max(2000) }).nullish(),
  source: z.string().pipe(runSourceSchema).optional(),
})

export const tenantQuerySchema = z.object({
  q: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
})
