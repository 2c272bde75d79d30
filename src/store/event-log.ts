import { randomUUID } from 'node:crypto'
import { decodeEvent, encodeEvent, type DomainEvent, type EventMetadata, type Initiator } from '../events/index.js'
import type { EventStore, ExpectedRevision, StoredEvent } from './event-store.js'

export interface LoggedEvent {
  event: DomainEvent
  metadata: EventMetadata
  /** The schema version the event was written with. */
  version: number
  streamId: string
  revision: number
  position: string
  recordedAt: Date
}

export interface AppendContext {
  correlationId: string
  causationId: string | null
  initiator: Initiator
  /** Defaults to the current time. */
  occurredAt?: string
}

export function toLoggedEvent(stored: StoredEvent): LoggedEvent {
  const { event, metadata } = decodeEvent(stored.type, stored.version, stored.data, stored.metadata)
  return {
    event,
    metadata,
    version: stored.version,
    streamId: stored.streamId,
    revision: stored.revision,
    position: stored.position,
    recordedAt: stored.recordedAt,
  }
}

/**
 * The typed face of the event store: every event is validated against its schema when written and again
 * when read, and gets its metadata (event id, correlation, causation, initiator, time) here, in one place.
 */
export class EventLog {
  constructor(readonly store: EventStore) {}

  /**
   * The stream's events from `fromRevision` (default 0), at most `maxCount`; `revision` is that of the last
   * event returned, or `fromRevision - 1` (null for 0) when none was.
   */
  async read(
    streamId: string,
    options: { fromRevision?: number; maxCount?: number } = {},
  ): Promise<{ events: LoggedEvent[]; revision: number | null }> {
    const stored = await this.store.readStream(streamId, options)
    const events = stored.map(toLoggedEvent)
    const last = events.at(-1)
    const before = (options.fromRevision ?? 0) - 1
    return { events, revision: last ? last.revision : before >= 0 ? before : null }
  }

  async append(
    streamId: string,
    events: DomainEvent[],
    expectedRevision: ExpectedRevision,
    context: AppendContext,
  ): Promise<{ position: string; nextExpectedRevision: number; eventIds: string[] }> {
    const occurredAt = context.occurredAt ?? new Date().toISOString()
    const encoded = events.map((event) => {
      const metadata: EventMetadata = {
        eventId: randomUUID(),
        correlationId: context.correlationId,
        causationId: context.causationId,
        initiator: context.initiator,
        occurredAt,
      }
      return { eventId: metadata.eventId, ...encodeEvent(event, metadata) }
    })
    const result = await this.store.append(streamId, encoded, { expectedRevision })
    return { ...result, eventIds: encoded.map((e) => e.eventId) }
  }
}
