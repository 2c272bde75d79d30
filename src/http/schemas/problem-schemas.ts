import { z } from 'zod'

/** RFC 9457 problem details as `problemResponse` writes them (src/http/problem.ts). */

export const fieldProblemSchema = z
  .object({ field: z.string(), message: z.string() })
  .meta({ id: 'FieldProblem', description: 'One offending field; `(body)` for the body as a whole.' })

export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(fieldProblemSchema).optional(),
  })
  .meta({ id: 'Problem', description: 'application/problem+json (RFC 9457); extension members vary by status.' })

export const forbiddenProblemSchema = problemSchema
  .extend({ missingCapabilities: z.array(z.string()) })
  .meta({ id: 'ForbiddenProblem', description: 'The capabilities the operator lacks; nothing was changed.' })

export const rateLimitedProblemSchema = problemSchema
  .extend({ retryAfterSeconds: z.number().int().positive() })
  .meta({ id: 'RateLimitedProblem' })

export const activeRunProblemSchema = problemSchema
  .extend({ runId: z.string() })
  .meta({ id: 'ActiveRunProblem', description: 'An identical run is active: `runId` names it.' })

const planTenantSchema = z.object({ affected: z.number().int(), total: z.number().int(), wouldFail: z.string().nullable() }).nullable()
const planTotalsSchema = z.object({ affectedCount: z.number().int(), totalCount: z.number().int(), estimatedTenants: z.number().int() })

export const planDriftedProblemSchema = problemSchema
  .extend({
    code: z.literal('PLAN_DRIFTED'),
    pinned: planTotalsSchema,
    current: planTotalsSchema,
    tenants: z
      .array(z.object({ tenantId: z.number().int(), pinned: planTenantSchema, current: planTenantSchema }))
      .meta({ description: 'The tenants that changed, those whose affected count or would-fail changed first; at most 100.' }),
    tenantsChanged: z.number().int(),
  })
  .meta({ id: 'PlanDriftedProblem', description: 'The data moved beyond the tolerance since the pinned preview; nothing was started.' })

/** The 409 of a start: an identical run is active, or the pinned plan drifted. */
export const startConflictProblemSchema = z.union([activeRunProblemSchema, planDriftedProblemSchema]).meta({ id: 'StartConflictProblem' })

export const stateConflictProblemSchema = problemSchema
  .extend({ state: z.string().meta({ description: "The run's state that refuses the command (e.g. `paused`, `completed`)." }) })
  .meta({ id: 'StateConflictProblem' })

export const haltedProblemSchema = problemSchema
  .extend({ code: z.literal('HALTED') })
  .meta({ id: 'HaltedProblem', description: 'The deployment is halted: starts, resumes and approvals are refused until the halt is lifted.' })
