import { z } from 'zod'
import { preflightResultSchema, tenantIdSchema } from '../../events/index.js'
import type { RunbookCatalog } from '../../runbooks/catalog.js'
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
        unit: z.string().meta({ description: 'What the run counts, plural (e.g. `findings`).' }),
        estimatedDuration: z.string(),
        parameters: z
          .record(z.string(), z.unknown())
          .meta({ description: 'A JSON Schema (2020-12) of the `parameters` a preflight or start takes, with defaults; `{}` is always valid.' }),
      }),
    ),
  })
  .meta({ id: 'RunbookCatalog' })

/** The catalog as answered: each runbook's parameters as JSON Schema, generated from its zod schema. */
export function catalogView(catalog: RunbookCatalog): z.output<typeof catalogSchema> {
  return {
    items: catalog.runbooks.map((runbook) => ({
      key: runbook.key,
      label: runbook.label,
      description: runbook.description,
      requiredCapability: runbook.requiredCapability,
      unit: runbook.unit,
      estimatedDuration: runbook.estimatedDuration,
      parameters: parametersJsonSchema(runbook.parameters),
    })),
  }
}

/** What a client may send (`io: input`): fields with defaults are optional and show their default. */
export function parametersJsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>
}

export const tenantListSchema = z
  .object({
    items: z.array(z.object({ id: tenantIdSchema, workspaceId: z.number().int(), name: z.string() })),
    nextCursor: z.string().nullable().meta({ description: 'The next page (`?cursor=`), null on the last.' }),
  })
  .meta({ id: 'TenantList', description: 'The allowed universe (not platform, not archived), by name then id, a page at a time.' })

export const preflightSchema = preflightResultSchema
  .extend({
    affectedCount: preflightResultSchema.shape.affectedCount.meta({
      description: 'Findings that would be updated, over the tenants whose repair would succeed: on data that does not change, a run\'s `updated`.',
    }),
    totalCount: preflightResultSchema.shape.totalCount.meta({
      description: 'Findings scanned, over the tenants whose repair would succeed: on data that does not change, a run\'s `total`.',
    }),
    preflightId: z.string().meta({ description: 'The recorded preview: its per-tenant plan is kept 24 hours (`GET /api/preflights/{preflightId}/tenants`).' }),
    wouldFailTenants: z.array(tenantIdSchema).meta({ description: 'The tenants whose repair would fail (e.g. `INVALID_DATA`), found by the preview.' }),
  })
  .meta({ id: 'Preflight' })

export const preflightIdParamsSchema = z.object({
  preflightId: z.string().max(100).meta({ description: 'A `preflightId` a preview answered; unknown or expired ones are 404.' }),
})

export const planTenantPageSchema = z
  .object({
    items: z.array(
      z.object({
        tenantId: tenantIdSchema,
        tenantName: z.string().nullable(),
        affected: z.number().int().nonnegative(),
        total: z.number().int().nonnegative(),
        wouldFail: z.string().nullable().meta({ description: 'The reason code the repair would fail with, e.g. `INVALID_DATA`; null when it would not.' }),
        message: z.string().nullable(),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'PreflightPlanPage', description: 'The tenants that would fail first, then by tenant id.' })

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
