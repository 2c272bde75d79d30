import { z } from 'zod'
import type { RebuildReport } from '../../projections/rebuild-report.js'
import { problemSchema } from './problem-schemas.js'
import type { SameKeys } from './read-side-shape.js'

/** Answer of POST /api/admin/rebuild-projections (SPEC §12 "Projection rebuild"). */

const tableChecksumSchema = z.object({
  rows: z.number().int().min(0),
  checksum: z.string().meta({ description: "MD5 digest of the table's rows (order-independent; see docs/decisions.md, Projection rebuild)." }),
})

export const rebuildReportSchema = z
  .object({
    events: z.number().int().min(0).meta({ description: 'Events of the store the new tables were built from, from position zero.' }),
    position: z.string().nullable().meta({ description: 'Where the read models stand after the switch (the last event applied); null for an empty store.' }),
    tables: z.array(
      z.object({
        table: z.string(),
        before: tableChecksumSchema.meta({ description: 'The live table, caught up to `position`, right before the switch.' }),
        after: tableChecksumSchema.meta({ description: 'The rebuilt table at the same position, switched in.' }),
        same: z.boolean().meta({ description: 'Rows and checksum equal before and after.' }),
      }),
    ),
    same: z.boolean().meta({ description: 'Every table is the same: the old read models were what the event store gives.' }),
    durationMs: z.number().int().min(0),
  })
  .meta({
    id: 'ProjectionRebuild',
    description: 'The read models, rebuilt from position zero into new tables and switched to in one transaction, with each table\'s checksum before and after.',
  })

true satisfies SameKeys<z.output<typeof rebuildReportSchema>, RebuildReport>

export const rebuildConflictProblemSchema = problemSchema
  .extend({
    code: z.enum(['REBUILD_UNDER_WAY', 'REBUILD_NOT_SWITCHED']).meta({
      description:
        '`REBUILD_UNDER_WAY`: this service is already rebuilding the read models. `REBUILD_NOT_SWITCHED`: the rebuilt tables ' +
        'could not be brought to the live projector\'s position (is it stuck?); the live read models are unchanged.',
    }),
  })
  .meta({ id: 'RebuildConflictProblem' })
