import { OpenAPIHono } from '@hono/zod-openapi'
import { accepts } from 'hono/accepts'
import { capabilities } from '../../auth/capabilities.js'
import type { EventLog, LoggedEvent } from '../../store/event-log.js'
import type { AppEnv } from '../authentication.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import { eventLineSchema, eventPageSchema, listEventsQuerySchema } from '../schemas/event-schemas.js'
import { storedEventItemOf } from './event-item.js'

/** SPEC §12 "Replaying streams": the whole event store, for auditors and their tools. */

export const NDJSON = 'application/x-ndjson'

/** Events read per round trip while streaming NDJSON: the next page is read only once the client took this one. */
const NDJSON_PAGE = 500

const listEventsRoute = apiRoute({
  method: 'get',
  path: '/',
  summary: 'Every event of the event store, in global order',
  description:
    'Items are those of `GET /api/runs/{id}/events` plus `streamName`. Page on with `after` = the previous page\'s `nextCursor` ' +
    '(or any event\'s `position`). With `Accept: application/x-ndjson` the answer is every event after `after` to the end of the ' +
    'store, one JSON object per line, streamed as the client reads it (`limit` does not apply).',
  tags: ['events'],
  access: { capabilities: [capabilities.opsView] },
  query: listEventsQuerySchema,
  answer: {
    status: 200,
    description: 'A page of events (JSON), or every event after `after` (NDJSON).',
    schema: eventPageSchema,
    alternatives: { [NDJSON]: eventLineSchema },
  },
})

export function eventRoutes(deps: { log: EventLog }) {
  const app = new OpenAPIHono<AppEnv>()
  serveRoute(app, listEventsRoute, async (c, input) => {
    const { after, limit } = input.query()
    c.header('Vary', 'Accept')
    if (accepts(c, { header: 'Accept', supports: ['application/json', NDJSON], default: 'application/json' }) === NDJSON) {
      // The first page is read before answering: a store that cannot be read is an error answer, not a cut stream.
      const first = await deps.log.readAll({ after: after ?? null, maxCount: NDJSON_PAGE })
      return c.body(ndjsonLines(deps.log, first), 200, { 'Content-Type': NDJSON, 'Cache-Control': 'no-store' })
    }
    // One more than the page: whether there is a next page is known without an empty last page.
    const read = await deps.log.readAll({ after: after ?? null, maxCount: limit + 1 })
    const items = read.slice(0, limit)
    return c.json({ items: items.map(storedEventItemOf), nextCursor: read.length > limit ? items.at(-1)!.position : null })
  })
  return app
}

/**
 * The events from `first` on, page after page, one line each. Pull-based: a page is read from the store only
 * when the client has taken the previous one (backpressure), so an export of any size holds one page in memory.
 * It ends at the first short page: the end of the store as it was then.
 */
export function ndjsonLines(log: EventLog, first: LoggedEvent[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  let page: LoggedEvent[] | null = first
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const events: LoggedEvent[] = page ?? []
        page = null
        if (events.length > 0) controller.enqueue(encoder.encode(events.map((e) => `${JSON.stringify(storedEventItemOf(e))}\n`).join('')))
        if (events.length < NDJSON_PAGE) {
          controller.close()
          return
        }
        page = await log.readAll({ after: events.at(-1)!.position, maxCount: NDJSON_PAGE })
      },
    },
    { highWaterMark: 0 },
  )
}
