import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEmbedded, type Database } from '../../src/db/database.js'
import { pipelinedTransaction } from '../../src/db/pipelined-transaction.js'
import { TransactionTurns } from '../../src/db/transaction-turns.js'

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((done) => (resolve = done))
  return { promise, resolve }
}

describe('transactions taking turns', () => {
  it('runs each transaction once the ones asked before it have settled, failed ones included', async () => {
    const turns = new TransactionTurns()
    const order: string[] = []
    const first = deferred()
    const runs = [
      turns.take(async () => {
        order.push('first started')
        await first.promise
        order.push('first ended')
      }),
      turns.take(async () => {
        order.push('second')
        throw new Error('second failed')
      }),
      turns.take(async () => {
        order.push('third')
        return 3
      }),
    ]
    await Promise.resolve()
    expect(order).toEqual(['first started'])
    first.resolve()
    const settled = await Promise.allSettled(runs)
    expect(order).toEqual(['first started', 'first ended', 'second', 'third'])
    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect((settled[2] as PromiseFulfilledResult<number>).value).toBe(3)
  })
})

/** The embedded database's one connection (issue 11): a read waits for the transaction under way, not for those waiting. */
describe('the embedded database under waiting transactions', () => {
  let db: Database
  beforeAll(async () => {
    db = await startEmbedded(null)
    await db.sql`create table turn_log (seq serial primary key, who text not null)`
  })
  afterAll(async () => {
    await db.close()
  })

  it('answers a single statement before the transactions that were waiting when it was asked', async () => {
    const { sql } = db
    const underWay = deferred()
    const begun = deferred()
    const first = sql.begin(async (tx) => {
      await tx`insert into turn_log (who) values ('first')`
      begun.resolve()
      await underWay.promise
    })
    await begun.promise
    const waiting = [
      // With its options, as the audit chain's read-only verification begins.
      sql.begin('isolation level read committed', async (tx) => {
        await tx`insert into turn_log (who) values ('second')`
      }),
      pipelinedTransaction(sql, async (tx) => {
        await tx`insert into turn_log (who) values ('pipelined')`
        return 'kept'
      }),
      sql.begin(async () => {
        throw new Error('this one rolls back')
      }),
      sql.begin(async (tx) => {
        await tx`insert into turn_log (who) values ('after the failed one')`
      }),
    ]
    const single = sql`insert into turn_log (who) values ('single')`.execute()
    underWay.resolve()
    const settled = await Promise.allSettled([first, ...waiting, single])
    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
    const rows = await sql<Array<{ who: string }>>`select who from turn_log order by seq`
    expect(rows.map((row) => row.who)).toEqual(['first', 'single', 'second', 'pipelined', 'after the failed one'])
  })
})
