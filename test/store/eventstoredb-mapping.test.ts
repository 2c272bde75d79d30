import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { RecordedEvent } from '@eventstore/db-client'
import {
  comparePositions,
  decodePosition,
  encodePosition,
  fromEsdbCurrentRevision,
  isSystemEvent,
  toEsdbConnectionString,
  toEsdbExpectedRevision,
  toStoredEvent,
  unwrapMetadata,
  wrapMetadata,
} from '../../src/store/eventstoredb-event-store.js'

const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 2n })
function catchError(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  return undefined
}

const position = fc.record({ commit: uint64, prepare: uint64 })

describe('EventStoreDB connection string', () => {
  it('passes esdb:// through and maps kurrentdb:// to esdb://', () => {
    expect(toEsdbConnectionString('esdb://eventstore:2113?tls=false')).toBe('esdb://eventstore:2113?tls=false')
    expect(toEsdbConnectionString('kurrentdb://admin:changeit@kdb:2113?tls=false')).toBe(
      'esdb://admin:changeit@kdb:2113?tls=false',
    )
    expect(toEsdbConnectionString('kurrentdb+discover://a:2113,b:2113')).toBe('esdb+discover://a:2113,b:2113')
    expect(toEsdbConnectionString('  KurrentDB://host:2113 ')).toBe('esdb://host:2113')
  })

  it('rejects other schemes without echoing the secret-bearing string', () => {
    expect(() => toEsdbConnectionString('postgres://u:s3cret@h/db')).toThrow(/must start with esdb:\/\//)
    const error = catchError(() => toEsdbConnectionString('http://u:s3cret@h'))
    expect(error).toBeInstanceOf(Error)
    expect(String(error)).not.toContain('s3cret')
    expect(() => toEsdbConnectionString('eventstore:2113')).toThrow()
  })
})

describe('expected revision mapping', () => {
  it('maps the named expectations to the client constants', () => {
    expect(toEsdbExpectedRevision('any')).toBe('any')
    expect(toEsdbExpectedRevision('no_stream')).toBe('no_stream')
    expect(toEsdbExpectedRevision('stream_exists')).toBe('stream_exists')
  })

  it('maps an exact revision to a bigint', () => {
    fc.assert(
      fc.property(fc.nat(), (revision) => {
        expect(toEsdbExpectedRevision(revision)).toBe(BigInt(revision))
      }),
    )
  })

  it('rejects revisions that cannot be a stream revision', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => toEsdbExpectedRevision(bad)).toThrow(RangeError)
    }
  })

  it('reads the current revision of a conflict back as the port reports it', () => {
    expect(fromEsdbCurrentRevision('no_stream')).toBe('no_stream')
    expect(fromEsdbCurrentRevision(-1n)).toBe('no_stream')
    expect(fromEsdbCurrentRevision(0n)).toBe(0)
    expect(fromEsdbCurrentRevision(41n)).toBe(41)
    expect(() => fromEsdbCurrentRevision(2n ** 60n)).toThrow(RangeError)
  })
})

describe('position encoding', () => {
  it('encodes as "<commit>:<prepare>" in decimal', () => {
    expect(encodePosition({ commit: 1234n, prepare: 1200n })).toBe('1234:1200')
    expect(encodePosition({ commit: 18446744073709551614n, prepare: 0n })).toBe('18446744073709551614:0')
  })

  it('round-trips every position, beyond Number precision', () => {
    fc.assert(
      fc.property(position, (p) => {
        expect(decodePosition(encodePosition(p))).toEqual(p)
      }),
    )
  })

  it('rejects strings that are not positions', () => {
    for (const bad of ['', '12', '1:2:3', '-1:0', '1:x', ' 1:2', '0x1:2']) {
      expect(() => decodePosition(bad)).toThrow(/not an EventStoreDB position/)
    }
  })

  it('orders by commit first, then prepare', () => {
    expect(comparePositions({ commit: 10n, prepare: 90n }, { commit: 11n, prepare: 5n })).toBe(-1)
    expect(comparePositions({ commit: 10n, prepare: 20n }, { commit: 10n, prepare: 30n })).toBe(-1)
    expect(comparePositions({ commit: 10n, prepare: 30n }, { commit: 10n, prepare: 20n })).toBe(1)
    expect(comparePositions({ commit: 10n, prepare: 30n }, { commit: 10n, prepare: 30n })).toBe(0)
  })

  it('is a total order consistent with the encoded form', () => {
    fc.assert(
      fc.property(position, position, (a, b) => {
        const ab = comparePositions(a, b)
        expect(comparePositions(b, a)).toBe(-ab as -1 | 0 | 1)
        expect(ab === 0).toBe(encodePosition(a) === encodePosition(b))
        expect(comparePositions(decodePosition(encodePosition(a)), b)).toBe(ab)
      }),
    )
  })
})

describe('metadata envelope', () => {
  it('round-trips version and metadata through JSON as ESDB stores it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.jsonValue(), (version, metadata) => {
        const stored = JSON.parse(JSON.stringify(wrapMetadata(version, metadata))) as unknown
        const unwrapped = unwrapMetadata(stored, 'e1')
        expect(unwrapped.version).toBe(version)
        expect(unwrapped.metadata).toEqual(JSON.parse(JSON.stringify(metadata)))
      }),
    )
  })

  it('keeps undefined metadata as null so the envelope stays recognisable', () => {
    const stored = JSON.parse(JSON.stringify(wrapMetadata(2, undefined))) as unknown
    expect(unwrapMetadata(stored, 'e1')).toEqual({ version: 2, metadata: null })
  })

  it('refuses metadata that is not its envelope, naming the event', () => {
    for (const foreign of [undefined, null, 'x', [1], { correlationId: 'c' }, { version: '1', metadata: {} }]) {
      expect(() => unwrapMetadata(foreign, 'evt-9')).toThrow(/evt-9/)
    }
  })

  it('rejects a schema version that is not an integer', () => {
    expect(() => wrapMetadata(1.5, {})).toThrow(RangeError)
  })
})

describe('system events', () => {
  it('skips $-prefixed streams and $-prefixed event types, keeps the rest', () => {
    expect(isSystemEvent('$settings', 'update')).toBe(true)
    expect(isSystemEvent('$$run-1', '$metadata')).toBe(true)
    expect(isSystemEvent('run-1', '$>')).toBe(true)
    expect(isSystemEvent('run-1', 'RunRequested')).toBe(false)
    expect(isSystemEvent('run-$1', 'Run$Requested')).toBe(false)
  })
})

describe('recorded event → stored event', () => {
  const recorded = {
    streamId: 'run-01J',
    id: '0b4c6f47-0fd0-4d8e-9a86-0f1c3f35b0d2',
    isJson: true,
    revision: 3n,
    type: 'TenantProcessed',
    created: new Date('2024-05-01T10:00:00.000Z'),
    data: { tenantId: 7 },
    metadata: { version: 2, metadata: { correlationId: 'run-01J' } },
    position: { commit: 500n, prepare: 480n },
  } as RecordedEvent

  it('unwraps the envelope and converts revision and position', () => {
    expect(toStoredEvent(recorded, { commit: 500n, prepare: 480n })).toEqual({
      streamId: 'run-01J',
      eventId: '0b4c6f47-0fd0-4d8e-9a86-0f1c3f35b0d2',
      type: 'TenantProcessed',
      version: 2,
      data: { tenantId: 7 },
      metadata: { correlationId: 'run-01J' },
      revision: 3,
      position: '500:480',
      recordedAt: new Date('2024-05-01T10:00:00.000Z'),
    })
  })

  it('refuses binary events', () => {
    expect(() => toStoredEvent({ ...recorded, isJson: false } as RecordedEvent, { commit: 1n, prepare: 1n })).toThrow(/binary/)
  })
})
