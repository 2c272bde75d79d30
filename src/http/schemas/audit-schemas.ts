import { z } from 'zod'
import type { AuditEntry } from '../../projections/queries.js'
import type { SameKeys } from './read-side-shape.js'

/** Request and answer of GET /api/audit. */

export const auditQuerySchema = z.object({
  action: z.string().max(200).optional().meta({ description: 'Only entries of this action, e.g. `platform.ops.login.failed`.' }),
  cursor: z.string().max(500).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})

export const auditPageSchema = z
  .object({
    items: z.array(
      z.object({
        id: z.string(),
        action: z.string(),
        occurredAt: z.iso.datetime(),
        actorUserId: z.string().nullable(),
        actorEmail: z.string().nullable(),
        operationRunId: z.string().nullable(),
        context: z.record(z.string(), z.unknown()),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'AuditPage', description: 'Audit entries, newest first; `nextCursor` is null on the last page.' })

// Compile-time: the audit entry documented is the one the read side returns (see read-side-shape.ts).
true satisfies SameKeys<z.output<typeof auditPageSchema>['items'][number], AuditEntry>
