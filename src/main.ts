import { describeFailure } from './commands/run/failure-message.js'
import { ConfigError, loadConfig } from './config.js'
import { DataDirInUseError } from './db/data-dir-lock.js'
import { composeService } from './composition.js'
import { startupBanner } from './startup-banner.js'
import { createLogger } from './logger.js'
import { keepCreatedFilesPrivate } from './private-files.js'

async function main(): Promise<void> {
  // First: everything this process writes (the embedded database, the demo credentials) is its user's only.
  keepCreatedFilesPrivate()
  let config
  try {
    config = loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message)
      process.exit(2)
    }
    throw error
  }
  const logger = createLogger(config.LOG_LEVEL)
  if (config.OPS_BOOTSTRAP_ADMIN_PASSWORD && config.OPS_BOOTSTRAP_ADMIN_PASSWORD.length < 12) {
    logger.warn('OPS_BOOTSTRAP_ADMIN_PASSWORD is shorter than 12 characters; change it after the first login')
  }
  const service = await composeService(config, logger)
  console.log(startupBanner(config, service).join('\n'))

  let closing = false
  const shutdown = (signal: string) => {
    if (closing) return
    closing = true
    const timeoutMs = config.SHUTDOWN_TIMEOUT_MS
    logger.info({ signal, timeoutMs }, 'shutting down: no new jobs, finishing those in flight')
    // Past the bound the process exits anyway: a repair still running is rolled back with its connection
    // and its job, never acked, is handed to another worker after the queue's ack wait.
    setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown did not finish in time; exiting (jobs not finished are handed out again: by NATS after the ack wait, or re-dispatched by the reconciler)')
      process.exit(1)
    }, timeoutMs).unref()
    service.close().then(
      () => {
        logger.info('shut down')
        process.exit(0)
      },
      (error) => {
        logger.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}

main().catch((error) => {
  // Start-up errors often quote a connection string: print them by the failure messages' allow-list (their
  // codes, never their text); a configuration error names the variable and is safe to print as it is.
  const message = error instanceof ConfigError || error instanceof DataDirInUseError ? error.message : describeFailure(error, 'UNKNOWN')
  console.error('failed to start:', message)
  // Where it failed, without what it said: the error's class and its stack frames (file positions only;
  // the stack's first line repeats the message, so it is left out).
  if (!(error instanceof ConfigError) && !(error instanceof DataDirInUseError) && error instanceof Error) {
    const frames = (error.stack ?? '').split('\n').filter((line) => line.trimStart().startsWith('at ')).slice(0, 8)
    console.error(`  ${error.constructor.name}${frames.length > 0 ? `\n${frames.join('\n')}` : ''}`)
  }
  process.exit(1)
})
