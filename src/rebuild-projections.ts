import { describeFailure } from './commands/run/failure-message.js'
import { connectEventStore, openDatabase } from './composition.js'
import { ConfigError, loadConfig } from './config.js'
import type { Sql } from './db/database.js'
import { createLogger } from './logger.js'
import { readModelProjector, rebuiltReadModelTables } from './projections/read-model-projections.js'

/**
 * `npm run rebuild-projections` (in the image: `node dist/rebuild-projections.js`): empties the read models
 * and replays the whole event store into them, for read models that were wiped, damaged or edited by hand.
 * The event store is the source of truth and is only read; the tables must exist (the service made them),
 * this command changes no schema. It prints a checksum of each table before and after: equal checksums
 * say the read models were right. Beside a running service on PostgreSQL it takes the projector's
 * checkpoint like any projector process (a running projector waits, then carries on from where the rebuild
 * got), and readers see the tables fill up again during the replay. The embedded database serves one
 * process: stop the service first.
 */
async function rebuildProjections(): Promise<void> {
  const config = loadConfig()
  const logger = createLogger(config.LOG_LEVEL)
  const db = await openDatabase(config)
  try {
    const store = await connectEventStore(config, db)
    try {
      const before = await checksums(db.sql)
      const projector = readModelProjector({ store, sql: db.sql, consoleBaseUrl: config.publicUrl, logger })
      const started = Date.now()
      const replayed = await projector.rebuild()
      const after = await checksums(db.sql)
      console.log(`read models rebuilt: ${replayed} events replayed in ${Date.now() - started} ms`)
      for (const table of rebuiltReadModelTables) {
        const [was, is] = [before.get(table)!, after.get(table)!]
        const verdict = was.checksum === is.checksum ? 'same' : 'CHANGED'
        console.log(`  ${table}: ${was.rows} rows ${was.checksum} → ${is.rows} rows ${is.checksum}  ${verdict}`)
      }
    } finally {
      await store.close()
    }
  } finally {
    await db.close()
  }
}

/** Per table: its row count and the MD5 of its rows in a fixed order (row text sorted). */
async function checksums(sql: Sql): Promise<Map<string, { rows: number; checksum: string }>> {
  const result = new Map<string, { rows: number; checksum: string }>()
  for (const table of rebuiltReadModelTables) {
    const [row] = await sql.unsafe<Array<{ rows: number; checksum: string }>>(
      `select count(*)::int as rows, md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) as checksum from ${table} t`,
    )
    result.set(table, row!)
  }
  return result
}

rebuildProjections().catch((error) => {
  const reason =
    error instanceof ConfigError
      ? error.message
      : (error as { code?: unknown }).code === '42P01'
        ? "the service's tables are not in this database (start the service once against it)"
        : describeFailure(error, 'UNKNOWN')
  console.error('rebuilding the read models failed:', reason)
  process.exit(1)
})
