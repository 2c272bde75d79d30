import type { Sql } from '../../src/db/database.js'

/**
 * Holds an advisory lock on a connection of its own, as another transaction (a repair in flight, another
 * run's repair) would, until `release()` — which also waits for that transaction to end.
 */
export async function holdAdvisoryLock(sql: Sql, name: string, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<{ release(): Promise<void> }> {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let holding!: () => void
  const held = new Promise<void>((resolve) => (holding = resolve))
  const done = sql.begin(async (tx) => {
    if (mode === 'shared') await tx`select pg_advisory_xact_lock_shared(hashtextextended(${name}, 0))`
    else await tx`select pg_advisory_xact_lock(hashtextextended(${name}, 0))`
    holding()
    await released
  })
  await Promise.race([held, done])
  return {
    async release() {
      release()
      await done
    },
  }
}
