import { z } from 'zod'
import { decimal } from './decimal-query.js'
import type { AuditChainVerification } from '../../projections/audit-chain.js'
import type { AuditEntry } from '../../projections/queries.js'
import type { SameKeys } from './read-side-shape.js'

/** Request and answer of GET /api/audit. */

export const auditQuerySchema = z.object({
  action: z.string().max(200).optional().meta({ description: 'Only entries of this action, e.g. `platform.ops.login.failed`.' }),
  operator: z
    .string()
    .min(1)
    .max(320)
    .optional()
    .meta({ description: "Only entries whose actor is this operator: their id, or their email (any case)." }),
  runId: z.string().min(1).max(64).optional().meta({ description: 'Only entries about this run (`operationRunId`).' }),
  cursor: z.string().max(500).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
  limit: decimal(z.number().int().min(1).max(200)).default(50),
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
        sequence: z.number().int().min(1).meta({ description: "The entry's place in the hash chain (1 for the first)." }),
        hash: z.string().meta({ description: "SHA-256 (hex) over `previousHash` and the entry's canonical JSON (SPEC §12)." }),
        previousHash: z.string().meta({ description: 'The hash of the entry before (64 zeros for the first).' }),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'AuditPage', description: 'Audit entries, newest first; `nextCursor` is null on the last page.' })

// Compile-time: the audit entry documented is the one the read side returns (see read-side-shape.ts).
true satisfies SameKeys<z.output<typeof auditPageSchema>['items'][number], AuditEntry>

/** Answer of GET /api/audit/verify (SPEC §12). */
export const auditVerificationSchema = z
  .object({
    ok: z.boolean().meta({ description: 'True when every entry recomputes and chains onto the one before, and the head is the last entry.' }),
    entries: z.number().int().min(0).meta({ description: 'How many entries the audit log holds.' }),
    headHash: z
      .string()
      .nullable()
      .meta({ description: 'The hash the next entry chains from (64 zeros for an empty log); null when the head row is gone.' }),
    firstBrokenSequence: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'The sequence of the first entry altered, deleted or inserted by hand; null when `ok`.' }),
    problem: z.string().nullable().meta({ description: 'What is wrong with that entry, in words; null when `ok`.' }),
  })
  .meta({ id: 'AuditVerification', description: "The audit log's hash chain, recomputed from its rows." })

true satisfies SameKeys<z.output<typeof auditVerificationSchema>, AuditChainVerification>
