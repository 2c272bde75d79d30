/**
 * The event store port. Adapters (PostgreSQL, embedded PostgreSQL, EventStoreDB) are raw: they move
 * opaque JSON and must all pass `test/store/event-store.contract.ts`. Validation of event payloads
 * happens one level up, in `EventLog` (src/store/event-log.ts).
 */

/** 'no_stream': the stream must not exist; 'stream_exists': it must; a number: its last revision must equal it. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number

export interface EventToAppend {
  /** A UUID. Appending an event id that is already stored in the same stream at the same place is a no-op. */
  eventId: string
  type: string
  version: number
  data: unknown
  metadata: unknown
}

export interface StoredEvent {
  streamId: string
  eventId: string
  type: string
  version: number
  data: unknown
  metadata: unknown
  /** 0-based position of the event inside its stream. */
  revision: number
  /**
   * Opaque, adapter-specific global position ("<a>:<b>" pairs of decimal integers). Only the adapter
   * that produced it can compare it; callers store it and hand it back as `after`.
   */
  position: string
  recordedAt: Date
}

export interface AppendResult {
  /** The revision of the last event of the stream after the append. */
  nextExpectedRevision: number
  /** Global position of the last appended event. */
  position: string
}

export interface ReadAllOptions {
  /** Read events strictly after this position; null/undefined reads from the beginning. */
  after?: string | null
  maxCount: number
}

export interface StreamAppend {
  streamId: string
  events: EventToAppend[]
  expectedRevision: ExpectedRevision
}

export interface EventStore {
  /** Appends all events or none. Throws `WrongExpectedRevisionError` when the expectation fails. */
  append(streamId: string, events: EventToAppend[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult>
  /**
   * Appends to several streams, in order. When `atomicMultiStreamAppend` is true, all of them or none
   * (one transaction); otherwise one after the other, stopping at the first failure (EventStoreDB has no
   * multi-stream transaction), and callers must tolerate a prefix having been written.
   */
  appendMany(appends: StreamAppend[]): Promise<AppendResult[]>
  readonly atomicMultiStreamAppend: boolean
  /** The stream in revision order; an empty array when the stream does not exist. */
  readStream(streamId: string, options?: { fromRevision?: number; maxCount?: number }): Promise<StoredEvent[]>
  /**
   * All streams in one global order that never changes once observed: a reader that checkpoints the
   * position of the last event it saw never skips an event committed later at an earlier place.
   */
  readAll(options: ReadAllOptions): Promise<StoredEvent[]>
  /**
   * Wakes subscribers early when this process appended something, and where the store can tell (the
   * PostgreSQL event store, shared by the roles as processes) when any process did; they still poll, for what
   * no wake-up announced.
   */
  onAppended(listener: () => void): () => void
  close(): Promise<void>
}

export class WrongExpectedRevisionError extends Error {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | 'no_stream',
  ) {
    super(`stream ${streamId}: expected revision ${String(expected)}, actual ${String(actual)}`)
    this.name = 'WrongExpectedRevisionError'
  }
}
