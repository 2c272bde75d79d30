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

export const runOutcomeSchema = z.enum(['pending', 'succeeded', 'partially_succeeded', 'failed', 'blocked', 'cancelled', 'rejected'])
export type RunOutcome = z.infer<typeof runOutcomeSchema>
export const runStatusSchema = z.enum(['awaiting_approval', 'queued', 'running', 'paused', 'completed'])
export type RunStatus = z.infer<typeof runStatusSchema>

/** SPEC §9 limits: `maxConcurrency` 1–1000; `maxFailures` ≥ 0, or null for no limit. */
export const MAX_CONCURRENCY_LIMIT = 1000
export const runLimitsSchema = z
  .object({
    maxConcurrency: z.number().int().min(1).max(MAX_CONCURRENCY_LIMIT),
    maxFailures: z.number().int().nonnegative().nullable(),
  })
  .strict()
export type RunLimits = z.infer<typeof runLimitsSchema>

/**
 * Why a run is paused: an operator's reason code (SPEC §3), or one of the service's own (SPEC §9, §11).
 */
export const systemPauseReasonCodeSchema = z.enum(['ERROR_BUDGET_EXCEEDED', 'CANARY_COMPLETE', 'CANARY_FAILED', 'HALTED'])
export const pauseReasonCodeSchema = z.union([reasonCodeSchema, systemPauseReasonCodeSchema])
export type PauseReasonCode = z.infer<typeof pauseReasonCodeSchema>
export const pauseReasonSchema = z
  .object({ reasonCode: pauseReasonCodeSchema, reasonText: z.string().max(500) })
  .strict()
export type PauseReason = z.infer<typeof pauseReasonSchema>

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

/** v2 adds the run's limits (SPEC §9), the run it retries, if any, and whether it awaits approval (SPEC §10). */
export const runRequestedV2 = runRequestedV1.extend({
  limits: runLimitsSchema,
  retryOf: z.string().min(1).nullable(),
  approvalRequired: z.boolean(),
})

/**
 * v3 adds the runbook parameters the run was started with, as validated (defaults filled in; SPEC §13), and
 * the preview it was pinned to, if any (SPEC §11).
 */
export const runRequestedV3 = runRequestedV2.extend({
  parameters: z.record(z.string(), z.unknown()),
  pinnedPreflightId: z.string().min(1).nullable(),
})

/** SPEC §11 canary: the tenants repaired first and alone, and whether the run goes on by itself after them. */
export const runCanarySchema = z
  .object({ tenantIds: z.array(tenantIdSchema).min(1), autoPromote: z.boolean() })
  .strict()
export type RunCanary = z.infer<typeof runCanarySchema>

/**
 * v4 adds the canary tenants, resolved to ids (SPEC §11), and, for a revert run, the run whose changes it
 * puts back (SPEC §11 `context.revert_of`).
 */
export const runRequestedV4 = runRequestedV3.extend({
  canary: runCanarySchema.nullable(),
  revertOf: z.string().min(1).nullable(),
})

/**
 * v5 lets `preflight` wait (null) for a run planned after its start answered: a run over many tenants is
 * planned in the background and its counts arrive in RunPlanned, before any of its tenants is dispatched.
 */
export const runRequestedV5 = runRequestedV4.extend({
  preflight: preflightResultSchema.nullable(),
})

/** The plan of a run requested without one (RunRequested v5 `preflight: null`): its scan's counts. */
export const runPlannedV1 = z
  .object({ runId: z.string().min(1), preflight: preflightResultSchema, plannedAt: z.iso.datetime({ offset: true }) })
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

/** v2 adds when the tenant's repair transaction began and committed (null when no repair ran). */
export const tenantProcessedV2 = tenantProcessedV1.extend({
  startedAt: z.iso.datetime({ offset: true }).nullable(),
  completedAt: z.iso.datetime({ offset: true }).nullable(),
})

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
    // The outcomes as version 1 knew them (fixed: stored events are immutable, so is their schema).
    outcome: z.enum(['succeeded', 'partially_succeeded', 'failed', 'blocked']),
    summaryCounts: summaryCountsSchema,
    failureSummary: z.array(failureEntrySchema),
    completedAt: z.iso.datetime({ offset: true }),
  })
  .strict()

/** v2: a run may also end `cancelled` (SPEC §9) or `rejected` (SPEC §10). */
export const runCompletedV2 = runCompletedV1.extend({ outcome: runOutcomeSchema.exclude(['pending']) })

/** SPEC §9 run control: each an event on the run's stream; the actor is the event's initiator. */
export const runPausedV1 = z
  .object({ runId: z.string().min(1), reason: pauseReasonSchema, pausedAt: z.iso.datetime({ offset: true }) })
  .strict()

export const runResumedV1 = z
  .object({
    runId: z.string().min(1),
    reason: runReasonSchema.nullable(),
    /** The dispatch generation from here on: jobs of the tenants not yet processed are published anew. */
    generation: z.number().int().positive(),
    resumedAt: z.iso.datetime({ offset: true }),
  })
  .strict()

export const runCancelledV1 = z
  .object({ runId: z.string().min(1), reason: runReasonSchema, cancelledAt: z.iso.datetime({ offset: true }) })
  .strict()

export const runLimitsChangedV1 = z
  .object({
    runId: z.string().min(1),
    limits: runLimitsSchema,
    previous: runLimitsSchema,
    changedAt: z.iso.datetime({ offset: true }),
  })
  .strict()

/** SPEC §10: a second operator let the run proceed (the approver is the event's initiator). */
export const runApprovedV1 = z
  .object({ runId: z.string().min(1), comment: z.string().max(500).nullable(), approvedAt: z.iso.datetime({ offset: true }) })
  .strict()

/** SPEC §10: a second operator refused the run, or nobody approved it within 24 hours (APPROVAL_EXPIRED). */
export const runRejectedV1 = z
  .object({
    runId: z.string().min(1),
    reason: z.object({ reasonCode: z.union([reasonCodeSchema, z.literal('APPROVAL_EXPIRED')]), reasonText: z.string().max(500) }).strict(),
    rejectedAt: z.iso.datetime({ offset: true }),
  })
  .strict()

/** SPEC §10: which starts need a second operator. One stream for the deployment. */
export const approvalPolicySchema = z.enum(['none', 'all_tenants', 'all'])
export type ApprovalPolicy = z.infer<typeof approvalPolicySchema>
export const approvalPolicySetV1 = z
  .object({ required: approvalPolicySchema, previous: approvalPolicySchema, at: z.iso.datetime({ offset: true }) })
  .strict()

/** On the retried run's stream: a new run was requested for its failed tenants. */
export const runRetriedV1 = z
  .object({
    runId: z.string().min(1),
    retryRunId: z.string().min(1),
    tenantIds: z.array(tenantIdSchema).min(1),
    retriedAt: z.iso.datetime({ offset: true }),
  })
  .strict()

/** SPEC §9: every control's event carries its reason; the retry's is the one its start gave (null when none). */
export const runRetriedV2 = runRetriedV1.extend({ reason: runReasonSchema.nullable() }).strict()

/** On the reverted run's stream: a revert run was requested (SPEC §11: a second revert is refused). */
export const runRevertedV1 = z
  .object({ runId: z.string().min(1), revertRunId: z.string().min(1), revertedAt: z.iso.datetime({ offset: true }) })
  .strict()

/** With the revert's reason (required by SPEC §11), as every control event has its own (SPEC §9); null only upcast. */
export const runRevertedV2 = runRevertedV1.extend({ reason: runReasonSchema.nullable() }).strict()

/**
 * SPEC §11 verification: after a run completed `succeeded` or `partially_succeeded`, its succeeded tenants
 * scanned again with the runbook's preflight: what would still change (0 on data that did not move).
 */
export const runVerifiedV1 = z
  .object({
    runId: z.string().min(1),
    remaining: z.number().int().nonnegative(),
    tenantsWithRemaining: z.array(z.object({ tenantId: tenantIdSchema, remaining: z.number().int().positive() }).strict()),
    verifiedAt: z.iso.datetime({ offset: true }),
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
