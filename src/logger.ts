import { pino, type DestinationStream, type Logger } from 'pino'

/**
 * Structured JSON logs. Anything that could carry a secret is redacted by path as a second line of
 * defence: code never logs passwords or tokens on purpose.
 *
 * Written asynchronously (issue 11): a synchronous write per line blocked the event loop for every request
 * logged. Lines are buffered (at most 100 ms) and written by the stream in the background; pino flushes
 * what is left synchronously when the process exits (also through `process.exit`).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'headers.cookie'],
        censor: '[redacted]',
      },
    },
    destination ?? bufferedStdout(),
  )
}

/**
 * Standard output written asynchronously in chunks of at least 4 KiB, and at least every 100 ms whatever
 * is buffered: one write per request line cost about 6 % of a busy API process.
 */
function bufferedStdout(): DestinationStream {
  return pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 } as Parameters<typeof pino.destination>[0])
}
