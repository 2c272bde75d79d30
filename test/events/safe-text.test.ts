import { describe, expect, it } from 'vitest'
import { findUnsafeText, isUnsafeText } from '../../src/events/safe-text.js'

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
    expect(findUnsafeText({ a: 'ok', b: ['fine', 'bad\u0000'], c: { d: '\uD83D' }, ['k\u0000']: 1 })).toEqual([
      'b.1',
      'c.d',
      '(key)',
    ])
    expect(findUnsafeText({ n: 1, t: true, z: null })).toEqual([])
  })
})
