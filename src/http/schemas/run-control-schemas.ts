import { z } from 'zod'
import { decimal } from './decimal-query.js'
import { tenantIdSchema } from '../../events/index.js'
import type { HaltView } from '../../commands/halt.js'
import { RUN_TENANT_STATUSES, type RunTenant } from '../../projections/queries.js'
import type { SameKeys } from './read-side-shape.js'

/** Answers and queries of SPEC §9: the tenants of a run and the deployment's halt. */

const instant = z.iso.datetime()

export const runTenantsQuerySchema = z.object({
  status: z.enum(RUN_TENANT_STATUSES).optional(),
  cursor: z.string().max(500).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
  limit: decimal(z.number().int().min(1).max(200)).default(50),
})

const runTenantSchema = z.object({
  tenantId: tenantIdSchema,
  tenantName: z.string().nullable().meta({ description: 'Null once the tenant is gone from the platform.' }),
  status: z.enum(RUN_TENANT_STATUSES),
  attempts: z.number().int().meta({ description: 'The attempt that was recorded; 0 while not processed.' }),
  counts: z
    .object({ total: z.number().int(), updated: z.number().int(), skipped: z.number().int() })
    .nullable()
    .meta({ description: 'Findings of a succeeded tenant.' }),
  reasonCode: z.string().nullable(),
  message: z.string().nullable(),
  startedAt: instant.nullable().meta({ description: 'When its repair transaction began (null until processed).' }),
  completedAt: instant.nullable().meta({
    description: 'When its repair transaction committed; for a failed tenant, when its failure was recorded (its repair rolled back).',
  }),
})

export const runTenantPageSchema = z
  .object({ items: z.array(runTenantSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'RunTenantPage', description: 'By tenant id.' })

export const haltSchema = z
  .object({
    halted: z.boolean(),
    reason: z.object({ code: z.string(), text: z.string() }).nullable(),
    by: z.object({ id: z.string(), email: z.string(), name: z.string() }).nullable(),
    at: instant.nullable(),
  })
  .meta({ id: 'Halt' })

export const haltEngagedSchema = haltSchema
  .extend({ pausedRuns: z.array(z.string()).meta({ description: 'The runs this halt paused.' }) })
  .meta({ id: 'HaltEngaged' })

// Compile-time: the documented shapes are the ones the read side and the command side return.
true satisfies SameKeys<z.output<typeof runTenantSchema>, RunTenant>
true satisfies SameKeys<z.output<typeof haltSchema>, HaltView>
