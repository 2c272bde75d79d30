/** One part of the bench: `npm run bench -- --only NAME` runs it alone. */
export interface Part {
  name: string
  /** One line: what it measures. */
  summary: string
  /** Prints its figures; returns its keys of the final JSON line (numbers only). */
  run(context: BenchContext): Promise<Record<string, number>>
}

/** A database holding a completed all-tenants run through the service (no service attached any more). */
export interface RunDatabase {
  name: string
  runId: string
  tenants: number
  findings: number
}

export interface BenchContext {
  /**
   * A database with a completed all-tenants backfill of ~2,000 tenants (the rebuild and API parts read it):
   * the backfill part hands over its 2000×20 run's database when it ran, else it is made on first use.
   */
  completedRun(): Promise<RunDatabase>
  /** The backfill part hands over a database it would otherwise drop (the context drops it at the end). */
  offerCompletedRun(database: RunDatabase): boolean
}
