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

export const stateConflictProblemSchema = problemSchema
  .extend({ state: z.string().meta({ description: "The run's state that refuses the command (e.g. `paused`, `completed`)." }) })
  .meta({ id: 'StateConflictProblem' })

export const haltedProblemSchema = problemSchema
  .extend({ code: z.literal('HALTED') })
  .meta({ id: 'HaltedProblem', description: 'The deployment is halted: starts, resumes and approvals are refused until the halt is lifted.' })
