import { describeFailure } from './commands/run/failure-message.js'
import { connectEventStore, openDatabase } from './composition.js'
import { ConfigError, loadConfig } from './config.js'
import { DataDirInUseError } from './db/data-dir-lock.js'
import { createLogger } from './logger.js'
import { formatRebuildReport } from './projections/read-model-rebuild.js'
import { rebuildReadModelsAs } from './commands/rebuild-read-models.js'
import { EventLog } from './store/event-log.js'
import { keepCreatedFilesPrivate } from './private-files.js'
import { askServiceToRebuild } from './http/local-admin-socket.js'

/**
 * `npm run rebuild-projections` (in the image: `node dist/rebuild-projections.js`), and `rcp admin rebuild`
 * through the API: rebuilds every read model from position zero into new tables and switches to them in
 * one transaction (read-model-rebuild.ts), beside a running service. The event store is only read. It
 * prints each table's row count and checksum before (the live table) and after (the rebuilt one, at the
 * same position): equal checksums say the read models were right; a table edited or damaged by hand shows
 * CHANGED and is repaired. The embedded database serves one process (a second is refused: data-dir-lock.ts):
 * when a service holds it, the command asks that service to rebuild, on the socket it listens on in the data
 * directory (local-admin-socket.ts), and prints its report the same way.
 */
async function rebuildProjections(): Promise<void> {
  keepCreatedFilesPrivate()
  const config = loadConfig()
  const logger = createLogger(config.LOG_LEVEL)
  const db = await openDatabase(config).catch(async (error: unknown) => {
    if (!(error instanceof DataDirInUseError) || error.owner === 'this process') throw error
    const answer = await askServiceToRebuild(config.DATA_DIR)
    if (answer === null) throw error
    if (!answer.ok) throw new ServiceRefusedRebuild(answer.error)
    console.log(`the service running on ${config.DATA_DIR} rebuilt the read models:`)
    console.log(formatRebuildReport(answer.report))
    return null
  })
  if (db === null) return
  try {
    const store = await connectEventStore(config, db)
    try {
      const report = await rebuildReadModelsAs({ sql: db.sql, log: new EventLog(store), consoleBaseUrl: config.publicUrl, logger }, 'deployment')
      console.log(formatRebuildReport(report))
    } finally {
      await store.close()
    }
  } finally {
    await db.close()
  }
}

/** The running service was asked and did not rebuild (one under way there, one that could not switch, or failed). */
class ServiceRefusedRebuild extends Error {}

rebuildProjections().catch((error) => {
  const reason =
    error instanceof ConfigError || error instanceof DataDirInUseError || error instanceof ServiceRefusedRebuild
      ? error.message
      : (error as { code?: unknown }).code === '42P01'
        ? "the service's tables are not in this database (start the service once against it)"
        : describeFailure(error, 'UNKNOWN')
  console.error('rebuilding the read models failed:', reason)
  process.exit(1)
})
