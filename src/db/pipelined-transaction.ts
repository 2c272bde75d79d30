import { isStatementError, type Sql, type TransactionSql } from './database.js'
import { inTurn } from './transaction-turns.js'

/** What a body returns when its transaction wrote nothing to keep: it ends with ROLLBACK and `value` is returned. */
export class WroteNothing<T> {
  constructor(readonly value: T) {}
}

/**
 * What a body returns when its last statements are sent and the transaction is to commit behind them, in the
 * same write, without waiting for their answers: `value` settles with them. When one of them fails, the
 * server answers the COMMIT with ROLLBACK (nothing is kept) and that failure is thrown. The last statements
 * must be run with `.execute()` before the body returns (awaiting one runs it a microtask later): one run but
 * not yet handed to the connection then is a programming error, and the transaction rolls back. A statement
 * run only later (after an answer) is refused, and the commit has happened without it.
 */
export class CommitBehind<T> {
  constructor(readonly value: Promise<T>) {}
}

/** SQLSTATE of a statement sent after an earlier one failed: the earlier failure is the cause. */
const IN_FAILED_TRANSACTION = '25P02'

/**
 * A transaction whose BEGIN goes in the same write as its first statements: on a reserved connection the
 * statements run in the order they were sent, so `body`'s first statements, sent before BEGIN's answer is
 * back, run inside the transaction. `sql.begin` waits for BEGIN's answer first, one round trip more per
 * transaction, which a small tenant's repair pays on every job.
 *
 * As in `sql.begin`: a statement of the transaction that fails is never an unhandled rejection (a runbook
 * may leave one un-awaited), and the error thrown is the first statement's failure, not the "transaction
 * is aborted" of the statements after it. `body` resolves → COMMIT (a COMMIT answered ROLLBACK throws that
 * first failure); resolves to `WroteNothing` → ROLLBACK; throws → ROLLBACK and its error. `body` gets the
 * connection as a transaction: it must not use savepoints (refused) nor send BEGIN, COMMIT or ROLLBACK. A
 * statement made or run through it once the transaction has ended is refused: on a connection back in the
 * pool it would run outside the transaction, or in another's. (`tx.file` reads its file before it sends, and a
 * cursor's failure reaches only its reader: neither is used by a repair.)
 */
export function pipelinedTransaction<T>(sql: Sql, body: (tx: TransactionSql) => Promise<T | WroteNothing<T> | CommitBehind<T>>): Promise<T> {
  return inTurn(sql, () => pipelined(sql, body))
}

async function pipelined<T>(sql: Sql, body: (tx: TransactionSql) => Promise<T | WroteNothing<T> | CommitBehind<T>>): Promise<T> {
  const db = await sql.reserve()
  let firstFailure: unknown = undefined
  const noteFailure = (error: unknown) => {
    if (firstFailure === undefined) firstFailure = error
  }
  const transaction = { ended: false, unsent: 0 }
  const tx = tracked(db as unknown as TransactionSql, noteFailure, transaction)
  const begun = tx`begin`.execute()
  let result: T | WroteNothing<T> | CommitBehind<T>
  try {
    result = await body(tx)
    if (result instanceof CommitBehind && transaction.unsent > 0) {
      result.value.catch(() => {})
      throw new Error('a statement of the transaction was not sent before its commit (run it with execute()): nothing was kept')
    }
    if (!(result instanceof CommitBehind)) await begun
  } catch (error) {
    await end(db, 'rollback', transaction).catch(() => {})
    throw isInFailedTransaction(error) && firstFailure !== undefined ? firstFailure : error
  }
  if (result instanceof WroteNothing) {
    await end(db, 'rollback', transaction)
    return result.value
  }
  const rolledBack = () => firstFailure ?? new Error('the transaction was rolled back at its commit: one of its statements failed')
  if (result instanceof CommitBehind) {
    const [value, committed] = await Promise.allSettled([result.value, end(db, 'commit', transaction)])
    if (committed.status === 'rejected') throw isInFailedTransaction(committed.reason) ? rolledBack() : committed.reason
    if (committed.value.command !== 'COMMIT') throw rolledBack()
    if (value.status === 'rejected') throw value.reason
    return value.value
  }
  const committed = await end(db, 'commit', transaction)
  if (committed.command !== 'COMMIT') throw rolledBack()
  return result
}

/**
 * Sends COMMIT or ROLLBACK (nothing the body sends after it is let through), then gives the connection back to
 * the pool only if it is still usable.
 */
async function end(
  db: Awaited<ReturnType<Sql['reserve']>>,
  statement: 'commit' | 'rollback',
  transaction: { ended: boolean; unsent: number },
): Promise<{ command: string }> {
  transaction.ended = true
  try {
    const answer = await (statement === 'commit' ? db`commit` : db`rollback`)
    db.release()
    return answer
  } catch (error) {
    // A statement's error leaves the connection idle; a connection that closed, or whose server is going away
    // (08, 57P0x: its socket may not have closed yet), is not handed to anyone (the pool opens it again).
    if (isStatementError(error)) db.release()
    throw error
  }
}

/**
 * The connection with a rejection handler on every statement made through it, attached without running the
 * statement (postgres.js runs a statement when it is awaited or executed, and `Promise.prototype.then`
 * bypasses that: its species is Promise).
 */
function tracked(db: TransactionSql, noteFailure: (error: unknown) => void, transaction: { ended: boolean; unsent: number }): TransactionSql {
  const watch = <Q>(made: Q): Q => {
    if (!(made instanceof Promise)) return made
    Promise.prototype.then.call(made, undefined, noteFailure)
    // postgres.js hands a query to its connection through `handler` when it runs (awaited or executed): one
    // run after the transaction ended is refused, even if it was made before.
    const query = made as unknown as {
      handler: ((q: unknown) => unknown) & { debug?: unknown }
      reject: (error: Error) => void
      handle: () => Promise<void>
      executed?: boolean
    }
    const handler = query.handler
    // Between being run (awaited or executed) and being handed to the connection, a statement waits a
    // microtask: counted meanwhile, so that a commit sent behind it never overtakes it (see CommitBehind). A
    // fragment (`sql.unsafe` inside another statement) is never run itself, and never counted.
    const handle = query.handle
    let waiting = false
    query.handle = () => {
      if (!query.executed && !waiting) {
        waiting = true
        transaction.unsent++
      }
      return handle.call(query)
    }
    query.handler = Object.assign(
      (q: unknown) => {
        if (waiting) transaction.unsent--
        waiting = false
        return transaction.ended ? query.reject(new Error('a statement of a transaction that has ended was refused')) : handler(q)
      },
      { debug: handler.debug },
    )
    return made
  }
  return new Proxy(db, {
    apply: (target, thisArg, args) => watch(Reflect.apply(target as unknown as (...a: unknown[]) => unknown, thisArg, args)),
    get(target, property, receiver) {
      if (property === 'savepoint') return () => Promise.reject(new Error('a pipelined transaction has no savepoints'))
      const value = Reflect.get(target, property, receiver) as unknown
      if (property !== 'unsafe' && property !== 'file') return value
      return (...args: unknown[]) => watch((value as (...a: unknown[]) => unknown).apply(target, args))
    },
  })
}

function isInFailedTransaction(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === IN_FAILED_TRANSACTION
}
