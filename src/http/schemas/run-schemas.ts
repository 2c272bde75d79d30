import { z } from 'zod'
import { decimal } from './decimal-query.js'
import { runOutcomeSchema, runStatusSchema } from '../../events/index.js'
import { eventItemSchema } from './event-schemas.js'
import type { RunDetail, RunSummary } from '../../projections/queries.js'
import type { SameKeys } from './read-side-shape.js'

/** Requests and answers of /api/runs (SPEC §7): the run resource as the read side returns it. */

/** Run ids are ULIDs; anything else cannot name a run (answered 404 without touching storage). */
export const runIdSchema = z
  .string()
  .regex(/^[0-9A-HJKMNP-TV-Z]{26}$/)
  .meta({ description: 'A run id (ULID); anything else is 404.' })

export const runIdParamsSchema = z.object({ id: runIdSchema })

/** SPEC §12: `revision=N` counts the run's events; the event listed with `revision: r` is the (r+1)-th. */
export const runStateQuerySchema = z.object({
  revision: decimal(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER))
    .optional()
    .meta({
      description:
        'How many of the run\'s events to fold: `1` is the run right after its first event (`RunRequested`), `N` right after its N-th, ' +
        'i.e. after the event `GET /api/runs/{id}/events` lists with `revision: N-1`. Left out: every event (the run as it is now). ' +
        'Beyond the last event: 404.',
    }),
})

export const listRunsQuerySchema = z.object({
  status: runStatusSchema.optional(),
  outcome: runOutcomeSchema.optional(),
  runbook: z.string().max(200).optional().meta({ description: 'A runbook key.' }),
  tenantId: decimal(z.number().int().positive().max(Number.MAX_SAFE_INTEGER)).optional(),
  cursor: z.string().max(500).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
  limit: decimal(z.number().int().min(1).max(200)).default(50),
})

const instant = z.iso.datetime()

const controlEntrySchema = z.object({
  reasonCode: z.string(),
  reasonText: z.string(),
  by: z.string().meta({ description: "The operator's id, or `system` for the service's own pauses." }),
  byEmail: z.string().nullable(),
  byName: z.string().nullable(),
  at: instant,
})

export const runSchema = z
  .object({
    id: z.string(),
    workspaceId: z.number().int(),
    tenantId: z.number().int().nullable().meta({ description: 'Null for an all-tenants run.' }),
    userId: z.string(),
    initiatorName: z.string(),
    type: z.string().meta({ description: 'The runbook key.' }),
    status: runStatusSchema,
    outcome: runOutcomeSchema,
    runIdentityHash: z.string(),
    // The JSON columns are returned as stored: snake_case inside (SPEC §3).
    summaryCounts: z.record(z.string(), z.number()),
    failureSummary: z.array(z.object({ tenant_id: z.number().int(), reason_code: z.string(), message: z.string() })),
    context: z.record(z.string(), z.unknown()),
    startedAt: instant.nullable(),
    completedAt: instant.nullable(),
    createdAt: instant,
    limits: z.object({ maxConcurrency: z.number().int(), maxFailures: z.number().int().nullable() }),
    pause: controlEntrySchema.nullable().meta({ description: 'Why and by whom the run is paused, while it is.' }),
    cancellation: controlEntrySchema.nullable().meta({ description: 'Set from a cancel until the run completes `cancelled`.' }),
    tenantCounts: z.object({
      targeted: z.number().int(),
      pending: z.number().int(),
      succeeded: z.number().int(),
      failed: z.number().int(),
      cancelled: z.number().int(),
    }),
    retryOf: z.string().nullable().meta({ description: 'The run this one retries.' }),
    revertOf: z.string().nullable().meta({ description: 'The run whose changes this revert run puts back (SPEC §11); null for any other run.' }),
    approval: z
      .object({ required: z.boolean(), approvedBy: z.string().nullable(), approvedAt: instant.nullable(), comment: z.string().nullable() })
      .nullable()
      .meta({ description: 'Null when the run needed no approval (SPEC §10).' }),
    verification: z
      .object({
        remaining: z.number().int().nonnegative(),
        tenantsWithRemaining: z.array(z.object({ tenantId: z.number().int(), remaining: z.number().int() })),
        verifiedAt: instant,
      })
      .nullable()
      .meta({ description: 'SPEC §11: after a succeeded or partially succeeded run, its succeeded tenants scanned again; `remaining` is what would still change (0 on data that did not move). Null until then.' }),
    canary: z
      .object({
        tenantIds: z.array(z.number().int()),
        autoPromote: z.boolean(),
        state: z.enum(['running', 'passed', 'failed']),
      })
      .nullable()
      .meta({ description: 'SPEC §11: the tenants repaired first and alone; `passed` once they all succeeded, `failed` at the first failure. Null without a canary.' }),
  })
  .meta({ id: 'Run' })

export const runPageSchema = z
  .object({ items: z.array(runSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'RunPage', description: 'Newest first; `nextCursor` is null on the last page.' })

export const runEventsSchema = z
  .object({ items: z.array(eventItemSchema) })
  .meta({ id: 'RunEvents', description: "The run's stream in order." })

// Compile-time: the run resource documented is the one the read side returns (see read-side-shape.ts).
true satisfies SameKeys<z.output<typeof runSchema>, RunSummary>
true satisfies SameKeys<z.output<typeof runSchema>, RunDetail>
