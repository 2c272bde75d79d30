import { HOUR, type FindingRow } from './findings-fixture.js'

/**
 * A plain TypeScript reading of SPEC §2, written independently of the SQL, as the oracle of the
 * property-based test. It returns each finding's repaired stored columns (updated_at untouched) and
 * whether the finding counts as updated.
 */

const LEGACY_STATUS: Record<string, string> = { open: 'new', acknowledged: 'triaged', fixed: 'resolved', closed: 'resolved' }
const SLA_DAYS: Record<string, number> = { critical: 3, high: 7, medium: 30, low: 90 }
const SLA_STATUSES = new Set(['new', 'triaged', 'in_progress'])
export const VALID_SEVERITIES = new Set(['critical', 'high', 'medium', 'low', 'info'])

export interface ReferenceResult {
  /** Set when the tenant is unsafe: the lowest finding id with an unknown severity. */
  invalidFindingId: number | null
  rows: Array<{ repaired: FindingRow; changed: boolean }>
}

export function referenceRepair(findings: readonly FindingRow[]): ReferenceResult {
  const invalid = findings.filter((f) => !VALID_SEVERITIES.has(f.severity)).map((f) => f.id)
  const invalidFindingId = invalid.length > 0 ? Math.min(...invalid) : null

  // Step 1: normalise each finding.
  const step1 = findings.map((original): FindingRow => {
    const row = { ...original }
    if (original.status === 'fixed' || original.status === 'closed') row.resolvedReason ??= 'fixed'
    row.status = LEGACY_STATUS[original.status] ?? original.status
    row.firstSeenAt ??= original.createdAt
    row.lastSeenAt ??= original.updatedAt
    if (row.lastSeenAt < row.firstSeenAt) row.lastSeenAt = row.firstSeenAt
    row.timesSeen = Math.max(row.timesSeen ?? 1, 1)
    return row
  })

  // Step 2: consolidate duplicates among findings not yet marked as duplicates.
  const groups = new Map<string, FindingRow[]>()
  for (const row of step1) {
    if (row.duplicateOfId !== null) continue
    const group = groups.get(row.fingerprint) ?? []
    group.push(row)
    groups.set(row.fingerprint, group)
  }
  for (const group of groups.values()) {
    if (group.length < 2) continue
    const sorted = [...group].sort((a, b) => a.firstSeenAt! - b.firstSeenAt! || a.id - b.id)
    const canonical = sorted[0]!
    const minFirst = Math.min(...group.map((r) => r.firstSeenAt!))
    const maxLast = Math.max(...group.map((r) => r.lastSeenAt!))
    const sumTimes = group.reduce((sum, r) => sum + r.timesSeen!, 0)
    for (const member of group) {
      if (member === canonical) continue
      member.status = 'resolved'
      member.resolvedReason = 'duplicate'
      member.duplicateOfId = canonical.id
    }
    canonical.firstSeenAt = minFirst
    canonical.lastSeenAt = maxLast
    canonical.timesSeen = sumTimes
  }

  // Step 3: consistency and SLA.
  for (const row of step1) {
    if (row.status === 'resolved' && row.resolvedAt === null) row.resolvedAt = row.lastSeenAt
    if (row.status !== 'resolved' && row.resolvedAt !== null) row.resolvedAt = null
    const slaDays = SLA_DAYS[row.severity]
    if (SLA_STATUSES.has(row.status) && row.slaDueAt === null && slaDays !== undefined) {
      row.slaDueAt = row.firstSeenAt! + slaDays * 24 * HOUR
    }
  }

  const columns = [
    'status', 'resolvedReason', 'firstSeenAt', 'lastSeenAt', 'timesSeen', 'slaDueAt', 'resolvedAt', 'duplicateOfId',
  ] as const
  return {
    invalidFindingId,
    rows: step1.map((repaired, index) => {
      const original = findings[index]!
      return { repaired, changed: columns.some((column) => repaired[column] !== original[column]) }
    }),
  }
}
