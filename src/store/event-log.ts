import { randomUUID } from 'node:crypto'
import { decodeEvent, encodeEvent, type DomainEvent, type EventMetadata, type Initiator } from '../events/index.js'
import type { EventStore, ExpectedRevision, StoredEvent } from './event-store.js'

/** What a store in the service's own database offers beside the port (PostgresEventStore). */
interface TransactionalAppend {
  appendInTransaction(tx: unknown, streamId: string, events: ReturnType<typeof encodeAll>, options: { expectedRevision: ExpectedRevision }): Promise<{ position: string; nextExpectedRevision: number }>
}

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
  /** Ids for the events, in order, when the caller must know them before the append (causation chains). */
  eventIds?: string[]
  /** Each event's own causation, in order, where the events of one append have different causes (else `causationId`). */
  causationIds?: Array<string | null>
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

function encodeAll(events: DomainEvent[], context: AppendContext) {
  const occurredAt = context.occurredAt ?? new Date().toISOString()
  return events.map((event, index) => {
    const metadata: EventMetadata = {
      eventId: context.eventIds?.[index] ?? randomUUID(),
      correlationId: context.correlationId,
      causationId: context.causationIds?.[index] ?? context.causationId,
      initiator: context.initiator,
      occurredAt,
    }
    return { eventId: metadata.eventId, ...encodeEvent(event, metadata) }
  })
}

/**
 * The typed face of the event store: every event is validated against its schema when written and again
 * when read, and gets its metadata (event id, correlation, causation, initiator, time) here, in one place.
 */
export class EventLog {
  /** `onAppended`: told of each append this log made (metrics: `ops_event_store_appends_total`). */
  constructor(
    readonly store: EventStore,
    private readonly onAppended: (appended: { streams: number; events: number }) => void = () => {},
  ) {}

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

  /**
   * Every stream in the store's global order, strictly after `after` (from the first event when null), at
   * most `maxCount` events, each validated and upcast as `read` does.
   */
  async readAll(options: { after?: string | null; maxCount: number }): Promise<LoggedEvent[]> {
    const stored = await this.store.readAll(options)
    return stored.map(toLoggedEvent)
  }

  async append(
    streamId: string,
    events: DomainEvent[],
    expectedRevision: ExpectedRevision,
    context: AppendContext,
  ): Promise<{ position: string; nextExpectedRevision: number; eventIds: string[] }> {
    const encoded = encodeAll(events, context)
    const result = await this.store.append(streamId, encoded, { expectedRevision })
    this.onAppended({ streams: 1, events: encoded.length })
    return { ...result, eventIds: encoded.map((e) => e.eventId) }
  }

  /** Whether `appendInTransaction` works: the events live in the database the caller's transaction is on. */
  get appendsInTransactions(): boolean {
    return typeof (this.store as Partial<TransactionalAppend>).appendInTransaction === 'function'
  }

  /**
   * Appends inside a transaction the caller holds, so that the events and the caller's other writes commit
   * together (only for a store in the same PostgreSQL: see `appendsInTransactions`).
   */
  async appendInTransaction(
    tx: unknown,
    streamId: string,
    events: DomainEvent[],
    expectedRevision: ExpectedRevision,
    context: AppendContext,
  ): Promise<{ position: string; nextExpectedRevision: number; eventIds: string[] }> {
    const store = this.store as Partial<TransactionalAppend>
    if (!store.appendInTransaction) throw new Error('this event store cannot append inside a database transaction')
    const encoded = encodeAll(events, context)
    const result = await store.appendInTransaction(tx, streamId, encoded, { expectedRevision })
    // Counted when written into the caller's transaction: one that rolls back later was counted anyway.
    this.onAppended({ streams: 1, events: encoded.length })
    return { ...result, eventIds: encoded.map((e) => e.eventId) }
  }

  /**
   * Appends to several streams (atomically where the store can: see `EventStore.appendMany`). Every event
   * of every stream is validated before anything is written.
   */
  async appendMany(
    appends: Array<{ streamId: string; events: DomainEvent[]; expectedRevision: ExpectedRevision; context: AppendContext }>,
  ): Promise<Array<{ position: string; nextExpectedRevision: number; eventIds: string[] }>> {
    const encoded = appends.map(({ streamId, events, expectedRevision, context }) => ({
      streamId,
      expectedRevision,
      events: encodeAll(events, context),
    }))
    const results = await this.store.appendMany(encoded)
    this.onAppended({ streams: encoded.length, events: encoded.reduce((sum, append) => sum + append.events.length, 0) })
    return results.map((result, index) => ({ ...result, eventIds: encoded[index]!.events.map((e) => e.eventId) }))
  }
}
