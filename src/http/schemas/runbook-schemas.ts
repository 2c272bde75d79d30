import { z } from 'zod'
import { preflightResultSchema, tenantIdSchema } from '../../events/index.js'
import type { UniverseTenant } from '../../runbooks/tenant-universe.js'
import type { SameKeys } from './read-side-shape.js'

/** Answers of the runbook catalog, the tenant universe, preflight and start (SPEC §7). */

export const runbookKeyParamsSchema = z.object({
  key: z.string().meta({ description: 'A runbook key of the catalog, e.g. `findings.lifecycle.backfill`; unknown keys are 404.' }),
})

export const catalogSchema = z
  .object({
    items: z.array(
      z.object({
        key: z.string(),
        label: z.string(),
        description: z.string(),
        requiredCapability: z.string(),
        estimatedDuration: z.string(),
      }),
    ),
  })
  .meta({ id: 'RunbookCatalog' })

export const tenantListSchema = z
  .object({
    items: z.array(z.object({ id: tenantIdSchema, workspaceId: z.number().int(), name: z.string() })),
  })
  .meta({ id: 'TenantList', description: 'The allowed universe (not platform, not archived), by name.' })

export const preflightSchema = preflightResultSchema.meta({ id: 'Preflight' })

export const startedRunSchema = z
  .object({
    runId: z.string(),
    status: z
      .enum(['awaiting_approval', 'queued', 'completed'])
      .meta({ description: '`awaiting_approval` when a second operator must approve it (SPEC §10); `completed` when there was nothing to do.' }),
  })
  .meta({ id: 'StartedRun' })

// Compile-time: the tenant documented is the one the universe query returns (see read-side-shape.ts).
true satisfies SameKeys<z.output<typeof tenantListSchema>['items'][number], UniverseTenant>
