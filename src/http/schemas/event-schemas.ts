import { z } from 'zod'
import { decimal } from './decimal-query.js'
import { eventMetadataSchema } from '../../events/index.js'

/**
 * Events as the API shows them (SPEC §7 `GET /api/runs/{id}/events`, SPEC §12 `GET /api/events`): one item
 * shape for both, so that an auditor's tools read a run's stream and the whole store alike.
 */

const instant = z.iso.datetime()

export const eventItemSchema = z
  .object({
    type: z.string(),
    version: z.number().int().meta({ description: 'The schema version the data is shown in (older versions are upcast on read).' }),
    data: z.record(z.string(), z.unknown()),
    metadata: eventMetadataSchema,
    revision: z.number().int().meta({ description: 'Place in its stream, from 0: the first event of a stream has revision 0.' }),
    position: z.string().meta({ description: 'Place in the event store, as text (opaque; usable as `after` of `GET /api/events`).' }),
    recordedAt: instant,
  })
  .meta({ id: 'Event' })

export const storedEventItemSchema = eventItemSchema
  .extend({ streamName: z.string().meta({ description: 'The stream the event belongs to (`run-<id>`, `operator-<id>`, …).' }) })
  .meta({ id: 'StoredEvent' })

/**
 * A place in the store's global order: the `nextCursor` of the previous page, or any event's `position`
 * (the page then starts after that event). Both event stores write it as two decimal integers.
 */
const MAX_BIGINT = 9_223_372_036_854_775_807n

/** Two decimal integers that fit PostgreSQL's bigint (EventStoreDB's commit and prepare positions do too). */
function isPosition(cursor: string): boolean {
  return /^\d{1,19}:\d{1,19}$/.test(cursor) && cursor.split(':').every((part) => BigInt(part) <= MAX_BIGINT)
}

export const eventCursorSchema = z
  .string()
  .max(41)
  .refine(isPosition, 'not a cursor this API issued')
  .meta({ description: 'Start after this place: the previous page\'s `nextCursor`, or an event\'s `position`. Left out: from the first event.' })

export const EVENTS_PAGE_DEFAULT = 50
export const EVENTS_PAGE_MAX = 200

export const listEventsQuerySchema = z.object({
  after: eventCursorSchema.optional(),
  limit: decimal(z.number().int().min(1).max(EVENTS_PAGE_MAX))
    .default(EVENTS_PAGE_DEFAULT)
    .meta({ description: `Events per page (JSON), ${EVENTS_PAGE_DEFAULT} by default. Ignored by the NDJSON answer, which streams every event after \`after\`.` }),
})

export const eventPageSchema = z
  .object({
    items: z.array(storedEventItemSchema),
    nextCursor: z.string().nullable().meta({ description: 'Null when the page reached the end of the store (as it was when read).' }),
  })
  .meta({ id: 'EventPage', description: 'Events in the global order of the event store.' })

export const eventLineSchema = storedEventItemSchema.meta({
  id: 'EventLine',
  description: 'With `Accept: application/x-ndjson`: one such object per line, every event after `after` to the end of the store.',
})
