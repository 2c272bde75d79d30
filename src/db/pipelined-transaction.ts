import { isServerError, type Sql, type TransactionSql } from './database.js'

/**
 * A transaction whose BEGIN goes in the same write as its first statements: on a reserved connection the
 * statements run in the order they were sent, so `body`'s first statements, sent before BEGIN's answer is
 * back, run inside the transaction. `sql.begin` waits for BEGIN's answer first, one round trip more per
 * transaction, which a small tenant's repair pays on every job.
 *
 * `body` resolves → COMMIT; it throws → ROLLBACK and its error. A COMMIT answered ROLLBACK (a statement of
 * `body` failed and `body` went on regardless) throws. `body` gets the connection as a transaction: it must
 * not use savepoints (it has none) nor send BEGIN, COMMIT or ROLLBACK itself.
 */
export async function pipelinedTransaction<T>(sql: Sql, body: (tx: TransactionSql) => Promise<T>): Promise<T> {
  const db = await sql.reserve()
  const begun = db`begin`.execute()
  let result: T
  try {
    result = await body(db as unknown as TransactionSql)
    await begun
  } catch (error) {
    await begun.catch(() => {})
    const rolledBack = await db`rollback`.then(
      () => true,
      (rollbackError: unknown) => isServerError(rollbackError),
    )
    // Back to the pool only if it still talks to the server; a connection that closed is the pool's already.
    if (rolledBack) db.release()
    throw error
  }
  let committed: { command: string }
  try {
    committed = await db`commit`
  } catch (error) {
    if (isServerError(error)) db.release()
    throw error
  }
  db.release()
  if (committed.command !== 'COMMIT') throw new Error('the transaction was rolled back at its commit: one of its statements failed')
  return result
}
