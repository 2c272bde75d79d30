import type { z } from 'zod'
import { currentVersion } from '../../events/index.js'
import type { LoggedEvent } from '../../store/event-log.js'
import type { eventItemSchema, storedEventItemSchema } from '../schemas/event-schemas.js'

export type EventItem = z.output<typeof eventItemSchema>
export type StoredEventItem = z.output<typeof storedEventItemSchema>

/** One event as `GET /api/runs/{id}/events` shows it; `GET /api/events` adds the stream's name. */
export function eventItemOf(logged: LoggedEvent): EventItem {
  return {
    type: logged.event.type,
    // The data is shown upcast to the current version of its type (the version it is stored with may be older).
    version: currentVersion[logged.event.type],
    data: logged.event.data as Record<string, unknown>,
    metadata: logged.metadata,
    revision: logged.revision,
    position: logged.position,
    recordedAt: logged.recordedAt.toISOString(),
  }
}

export function storedEventItemOf(logged: LoggedEvent): StoredEventItem {
  return { ...eventItemOf(logged), streamName: logged.streamId }
}
