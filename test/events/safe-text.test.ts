import { describe, expect, it } from 'vitest'
import { findUnsafeText, isUnsafeText, MAX_JSON_DEPTH, TooDeepError } from '../../src/events/safe-text.js'

describe('text PostgreSQL cannot store', () => {
  it('flags NUL and lone surrogates, accepts paired surrogates and ordinary unicode', () => {
    expect(isUnsafeText('a\u0000b')).toBe(true)
    expect(isUnsafeText('\uD800')).toBe(true)
    expect(isUnsafeText('x\uDC00y')).toBe(true)
    expect(isUnsafeText('\uDC00\uD800')).toBe(true)
    expect(isUnsafeText('😀 émoji ✓ 中文')).toBe(false)
    expect(isUnsafeText('')).toBe(false)
  })

  it('names the path of every unsafe string, keys included', () => {
    expect(findUnsafeText({ a: 'ok', b: ['fine', 'bad\u0000'], c: { d: '\uD83D' }, ['k\u0000']: 1 }).sort()).toEqual([
      '(key)',
      'b.1',
      'c.d',
    ])
    expect(findUnsafeText({ n: 1, t: true, z: null })).toEqual([])
  })
})

describe('deep JSON', () => {
  it('walks without recursion and refuses nesting beyond the limit', () => {
    let deep: unknown = 'leaf\u0000'
    for (let level = 0; level < 10_000; level++) deep = [deep]
    expect(() => findUnsafeText(deep)).toThrow(TooDeepError)
    let shallow: unknown = 'leaf\u0000'
    for (let level = 0; level < MAX_JSON_DEPTH - 1; level++) shallow = [shallow]
    expect(findUnsafeText(shallow)).toHaveLength(1)
  })
})
