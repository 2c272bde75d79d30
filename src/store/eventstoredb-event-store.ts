/**
 * The event store port on EventStoreDB / KurrentDB, through `@eventstore/db-client` (gRPC).
 *
 * EventStoreDB already provides what the PostgreSQL adapter has to build: one global order (`$all`) that
 * never changes once observed, optimistic concurrency per stream, and idempotent appends keyed by event
 * id. This adapter only translates between the port's plain values and the client's bigint/constant ones.
 */
import {
  ANY,
  BACKWARDS,
  END,
  ErrorType,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  jsonEvent,
  type AppendExpectedRevision,
  type JSONType,
  type Position,
  type RecordedEvent,
  DeadlineExceededError,
  UnavailableError,
} from '@eventstore/db-client'
import { recogniseOutages } from '../dependency-outages.js'
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type ReadAllOptions,
  type StoredEvent,
  type StreamAppend,
} from './event-store.js'

// No node of the cluster answers, or none in time (the client's errors keep name 'Error'): the API answers
// 503 with Retry-After while EventStoreDB is down (src/http/dependency-unavailable.ts).
recogniseOutages((error) => (error instanceof UnavailableError || error instanceof DeadlineExceededError ? 'EventStoreDB unavailable' : null))

// ---------------------------------------------------------------------------------------------------------
// Pure mappings between the port and the client (exported for unit tests; no I/O).
// ---------------------------------------------------------------------------------------------------------

/** Connection-string schemes KurrentDB clients accept, mapped to the ones this (EventStoreDB v6) client parses. */
const SCHEME_ALIASES: Record<string, string> = {
  esdb: 'esdb',
  'esdb+discover': 'esdb+discover',
  kurrentdb: 'esdb',
  'kurrentdb+discover': 'esdb+discover',
  kurrent: 'esdb',
  'kurrent+discover': 'esdb+discover',
  kdb: 'esdb',
  'kdb+discover': 'esdb+discover',
}

/**
 * Rewrites `kurrentdb://…` (and its aliases) to `esdb://…`, which is all this client understands.
 * The error never echoes the string: it may hold a password.
 */
export function toEsdbConnectionString(connectionString: string): string {
  const trimmed = connectionString.trim()
  const match = /^([a-z+]+):\/\//i.exec(trimmed)
  const scheme = match?.[1]?.toLowerCase()
  const mapped = scheme === undefined ? undefined : SCHEME_ALIASES[scheme]
  if (match === null || mapped === undefined) {
    throw new Error(
      'EventStoreDB connection string must start with esdb://, esdb+discover://, kurrentdb:// or kurrentdb+discover://',
    )
  }
  return `${mapped}://${trimmed.slice(match[0].length)}`
}

export function toEsdbExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'any':
      return ANY
    case 'no_stream':
      return NO_STREAM
    case 'stream_exists':
      return STREAM_EXISTS
    default:
      if (!Number.isSafeInteger(expected) || expected < 0) {
        throw new RangeError(`expected revision must be a non-negative integer, got ${String(expected)}`)
      }
      return BigInt(expected)
  }
}

/**
 * The stream's revision as reported by a wrong-expected-version answer. Servers and client paths report
 * a missing stream either as the constant or as -1.
 */
export function fromEsdbCurrentRevision(current: typeof NO_STREAM | bigint): number | 'no_stream' {
  if (current === NO_STREAM || current < 0n) return 'no_stream'
  return toSafeNumber(current, 'stream revision')
}

export function encodePosition(position: Position): string {
  return `${position.commit.toString(10)}:${position.prepare.toString(10)}`
}

export function decodePosition(encoded: string): Position {
  const match = /^(\d+):(\d+)$/.exec(encoded)
  if (match === null) throw new Error(`not an EventStoreDB position: "${encoded}" (expected "<commit>:<prepare>")`)
  return { commit: BigInt(match[1]!), prepare: BigInt(match[2]!) }
}

/** $all order: by commit position, then by prepare position (events committed together share a commit). */
export function comparePositions(a: Position, b: Position): -1 | 0 | 1 {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1
  return 0
}

/**
 * ESDB has no field for a schema version, so the event's own metadata travels inside an envelope in the
 * ESDB metadata: `{version, metadata}`.
 */
export interface MetadataEnvelope {
  version: number
  metadata: unknown
}

export function wrapMetadata(version: number, metadata: unknown): MetadataEnvelope {
  if (!Number.isSafeInteger(version)) {
    throw new RangeError(`event schema version must be an integer, got ${String(version)}`)
  }
  // JSON has no `undefined`; null keeps the key so an unwrap can tell "none given" from "not our envelope".
  return { version, metadata: metadata === undefined ? null : metadata }
}

export function unwrapMetadata(raw: unknown, eventId: string): MetadataEnvelope {
  if (
    typeof raw === 'object' &&
    raw !== null &&
    !Array.isArray(raw) &&
    'version' in raw &&
    'metadata' in raw &&
    Number.isSafeInteger(raw.version)
  ) {
    return { version: raw.version as number, metadata: raw.metadata }
  }
  // Failing loudly beats inventing a version: an event written by something else cannot be validated.
  throw new Error(`event ${eventId} was not written by this service: its metadata lacks the {version, metadata} envelope`)
}

/** `$`-prefixed streams (`$settings`, `$$…` metadata streams, `$stats-…`) and `$` event types belong to the server. */
export function isSystemEvent(streamId: string, type: string): boolean {
  return streamId.startsWith('$') || type.startsWith('$')
}

function toSafeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} ${value} exceeds Number.MAX_SAFE_INTEGER`)
  return Number(value)
}

/**
 * Stream reads on servers before 22.6 carry no $all position: the fields are absent (the client then
 * reads 0:0, where no user event can sit: the log starts with the server's own records) or uint64 max.
 */
const NO_POSITION = 2n ** 64n - 1n

function hasRealPosition(position: Position | undefined): position is Position {
  if (position === undefined) return false
  if (position.commit === NO_POSITION || position.prepare === NO_POSITION) return false
  return position.commit !== 0n || position.prepare !== 0n
}

export function toStoredEvent(recorded: RecordedEvent, position: Position): StoredEvent {
  if (!recorded.isJson) throw new Error(`event ${recorded.id} in ${recorded.streamId} is binary; this service writes JSON only`)
  const envelope = unwrapMetadata(recorded.metadata, recorded.id)
  return {
    streamId: recorded.streamId,
    eventId: recorded.id,
    type: recorded.type,
    version: envelope.version,
    data: recorded.data,
    metadata: envelope.metadata,
    revision: toSafeNumber(recorded.revision, 'stream revision'),
    position: encodePosition(position),
    recordedAt: recorded.created,
  }
}

// ---------------------------------------------------------------------------------------------------------
// The adapter.
// ---------------------------------------------------------------------------------------------------------

/** Upper bound of one `$all` page; readAll loops over pages until it has `maxCount` user events or the end. */
const MAX_PAGE_SIZE = 4096
/** Pages are never tiny, so a run of system events between user events costs few round trips. */
const MIN_PAGE_SIZE = 64

export class EventStoreDbEventStore implements EventStore {
  private readonly listeners = new Set<() => void>()

  /** EventStoreDB has no transaction across streams. */
  readonly atomicMultiStreamAppend = false

  private constructor(private readonly client: EventStoreDBClient) {}

  async appendMany(appends: StreamAppend[]): Promise<AppendResult[]> {
    const results: AppendResult[] = []
    for (const { streamId, events, expectedRevision } of appends) {
      results.push(await this.append(streamId, events, { expectedRevision }))
    }
    return results
  }

  /**
   * Accepts `esdb://`, `esdb+discover://`, `kurrentdb://` and `kurrentdb+discover://`. The client connects
   * lazily on the first call, so an unreachable server surfaces there (and in `ping`), not here.
   */
  static async connect(connectionString: string): Promise<EventStoreDbEventStore> {
    return new EventStoreDbEventStore(EventStoreDBClient.connectionString(toEsdbConnectionString(connectionString)))
  }

  async append(
    streamId: string,
    events: EventToAppend[],
    options: { expectedRevision: ExpectedRevision },
  ): Promise<AppendResult> {
    const expected = options.expectedRevision
    const esdbExpected = toEsdbExpectedRevision(expected)
    if (events.length === 0) return this.checkWithoutAppending(streamId, expected)

    const proposed = events.map((event) =>
      jsonEvent({
        id: event.eventId,
        type: event.type,
        // The client JSON-encodes any value; its type only admits objects, arrays and strings.
        data: (event.data === undefined ? null : event.data) as JSONType,
        metadata: wrapMetadata(event.version, event.metadata),
      }),
    )

    let result
    try {
      result = await this.client.appendToStream(streamId, proposed, { expectedRevision: esdbExpected })
    } catch (error) {
      if (isWrongExpectedVersion(error)) {
        throw new WrongExpectedRevisionError(streamId, expected, fromEsdbCurrentRevision(error.actualVersion))
      }
      throw error
    }
    // Only when the connection string sets throwOnAppendFailure=false does the client answer instead of throwing.
    if (!result.success) {
      throw new WrongExpectedRevisionError(streamId, expected, fromEsdbCurrentRevision(result.nextExpectedRevision))
    }

    const nextExpectedRevision = toSafeNumber(result.nextExpectedRevision, 'stream revision')
    const position = await this.positionOfRevision(streamId, result.nextExpectedRevision, result.position)
    this.notifyAppended()
    return { nextExpectedRevision, position: encodePosition(position) }
  }

  async readStream(streamId: string, options: { fromRevision?: number; maxCount?: number } = {}): Promise<StoredEvent[]> {
    const maxCount = options.maxCount ?? Number.MAX_SAFE_INTEGER
    if (maxCount <= 0) return []
    const fromRevision = options.fromRevision ?? 0
    if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) {
      throw new RangeError(`fromRevision must be a non-negative integer, got ${String(fromRevision)}`)
    }
    const stored: StoredEvent[] = []
    try {
      for await (const resolved of this.client.readStream(streamId, {
        fromRevision: BigInt(fromRevision),
        maxCount,
        direction: FORWARDS,
      })) {
        const recorded = resolved.event
        if (recorded === undefined) continue
        if (!hasRealPosition(recorded.position)) {
          throw new Error('EventStoreDB did not report $all positions on a stream read; it needs server 22.6 or later')
        }
        stored.push(toStoredEvent(recorded, recorded.position))
      }
    } catch (error) {
      if (isStreamNotFound(error)) return []
      throw error
    }
    return stored
  }

  async readAll(options: ReadAllOptions): Promise<StoredEvent[]> {
    const maxCount = options.maxCount
    if (maxCount <= 0) return []
    let cursor: Position | null = options.after ? decodePosition(options.after) : null
    const stored: StoredEvent[] = []

    while (stored.length < maxCount) {
      // ESDB's fromPosition is inclusive: ask for one more so the event at the cursor itself does not
      // eat a slot, and drop anything at or before the cursor below.
      const pageSize = Math.min(Math.max(maxCount - stored.length + 1, MIN_PAGE_SIZE), MAX_PAGE_SIZE)
      let received = 0
      let advanced = false
      for await (const resolved of this.client.readAll({
        fromPosition: cursor ?? START,
        maxCount: pageSize,
        direction: FORWARDS,
        resolveLinkTos: false,
      })) {
        received++
        const recorded = resolved.event
        if (recorded === undefined) continue
        if (cursor !== null && comparePositions(recorded.position, cursor) <= 0) continue
        // Keep draining the page rather than breaking out: the read is already bounded by pageSize.
        if (stored.length >= maxCount) continue
        cursor = recorded.position
        advanced = true
        if (isSystemEvent(recorded.streamId, recorded.type)) continue
        stored.push(toStoredEvent(recorded, recorded.position))
      }
      if (received < pageSize || !advanced) break
    }
    return stored
  }

  onAppended(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  /** Reachability for `/health`: one bounded read of the end of `$all`. Not part of the port. */
  async ping(): Promise<void> {
    for await (const _ of this.client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 1, deadline: 5_000 })) {
      // Draining is enough: a reachable server answers, an unreachable one rejects.
    }
  }

  async close(): Promise<void> {
    this.listeners.clear()
    await this.client.dispose()
  }

  /**
   * An empty append writes nothing in ESDB, so the expectation is checked against the stream as read:
   * the port promises the same WrongExpectedRevisionError whether or not there are events.
   */
  private async checkWithoutAppending(streamId: string, expected: ExpectedRevision): Promise<AppendResult> {
    const last = await this.lastEvent(streamId)
    const actual: number | 'no_stream' = last === null ? 'no_stream' : toSafeNumber(last.revision, 'stream revision')
    const satisfied =
      expected === 'any' ||
      (expected === 'no_stream' && actual === 'no_stream') ||
      (expected === 'stream_exists' && actual !== 'no_stream') ||
      expected === actual
    if (!satisfied) throw new WrongExpectedRevisionError(streamId, expected, actual)
    if (last === null) return { nextExpectedRevision: -1, position: encodePosition({ commit: 0n, prepare: 0n }) }
    return { nextExpectedRevision: actual as number, position: encodePosition(last.position) }
  }

  private async lastEvent(streamId: string): Promise<{ revision: bigint; position: Position } | null> {
    try {
      for await (const resolved of this.client.readStream(streamId, { fromRevision: END, direction: BACKWARDS, maxCount: 1 })) {
        const recorded = resolved.event
        if (recorded !== undefined && hasRealPosition(recorded.position)) {
          return { revision: recorded.revision, position: recorded.position }
        }
      }
    } catch (error) {
      if (isStreamNotFound(error)) return null
      throw error
    }
    return null
  }

  /**
   * The $all position of the last appended event, as a `$all` reader will see it. The append answer's
   * position is the write's, which for a multi-event write is not guaranteed to be its last event's pair,
   * so the event is read back; the answer's position is the fallback for servers that do not report one.
   */
  private async positionOfRevision(streamId: string, revision: bigint, fallback: Position | undefined): Promise<Position> {
    for await (const resolved of this.client.readStream(streamId, { fromRevision: revision, maxCount: 1 })) {
      const position = resolved.event?.position
      if (hasRealPosition(position)) return position
    }
    if (hasRealPosition(fallback)) return fallback
    throw new Error(`EventStoreDB reported no position for revision ${revision} of ${streamId}`)
  }

  private notifyAppended(): void {
    for (const listener of this.listeners) {
      try {
        listener()
      } catch {
        // A listener only wakes a poller early; its failure must not turn a stored append into an error.
      }
    }
  }
}

function isWrongExpectedVersion(error: unknown): error is { actualVersion: typeof NO_STREAM | bigint } {
  return hasErrorType(error, ErrorType.WRONG_EXPECTED_VERSION)
}

function isStreamNotFound(error: unknown): boolean {
  return hasErrorType(error, ErrorType.STREAM_NOT_FOUND)
}

// The client tags its errors with `type`; checking the tag survives duplicate copies of the package.
function hasErrorType(error: unknown, type: ErrorType): boolean {
  return typeof error === 'object' && error !== null && 'type' in error && error.type === type
}
