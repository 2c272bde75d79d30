import { z } from 'zod'

/**
 * A number in a query string as people write it: decimal digits only. `0x10`, `0b11`, `1e1`, ` 2 ` and
 * `-0` would read as numbers under JavaScript's `Number()` (and `z.coerce`); here they are refused (400
 * naming the parameter), and the number's own rules (bounds, integer) judge the rest.
 */
export function decimal<T extends z.ZodType<number>>(schema: T) {
  return z.preprocess((value, context) => {
    if (typeof value !== 'string') return value
    if (/^[0-9]{1,20}$/.test(value)) return Number(value)
    context.addIssue({ code: 'custom', message: 'must be a whole number written in decimal digits' })
    return z.NEVER
  }, schema)
}
