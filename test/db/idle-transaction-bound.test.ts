import { afterEach, describe, expect, it } from 'vitest'
import postgres from 'postgres'
import { whileHolding } from '../../src/db/advisory-locks.js'
import { connectPostgres, IDLE_IN_TRANSACTION_MS, type Database } from '../../src/db/database.js'
import { freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'

/**
 * A transaction of the service left idle between two round trips (its process frozen, cut off or gone) is
 * ended by PostgreSQL after IDLE_IN_TRANSACTION_MS, and with it the locks it held: without the bound, a
 * command frozen after taking a run's lock kept every repair of that run waiting until the server noticed
 * the connection gone.
 */
describe.skipIf(!TEST_POSTGRES_URL)('idle transactions of the service on PostgreSQL', () => {
  let db: Database | undefined
  let pool: Database | undefined
  let other: postgres.Sql | undefined

  afterEach(async () => {
    await other?.end({ timeout: 5 })
    await pool?.close()
    await db?.close()
    db = pool = other = undefined
  })

  it('are bounded by default on every connection of the pool', async () => {
    db = await freshPostgresDatabase()
    const [row] = await db.sql<Array<{ ms: number }>>`select setting::int as ms from pg_settings where name = 'idle_in_transaction_session_timeout'`
    expect(row!.ms).toBe(IDLE_IN_TRANSACTION_MS)
  })

  it('end with their locks released once idle for longer than the bound, and the pool serves again', async () => {
    db = await freshPostgresDatabase()
    pool = await connectPostgres(db.url, { max: 1, idleInTransactionMs: 300 })
    other = postgres(db.url, { max: 1, onnotice: () => {} })
    const lockKey = 424_242
    let otherGotTheLock = false
    const frozen = pool.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${lockKey})`
      // The "frozen" process sends nothing more: another session waits for the lock, which only the server
      // ending this transaction can free (lock_timeout bounds the wait should it never be freed).
      await other!.begin(async (waiting) => {
        await waiting`select set_config('lock_timeout', '20000', true)`
        await waiting`select pg_advisory_xact_lock(${lockKey})`
        otherGotTheLock = true
      })
      await tx`select 1`
    })
    await expect(frozen).rejects.toThrow()
    expect(otherGotTheLock).toBe(true)
    const [row] = await pool.sql<Array<{ one: number }>>`select 1 as one`
    expect(row!.one).toBe(1)
  })

  it('leave a lock held for work on other connections (a plan, a verification) to its end, however long', async () => {
    db = await freshPostgresDatabase()
    pool = await connectPostgres(db.url, { idleInTransactionMs: 300 })
    other = postgres(db.url, { max: 1, onnotice: () => {} })
    const lockName = 'run-plan:idle-bound-test'
    const tryLock = async () => {
      const [row] = await other!<Array<{ taken: boolean }>>`
        select pg_try_advisory_lock(hashtextextended(${lockName}, 0)) as taken`
      if (row!.taken) await other!`select pg_advisory_unlock(hashtextextended(${lockName}, 0))`
      return row!.taken
    }
    const seen: boolean[] = []
    const result = await whileHolding(pool.sql, lockName, true, async () => {
      // The work of a long scan, on the pool's other connections, well past the holder's idle bound.
      for (let i = 0; i < 4; i++) {
        await pool!.sql`select pg_sleep(0.3)`
        seen.push(await tryLock())
      }
      return 'planned'
    })
    expect(result).toBe('planned')
    // Held throughout: nobody else could take it.
    expect(seen).toEqual([false, false, false, false])
    expect(await tryLock()).toBe(true)
  })
})
