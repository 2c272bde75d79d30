import { createInterface } from 'node:readline'
import { UsageError } from './exit-codes.js'
import type { InputStream, OutputStream } from './io.js'

/**
 * A typed confirmation for what cannot be undone (`rcp cancel`): the operator types the run id again at a
 * terminal. Without a terminal there is nobody to ask, so the command needs `--yes` instead.
 */

export async function confirmByTyping(
  stdin: InputStream,
  stderr: OutputStream,
  options: { expected: string; prompt: string; refused: string; noTerminal: string },
): Promise<void> {
  if (!stdin.isTTY) throw new UsageError(options.noTerminal)
  const typed = await readLine(stdin, stderr, options.prompt)
  if (typed.trim() !== options.expected) throw new UsageError(options.refused)
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
