import type { Readable, Writable } from 'node:stream'

/** A writable the CLI prints to; `isTTY` decides between a live progress bar and plain lines. */
export type OutputStream = Writable & { isTTY?: boolean; columns?: number }

/** A readable the CLI reads a password from; a TTY gets a hidden prompt, anything else is read to its end. */
export type InputStream = Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown }

/** Everything the CLI touches outside itself, so tests run it in-process with their own streams and environment. */
export interface CliIo {
  stdout: OutputStream
  stderr: OutputStream
  env: Record<string, string | undefined>
  stdin: InputStream
}
