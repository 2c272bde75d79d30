import { z } from 'zod'

/**
 * SPEC §12 "Projection rebuild": each rebuild that switched the read models, on one deployment-wide stream,
 * so that the audit log says who rebuilt them, when, and whether any table held what the event store does
 * not give (a table edited or damaged by hand, repaired by the rebuild).
 */
export const readModelsRebuiltV1 = z
  .object({
    /** The events replayed into the new tables (the whole store, up to the switch). */
    events: z.number().int().min(0),
    /** The event store position both sides stood at when switched; null for an empty store. */
    position: z.string().nullable(),
    /** Every table's rows and checksum were the same before and after. */
    same: z.boolean(),
    /** The tables whose rows differed (repaired by the switch). */
    changedTables: z.array(z.string().min(1).max(63)).max(50),
    rebuiltAt: z.iso.datetime({ offset: true }),
  })
  .strict()

/** The rebuilds' stream (kept beside its event, like the alert destinations'). */
export function readModelRebuildsStream(): string {
  return 'deployment-read-model-rebuilds'
}
