import { pino, type DestinationStream, type Logger } from 'pino'

/**
 * Structured JSON logs. Anything that could carry a secret is redacted by path as a second line of
 * defence: code never logs passwords or tokens on purpose.
 *
 * Written asynchronously (issue 11): a synchronous write per line blocked the event loop for every request
 * logged. Lines are written by the stream in the background (those logged while a write is under way go out together with the next one, none waits for a buffer to fill); pino flushes what is left
 * synchronously when the process exits (also through `process.exit`).
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
    destination ?? pino.destination({ dest: 1, sync: false }),
  )
}
