import { pino, type Logger } from 'pino'

/**
 * Structured JSON logs. Anything that could carry a secret is redacted by path as a second line of
 * defence: code never logs passwords or tokens on purpose.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'headers.cookie'],
      censor: '[redacted]',
    },
  })
}
