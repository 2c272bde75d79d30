import { describe, expect, it } from 'vitest'
import { LIVE_STREAMS_PER_SESSION, LiveStreamSlots } from '../../../src/http/console/live-stream-slots.js'

describe('live stream slots', () => {
  it('grants up to the bound per key, refuses one more, and lets a new one in once one is released', () => {
    const slots = new LiveStreamSlots(3)
    const held = [slots.tryAcquire('a'), slots.tryAcquire('a'), slots.tryAcquire('a')]
    expect(held.every((release) => typeof release === 'function')).toBe(true)
    expect(slots.tryAcquire('a')).toBeNull()
    expect(slots.held('a')).toBe(3)
    held[1]!()
    expect(slots.held('a')).toBe(2)
    expect(slots.tryAcquire('a')).not.toBeNull()
    expect(slots.tryAcquire('a')).toBeNull()
  })

  it('counts each key on its own: one full session does not refuse another', () => {
    const slots = new LiveStreamSlots(1)
    expect(slots.tryAcquire('a')).not.toBeNull()
    expect(slots.tryAcquire('a')).toBeNull()
    expect(slots.tryAcquire('b')).not.toBeNull()
  })

  it('releases a slot once however often its release is called (abort and the end of the stream both call it)', () => {
    const slots = new LiveStreamSlots(2)
    const first = slots.tryAcquire('a')!
    slots.tryAcquire('a')!
    first()
    first()
    first()
    expect(slots.held('a')).toBe(1)
    expect(slots.tryAcquire('a')).not.toBeNull()
    expect(slots.tryAcquire('a')).toBeNull()
  })

  it('forgets a key whose last slot is released (no entry left per session ever seen)', () => {
    const slots = new LiveStreamSlots(2)
    const releases = [slots.tryAcquire('a')!, slots.tryAcquire('b')!]
    expect(slots.keys).toBe(2)
    for (const release of releases) release()
    expect(slots.keys).toBe(0)
    expect(slots.held('a')).toBe(0)
  })

  it('bounds a session to a few tabs by default', () => {
    expect(LIVE_STREAMS_PER_SESSION).toBe(8)
    expect(new LiveStreamSlots().perKey).toBe(LIVE_STREAMS_PER_SESSION)
  })
})
