import type { Sql } from './database.js'

/**
 * A one-connection database (the embedded default: PGlite has one session) serves its statements in the
 * order they reach its connection, and a transaction holds the connection from BEGIN to COMMIT. With several
 * transactions waiting on the connection (the worker's repairs, the projector, the event store), a single
 * statement asked meanwhile, such as an API read, would wait for all of them. Here transactions wait for
 * their turn in the process instead, one at a time on the connection, so a single statement waits at most
 * for the transaction under way (issue 11: the embedded API's latency during a run). The order of the
 * transactions among themselves is unchanged (first come, first served); a statement asked after a
 * transaction that is still waiting for its turn runs before it, even with nothing else waiting (what needs
 * the transaction's writes awaits it first, as it must on PostgreSQL's pool anyway).
 */
export class TransactionTurns {
  private last: Promise<unknown> = Promise.resolve()

  /** Runs `transaction` once every transaction that asked before it has settled. */
  take<T>(transaction: () => Promise<T>): Promise<T> {
    const turn = this.last.then(transaction)
    this.last = turn.catch(() => {})
    return turn
  }
}

const turnsOf = new WeakMap<Sql, TransactionTurns>()

/**
 * `sql` with its transactions taking turns: `sql.begin` takes one, and so does every transaction made on a
 * reserved connection through `inTurn` (the pipelined ones and the event store's group commit).
 */
export function transactionsTakingTurns(sql: Sql): Sql {
  const turns = new TransactionTurns()
  const begin = ((...args: unknown[]) => turns.take(() => (sql.begin as (...a: unknown[]) => Promise<unknown>)(...args))) as Sql['begin']
  const taking = new Proxy(sql, {
    get: (target, property) => (property === 'begin' ? begin : Reflect.get(target, property)),
  })
  turnsOf.set(taking, turns)
  return taking
}

/** Runs a transaction that `sql` reserves a connection for in its turn, if `sql`'s transactions take turns. */
export function inTurn<T>(sql: Sql, transaction: () => Promise<T>): Promise<T> {
  const turns = turnsOf.get(sql)
  return turns ? turns.take(transaction) : transaction()
}
