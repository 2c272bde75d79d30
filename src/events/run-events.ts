import { z } from 'zod'

export const runScopeSchema = z.enum(['single_tenant', 'all_tenants'])
export type RunScope = z.infer<typeof runScopeSchema>

export const runSourceSchema = z.enum(['system_ui', 'cli', 'deploy_hook', 'api'])
export type RunSource = z.infer<typeof runSourceSchema>

export const reasonCodeSchema = z.enum(['DATA_REPAIR', 'INCIDENT', 'SUPPORT', 'SECURITY'])
export const runReasonSchema = z.object({
  reasonCode: reasonCodeSchema,
  reasonText: z.string().min(10).max(500),
})
export type RunReason = z.infer<typeof runReasonSchema>

export const failureReasonCodeSchema = z.enum([
  'INVALID_DATA',
  'TENANT_LOCKED',
  'TENANT_NOT_ALLOWED',
  'TIMEOUT',
  'DB_ERROR',
  'UNKNOWN',
])
export type FailureReasonCode = z.infer<typeof failureReasonCodeSchema>

export const tenantIdSchema = z.number().int().positive().max(Number.MAX_SAFE_INTEGER)

export const preflightResultSchema = z.object({
  affectedCount: z.number().int().nonnegative(),
  totalCount: z.number().int().nonnegative(),
  estimatedTenants: z.number().int().nonnegative(),
})
export type PreflightResult = z.infer<typeof preflightResultSchema>

export const runInitiatorSchema = z.object({
  platformUserId: z.string().min(1),
  email: z.string().min(1),
  name: z.string(),
  isBreakGlass: z.boolean(),
})

/** The only keys a run's summary may carry (SPEC §3); anything else is a programming error. */
export const summaryCountsSchema = z
  .object({
    total: z.number().int().nonnegative(),
    processed: z.number().int().nonnegative(),
    updated: z.number().int().nonnegative(),
    skipped: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    tenants: z.number().int().nonnegative().optional(),
  })
  .strict()
export type SummaryCounts = z.infer<typeof summaryCountsSchema>

export const failureEntrySchema = z.object({
  tenantId: tenantIdSchema,
  reasonCode: failureReasonCodeSchema,
  message: z.string().max(500),
})
export type FailureEntry = z.infer<typeof failureEntrySchema>

export const runOutcomeSchema = z.enum(['pending', 'succeeded', 'partially_succeeded', 'failed', 'blocked'])
export type RunOutcome = z.infer<typeof runOutcomeSchema>
export const runStatusSchema = z.enum(['queued', 'running', 'completed'])
export type RunStatus = z.infer<typeof runStatusSchema>

export const runRequestedV1 = z
  .object({
    runId: z.string().min(1),
    runbookKey: z.string().min(1),
    scope: runScopeSchema,
    workspaceId: z.number().int(),
    targetTenantId: tenantIdSchema.nullable(),
    tenantIds: z.array(tenantIdSchema),
    source: runSourceSchema,
    preflight: preflightResultSchema,
    reason: runReasonSchema.nullable(),
    initiator: runInitiatorSchema,
    runIdentityHash: z.string().regex(/^[0-9a-f]{64}$/),
    requestedAt: z.iso.datetime({ offset: true }),
  })
  .strict()

export const runStartedV1 = z
  .object({ runId: z.string().min(1), startedAt: z.iso.datetime({ offset: true }) })
  .strict()

export const tenantResultSchema = z.discriminatedUnion('status', [
  z
    .object({
      status: z.literal('succeeded'),
      total: z.number().int().nonnegative(),
      updated: z.number().int().nonnegative(),
    })
    .strict(),
  z
    .object({
      status: z.literal('failed'),
      reasonCode: failureReasonCodeSchema,
      message: z.string().max(500),
    })
    .strict(),
])
export type TenantResult = z.infer<typeof tenantResultSchema>

export const tenantProcessedV1 = z
  .object({
    runId: z.string().min(1),
    tenantId: tenantIdSchema,
    attempt: z.number().int().positive(),
    result: tenantResultSchema,
    processedAt: z.iso.datetime({ offset: true }),
  })
  .strict()

export const tenantJobsRedispatchedV1 = z
  .object({
    runId: z.string().min(1),
    tenantIds: z.array(tenantIdSchema).min(1),
    generation: z.number().int().positive(),
    redispatchedAt: z.iso.datetime({ offset: true }),
  })
  .strict()

export const runCompletedV1 = z
  .object({
    runId: z.string().min(1),
    outcome: runOutcomeSchema.exclude(['pending']),
    summaryCounts: summaryCountsSchema,
    failureSummary: z.array(failureEntrySchema),
    completedAt: z.iso.datetime({ offset: true }),
  })
  .strict()

/** Written to the run-identity stream before RunRequested: the claim that makes starts idempotent. */
export const runIdentityClaimedV1 = z
  .object({
    runIdentityHash: z.string().regex(/^[0-9a-f]{64}$/),
    runId: z.string().min(1),
    claimedAt: z.iso.datetime({ offset: true }),
  })
  .strict()
