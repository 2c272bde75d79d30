/**
 * Text PostgreSQL cannot hold: NUL (rejected by `text` and `jsonb`) and lone UTF-16 surrogates (rejected
 * by `jsonb`). Such text is refused at the edge and again when an event is written, so that no stored
 * event can stop a projection later.
 */
const UNSAFE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export function isUnsafeText(text: string): boolean {
  return UNSAFE_TEXT.test(text)
}

/** Paths (dotted) of every string inside `value` — keys included — that PostgreSQL could not store. */
export function findUnsafeText(value: unknown, path: string[] = []): string[] {
  if (typeof value === 'string') return isUnsafeText(value) ? [path.join('.') || '(value)'] : []
  if (Array.isArray(value)) return value.flatMap((item, index) => findUnsafeText(item, [...path, String(index)]))
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) =>
      isUnsafeText(key) ? [[...path, '(key)'].join('.')] : findUnsafeText(item, [...path, key]),
    )
  }
  return []
}
