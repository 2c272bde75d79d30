import { PassThrough, Readable } from 'node:stream'
import { run } from '../../src/cli/main.js'

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export interface CliRunOptions {
  env?: Record<string, string | undefined>
  /** What stdin holds (read to its end); empty by default. */
  stdin?: string
  /** Makes stdout claim to be a terminal, as a progress bar needs. */
  stdoutIsTTY?: boolean
  /** Makes stdin claim to be a terminal, as a typed confirmation needs. */
  stdinIsTTY?: boolean
}

function capture(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean; columns?: number }; text: () => string } {
  const stream: PassThrough & { isTTY?: boolean; columns?: number } = new PassThrough()
  if (isTTY) {
    stream.isTTY = true
    stream.columns = 100
  }
  const chunks: Buffer[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk))
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') }
}

/** Runs the CLI in-process, as `rcp <argv>` would, with captured output. */
export async function runCli(argv: string[], options: CliRunOptions = {}): Promise<CliResult> {
  const stdout = capture(options.stdoutIsTTY ?? false)
  const stderr = capture(false)
  const code = await run(argv, {
    stdout: stdout.stream,
    stderr: stderr.stream,
    env: options.env ?? {},
    stdin: Object.assign(Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]), {
      isTTY: options.stdinIsTTY === true ? true : undefined,
    }),
  })
  // Let the PassThroughs deliver what was written.
  await new Promise((resolve) => setImmediate(resolve))
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}
