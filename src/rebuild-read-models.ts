import { describeFailure } from './commands/run/failure-message.js'
import { openDatabase, openEventStore } from './composition.js'
import { ConfigError, loadConfig } from './config.js'
import { createLogger } from './logger.js'
import { Projector } from './projections/projector.js'
import { readModelProjections, readModelProjectorName } from './projections/read-model-projections.js'

/**
 * `npm run read-models:rebuild`: empties the read models and replays the whole event store into them, for
 * read models that were wiped, damaged or edited by hand. The event store is the source of truth and is
 * only read. Safe while the service runs on PostgreSQL: the reset and the replay take the projector's
 * checkpoint like any projector process, so a running projector waits, then carries on from where the
 * rebuild got. (The embedded database serves one process: stop the service first.)
 */
async function rebuildReadModels(): Promise<void> {
  const config = loadConfig()
  const logger = createLogger(config.LOG_LEVEL)
  const db = await openDatabase(config)
  try {
    const store = await openEventStore(config, db)
    try {
      const projector = new Projector({
        store,
        sql: db.sql,
        name: readModelProjectorName,
        projections: readModelProjections({ consoleBaseUrl: config.publicUrl }),
        logger,
      })
      const started = Date.now()
      const replayed = await projector.rebuild()
      console.log(`read models rebuilt: ${replayed} events replayed in ${Date.now() - started} ms`)
    } finally {
      await store.close()
    }
  } finally {
    await db.close()
  }
}

rebuildReadModels().catch((error) => {
  console.error('rebuilding the read models failed:', error instanceof ConfigError ? error.message : describeFailure(error, 'UNKNOWN'))
  process.exit(1)
})
