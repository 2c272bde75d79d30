import { z } from 'zod'
import { preflightResultSchema, runScopeSchema, tenantIdSchema } from './run-events.js'

export const preflightRecordedV1 = z
  .object({
    preflightId: z.string().min(1),
    runbookKey: z.string().min(1),
    scope: runScopeSchema,
    targetTenantId: tenantIdSchema.nullable(),
    result: preflightResultSchema,
    recordedAt: z.iso.datetime({ offset: true }),
  })
  .strict()

/**
 * v2 records the runbook parameters the preview counted with (SPEC §13), as validated, and the tenants whose
 * repair it found would fail (SPEC §11; the per-tenant plan is kept 24 hours beside it).
 */
export const preflightRecordedV2 = preflightRecordedV1.extend({
  parameters: z.record(z.string(), z.unknown()),
  wouldFailTenants: z.array(tenantIdSchema),
})

export const loginChannelSchema = z.enum(['api', 'console'])

export const loginSucceededV1 = z
  .object({
    operatorId: z.string().min(1),
    email: z.string(),
    channel: loginChannelSchema,
    at: z.iso.datetime({ offset: true }),
  })
  .strict()

export const loginFailedV1 = z
  .object({
    email: z.string(),
    channel: loginChannelSchema,
    at: z.iso.datetime({ offset: true }),
  })
  .strict()

export const loginRateLimitedV1 = z
  .object({
    email: z.string(),
    channel: loginChannelSchema,
    retryAfterSeconds: z.number().int().nonnegative(),
    at: z.iso.datetime({ offset: true }),
  })
  .strict()
