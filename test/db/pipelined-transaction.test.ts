import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database, TransactionSql } from '../../src/db/database.js'
import { CommitBehind, pipelinedTransaction, WroteNothing } from '../../src/db/pipelined-transaction.js'
import { databaseFlavours, freshPostgresDatabase, TEST_POSTGRES_URL } from '../support/databases.js'

/**
 * The repair's transaction sends BEGIN with its first statements: they must run inside it, a failure must
 * roll everything back, and the connection must go back to the pool either way (the embedded database has
 * only one).
 */
describe.each(databaseFlavours())('pipelinedTransaction on $name', ({ open }) => {
  let db: Database

  beforeAll(async () => {
    db = await open()
    await db.sql`create table ledger (id integer primary key, note text)`
  })
  afterAll(async () => {
    await db?.close()
  })

  it('runs the first statements, sent before BEGIN is answered, inside the transaction, and commits', async () => {
    const seen = await pipelinedTransaction(db.sql, async (tx) => {
      // A transaction-local setting, set by the very first statement, is still there for the later ones
      // only if that first statement ran inside the transaction.
      const [[first], [inserted]] = await Promise.all([
        tx`select set_config('rcp.test_marker', 'inside', true) as marker, now() as began`,
        tx`insert into ledger values (1, 'committed') returning now() as at`,
      ])
      const [[later]] = await Promise.all([tx`select current_setting('rcp.test_marker', true) as marker, now() as at`])
      return { marker: later!.marker, sameTransaction: first!.began.getTime() === inserted!.at.getTime() && inserted!.at.getTime() === later!.at.getTime() }
    })
    expect(seen).toEqual({ marker: 'inside', sameTransaction: true })
    expect(await db.sql`select note from ledger where id = 1`).toEqual([{ note: 'committed' }])
    expect(await db.sql`select current_setting('rcp.test_marker', true) as marker`).toEqual([{ marker: '' }])
  })

  it('rolls back when the body throws, and the connection serves the next transaction', async () => {
    await expect(
      pipelinedTransaction(db.sql, async (tx) => {
        await tx`insert into ledger values (2, 'rolled back')`
        throw new Error('the body gave up')
      }),
    ).rejects.toThrow('the body gave up')
    await expect(
      pipelinedTransaction(db.sql, async (tx) => {
        await tx`insert into ledger values (3, 'first')`
        await tx`insert into ledger values (3, 'duplicate')`
      }),
    ).rejects.toMatchObject({ code: '23505' })
    expect(await pipelinedTransaction(db.sql, async (tx) => tx`select id from ledger order by id`)).toEqual([{ id: 1 }])
  })

  it('refuses to report success when a statement failed and the body went on: its commit answered ROLLBACK, the failure is thrown', async () => {
    await expect(
      pipelinedTransaction(db.sql, async (tx) => {
        await tx`insert into ledger values (4, 'lost')`
        await tx`insert into ledger values (1, 'clash')`.catch(() => 'ignored')
        return 'done'
      }),
    ).rejects.toMatchObject({ code: '23505' })
    expect(await db.sql`select id from ledger order by id`).toEqual([{ id: 1 }])
  })

  it('throws the first failure, not the aborted transaction after it, and a statement left un-awaited is no unhandled rejection', async () => {
    await expect(
      pipelinedTransaction(db.sql, async (tx) => {
        // Never awaited (a runbook's slip): it fails, and the statement after it finds the transaction aborted.
        void tx`select 1 / 0`.execute()
        await tx`insert into ledger values (5, 'after the failure')`
      }),
    ).rejects.toMatchObject({ code: '22012' })
    await expect(
      pipelinedTransaction(db.sql, async (tx) => {
        await tx.unsafe('select 1 / 0').catch(() => 'swallowed')
        return 'done'
      }),
    ).rejects.toMatchObject({ code: '22012' })
    expect(await db.sql`select id from ledger order by id`).toEqual([{ id: 1 }])
  })

  it('refuses a statement made or run through the transaction after it ended (it would run outside it, or in another)', async () => {
    let late!: TransactionSql
    let madeBefore!: Promise<unknown>
    await pipelinedTransaction(db.sql, async (tx) => {
      late = tx
      madeBefore = tx`insert into ledger values (7, 'made inside, run after')`
      return 'done'
    })
    await expect(madeBefore).rejects.toThrow('a statement of a transaction that has ended was refused')
    await expect(late`insert into ledger values (8, 'made after')`).rejects.toThrow('a statement of a transaction that has ended was refused')
    await expect(late.unsafe(`insert into ledger values (9, 'made after')`)).rejects.toThrow('has ended')
    await expect(late.savepoint(async () => {})).rejects.toThrow('no savepoints')
    expect(await db.sql`select id from ledger order by id`).toEqual([{ id: 1 }])
  })

  it('a body that wrote nothing to keep ends with a rollback and returns its value, whatever failed before', async () => {
    const value = await pipelinedTransaction(db.sql, async (tx) => {
      await tx`insert into ledger values (6, 'not kept')`
      await tx`select 1 / 0`.catch(() => 'a speculative statement failed')
      return new WroteNothing('refused')
    })
    expect(value).toBe('refused')
    expect(await db.sql`select id from ledger order by id`).toEqual([{ id: 1 }])
  })

  it('commits behind the last statements, in the same write: their value is returned, and a failure among them keeps nothing', async () => {
    const behind = await pipelinedTransaction(db.sql, async (tx) => {
      await tx`insert into ledger values (10, 'repaired')`
      const last = Promise.all([tx`insert into ledger values (11, 'result row')`.execute(), tx`select count(*)::int as n from ledger`.execute()])
      return new CommitBehind(last.then(([, [row]]) => row!.n))
    })
    expect(behind).toBe(3)
    expect(await db.sql`select id from ledger order by id`).toEqual([{ id: 1 }, { id: 10 }, { id: 11 }])
    await db.sql`delete from ledger where id in (10, 11)`

    // The result row clashes: the server answers the COMMIT with ROLLBACK, and the repair before it is gone too.
    await expect(
      pipelinedTransaction(db.sql, async (tx) => {
        await tx`insert into ledger values (12, 'repaired')`
        return new CommitBehind(tx`insert into ledger values (1, 'clash')`.execute().then(() => 'kept?'))
      }),
    ).rejects.toMatchObject({ code: '23505' })
    expect(await db.sql`select id from ledger order by id`).toEqual([{ id: 1 }])
  })

  it('refuses to commit behind a statement run but not sent yet (awaited, not executed): nothing is kept', async () => {
    await expect(
      pipelinedTransaction(db.sql, async (tx) => {
        await tx`insert into ledger values (13, 'repaired')`
        // Awaited, not executed: postgres.js runs it when its `then` is called (a microtask later), and hands it to
        // the connection a microtask after that — after the COMMIT would go.
        const resultRow = (async () => tx`insert into ledger values (14, 'result row') returning id`)()
        // A fragment inside a statement is never sent itself, and holds nothing back.
        const fragment = tx`select ${tx.unsafe('1')} as one`.execute()
        return new CommitBehind(Promise.all([resultRow, fragment]).then(() => 'kept?'))
      }),
    ).rejects.toThrow('was not sent before its commit')
    expect(await db.sql`select id from ledger order by id`).toEqual([{ id: 1 }])
  })
})

if (TEST_POSTGRES_URL) {
  describe('pipelinedTransaction when its connection is lost', () => {
    let db: Database

    beforeAll(async () => {
      db = await freshPostgresDatabase()
      await db.sql`create table ledger (id integer primary key)`
    })
    afterAll(async () => {
      await db?.close()
    })

    it('fails without hanging, keeps nothing, and the pool serves the next transaction', async () => {
      await expect(
        pipelinedTransaction(db.sql, async (tx) => {
          const [row] = await tx<Array<{ pid: number }>>`insert into ledger values (1) returning pg_backend_pid() as pid`
          // Another connection ends this one's backend while the transaction is open.
          await db.sql`select pg_terminate_backend(${row!.pid})`
          await tx`insert into ledger values (2)`
        }),
      ).rejects.toBeDefined()
      expect(await pipelinedTransaction(db.sql, async (tx) => tx`select count(*)::int as n from ledger`)).toEqual([{ n: 0 }])
    })
  })
}
