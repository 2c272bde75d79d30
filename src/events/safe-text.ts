/**
 * Text PostgreSQL cannot hold: NUL (rejected by `text` and `jsonb`) and lone UTF-16 surrogates (rejected
 * by `jsonb`). Such text is refused at the edge and again when an event is written, so that no stored
 * event can stop a projection later.
 */
const UNSAFE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Deeper JSON than this is refused: no request of this API nests beyond a few levels. */
export const MAX_JSON_DEPTH = 32

export class TooDeepError extends Error {
  constructor() {
    super(`nested deeper than ${MAX_JSON_DEPTH} levels`)
  }
}

export function isUnsafeText(text: string): boolean {
  return UNSAFE_TEXT.test(text)
}

/**
 * Paths (dotted) of every string inside `value` — keys included — that PostgreSQL could not store.
 * Walks with an explicit stack (no recursion, so no stack overflow) and throws `TooDeepError` past
 * `MAX_JSON_DEPTH`.
 */
export function findUnsafeText(value: unknown): string[] {
  const found: string[] = []
  const stack: Array<{ value: unknown; path: readonly string[] }> = [{ value, path: [] }]
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!
    if (path.length > MAX_JSON_DEPTH) throw new TooDeepError()
    if (typeof current === 'string') {
      if (isUnsafeText(current)) found.push(path.join('.') || '(value)')
    } else if (Array.isArray(current)) {
      for (let index = current.length - 1; index >= 0; index--) stack.push({ value: current[index], path: [...path, String(index)] })
    } else if (current !== null && typeof current === 'object') {
      const entries = Object.entries(current)
      for (let index = entries.length - 1; index >= 0; index--) {
        const [key, item] = entries[index]!
        if (isUnsafeText(key)) found.push([...path, '(key)'].join('.'))
        else stack.push({ value: item, path: [...path, key] })
      }
    }
  }
  return found
}
