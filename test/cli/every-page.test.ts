import { describe, expect, it } from 'vitest'
import { everyPage } from '../../src/cli/every-page.js'

/** Pages of `size` over `items`, the cursor being the next index as text. */
function pager(items: number[], size: number) {
  const asked: Array<string | undefined> = []
  const readPage = async (cursor: string | undefined) => {
    asked.push(cursor)
    const from = cursor === undefined ? 0 : Number(cursor)
    const to = from + size
    return { items: items.slice(from, to), nextCursor: to < items.length ? String(to) : null }
  }
  return { readPage, asked }
}

describe('everyPage', () => {
  it('reads every page in order, from the first or from a given cursor', async () => {
    const items = Array.from({ length: 2_501 }, (_, i) => i)
    const { readPage, asked } = pager(items, 1_000)
    expect(await everyPage(readPage)).toEqual(items)
    expect(asked).toEqual([undefined, '1000', '2000'])
    expect(await everyPage(pager(items, 1_000).readPage, { cursor: '2000' })).toEqual(items.slice(2_000))
  })

  it('stops at a cursor it saw before instead of going round for ever', async () => {
    let calls = 0
    const looping = async () => ({ items: [calls++], nextCursor: 'again' })
    expect(await everyPage(looping)).toEqual([0, 1])
  })

  it('stops at the first item `keep` refuses, leaving it and the rest out', async () => {
    const { readPage, asked } = pager([1, 3, 5, 6, 7, 9], 2)
    expect(await everyPage(readPage, { keep: (n) => n % 2 === 1 })).toEqual([1, 3, 5])
    expect(asked).toEqual([undefined, '2'])
  })
})
