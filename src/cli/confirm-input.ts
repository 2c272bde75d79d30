import { createInterface } from 'node:readline'
import { UsageError } from './exit-codes.js'
import type { InputStream, OutputStream } from './io.js'

/**
 * A typed confirmation for what cannot be undone (`rcp cancel`, `rcp revert`): the operator types it at a
 * terminal. Without a terminal there is nobody to ask, so the command needs `--yes` instead.
 */

export async function confirmByTyping(
  stdin: InputStream,
  stderr: OutputStream,
  options: { expected: string; prompt: string; refused: string; noTerminal: string },
): Promise<void> {
  const typed = await typedAtTerminal(stdin, stderr, options)
  if (typed !== options.expected) throw new UsageError(options.refused)
}

/**
 * What the operator typed at a terminal (trimmed), for a confirmation the service checks itself (`rcp
 * revert`): the CLI sends it as typed. Without a terminal, a usage error saying to pass `--yes`.
 */
export async function typedAtTerminal(stdin: InputStream, stderr: OutputStream, options: { prompt: string; noTerminal: string }): Promise<string> {
  if (!stdin.isTTY) throw new UsageError(options.noTerminal)
  return (await readLine(stdin, stderr, options.prompt)).trim()
}

/** One line from a terminal in its usual (echoing) mode; the prompt goes to stderr, so stdout stays clean. */
function readLine(stdin: InputStream, stderr: OutputStream, prompt: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: stdin, terminal: false })
    let answered = false
    lines.once('line', (line) => {
      answered = true
      lines.close()
      resolve(line)
    })
    lines.once('close', () => {
      if (!answered) reject(new UsageError('no confirmation typed'))
    })
    stderr.write(prompt)
  })
}
