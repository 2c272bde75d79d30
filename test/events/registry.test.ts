import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { currentVersion, decodeEvent, encodeEvent, InvalidEventError, type DomainEvent, type EventMetadata } from '../../src/events/index.js'

const metadata = (): EventMetadata => ({
  eventId: randomUUID(),
  correlationId: 'run-1',
  causationId: null,
  initiator: { kind: 'system', component: 'dispatcher' },
  occurredAt: new Date().toISOString(),
})

const started: DomainEvent = { type: 'RunStarted', data: { runId: '01ARZ3NDEKTSV4RRFFQ69G5FAV', startedAt: '2026-01-01T00:00:00.000Z' } }

describe('event registry', () => {
  it('encodes with the current schema version and decodes back to the same event', () => {
    const encoded = encodeEvent(started, metadata())
    expect(encoded.version).toBe(currentVersion.RunStarted)
    const decoded = decodeEvent(encoded.type, encoded.version, encoded.data, encoded.metadata)
    expect(decoded.event).toEqual(started)
  })

  it('refuses to write an event that breaks its schema or carries unknown keys', () => {
    expect(() => encodeEvent({ type: 'RunStarted', data: { runId: '' } } as never, metadata())).toThrow(InvalidEventError)
    expect(() => encodeEvent({ type: 'RunStarted', data: { ...started.data, extra: 1 } } as never, metadata())).toThrow(InvalidEventError)
    expect(() =>
      encodeEvent(
        { type: 'RunCompleted', data: { runId: 'r', outcome: 'succeeded', summaryCounts: { total: 0, processed: 0, updated: 0, skipped: 0, failed: 0, bogus: 1 }, failureSummary: [], completedAt: '2026-01-01T00:00:00Z' } } as never,
        metadata(),
      ),
    ).toThrow(/bogus|Unrecognized/i)
  })

  it('refuses text PostgreSQL cannot store, in data and metadata', () => {
    const bad = { ...metadata(), correlationId: 'run\u0000' }
    expect(() => encodeEvent(started, bad)).toThrow(/NUL or lone surrogate/)
  })

  it('refuses to read an unknown type, an unknown version, bad data or bad metadata', () => {
    const encoded = encodeEvent(started, metadata())
    expect(() => decodeEvent('NoSuchEvent', 1, encoded.data, encoded.metadata)).toThrow(InvalidEventError)
    expect(() => decodeEvent('RunStarted', 99, encoded.data, encoded.metadata)).toThrow(/unknown schema version/)
    expect(() => decodeEvent('RunStarted', 1, { runId: 5 }, encoded.metadata)).toThrow(InvalidEventError)
    expect(() => decodeEvent('RunStarted', 1, encoded.data, { ...encoded.metadata, eventId: 'not-a-uuid' })).toThrow(/metadata/)
  })
})
