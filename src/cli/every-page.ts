import type { Page } from './api-client.js'

/** Bounds reading every page however the cursors behave: no list the service pages has more pages than this. */
const MAX_PAGES = 10_000

/**
 * The items of every page from `cursor` on, in order: `readPage` is called with each next cursor until a
 * page has none, a cursor comes again (a service that loops is not followed around) or MAX_PAGES were read.
 * `keep` (when given) ends the reading at the first item it refuses, which is left out.
 */
export async function everyPage<T>(
  readPage: (cursor: string | undefined) => Promise<Page<T>>,
  options: { cursor?: string | undefined; keep?: (item: T) => boolean } = {},
): Promise<T[]> {
  const items: T[] = []
  const seen = new Set<string>()
  let cursor = options.cursor
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const page = await readPage(cursor)
    for (const item of page.items) {
      if (options.keep && !options.keep(item)) return items
      items.push(item)
    }
    if (!page.nextCursor || seen.has(page.nextCursor)) break
    seen.add(page.nextCursor)
    cursor = page.nextCursor
  }
  return items
}
