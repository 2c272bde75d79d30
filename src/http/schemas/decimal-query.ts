import { z } from 'zod'

/**
 * A number in a query string as people write it: decimal digits only. `0x10`, `0b11`, `1e1`, ` 2 ` and
 * `-0` would read as numbers under JavaScript's `Number()` (and `z.coerce`); here they stay text, which the
 * number schema refuses (400 naming the parameter).
 */
export function decimal<T extends z.ZodType<number>>(schema: T) {
  return z.preprocess((value) => (typeof value === 'string' && /^[0-9]{1,20}$/.test(value) ? Number(value) : value), schema)
}
