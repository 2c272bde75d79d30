import { describe, expect, it } from 'vitest'
import { formatCounts, formatTime, printable, table, tenantLabel } from '../../src/cli/format.js'

describe('text output', () => {
  it('strips control characters from service text, so a name cannot drive the terminal', () => {
    expect(printable('Evil\u001b[2JCorp\nline\u009b')).toBe('Evil [2JCorp line ')
    expect(tenantLabel(new Map([[7, 'A\u001b]0;x\u0007B']]), 7)).toBe('A ]0;x B (#7)')
    expect(tenantLabel(new Map(), 7)).toBe('#7')
  })

  it('aligns table columns without trailing blanks', () => {
    expect(table(['ID', 'NAME'], [[1, 'Acme'], [22, 'Globex']])).toBe('ID  NAME\n1   Acme\n22  Globex')
  })

  it("counts follow SPEC §3's key order; times drop the T and the fraction", () => {
    expect(formatCounts({ failed: 1, tenants: 2, total: 5, updated: 3, skipped: 2, processed: 5 })).toBe(
      'total 5, processed 5, updated 3, skipped 2, failed 1, tenants 2',
    )
    expect(formatTime('2025-06-02T09:00:00.123Z')).toBe('2025-06-02 09:00:00Z')
    expect(formatTime(null)).toBe('-')
  })
})
