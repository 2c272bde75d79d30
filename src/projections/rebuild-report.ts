/** What a projection rebuild reports (read-model-rebuild.ts), and how the commands print it. */

export interface TableChecksum {
  rows: number
  checksum: string
}

export interface RebuiltTable {
  table: string
  /** The live table, caught up to `position`, right before the switch. */
  before: TableChecksum
  /** The rebuilt table at the same position, switched in. */
  after: TableChecksum
  same: boolean
}

export interface RebuildReport {
  /** Events the rebuilt tables were built from (the whole store at the switch). */
  events: number
  /** Where the live checkpoint stands after the switch (the last event applied to both sides). */
  position: string | null
  tables: RebuiltTable[]
  /** Every table's rows equal before and after. */
  same: boolean
  durationMs: number
}

/** The report as the command prints it: per table, rows and checksum before → after, and the verdict. */
export function formatRebuildReport(report: RebuildReport): string {
  const width = Math.max(...report.tables.map((t) => t.table.length))
  const lines = [
    `read models rebuilt from position zero into new tables and switched: ${report.events} events in ${report.durationMs} ms`,
    ...report.tables.map(
      (t) =>
        `  ${t.table.padEnd(width)}  before ${t.before.rows} rows ${t.before.checksum}  after ${t.after.rows} rows ${t.after.checksum}  ${t.same ? 'same' : 'CHANGED'}`,
    ),
    report.same
      ? 'checksums match: the rebuilt rows equal the old ones'
      : `checksums DIFFER for ${report.tables.filter((t) => !t.same).map((t) => t.table).join(', ')}: the old rows were not what the event store gives (now replaced)`,
  ]
  return lines.join('\n')
}
