import { InterruptedError, UsageError } from './exit-codes.js'
import type { InputStream, OutputStream } from './io.js'

/**
 * The two ways `rcp login` takes a password — never as an argument, where `ps` and shell history would
 * show it: piped on stdin (`--password-stdin`), or typed at a prompt that echoes nothing.
 */

const MAX_PASSWORD_BYTES = 4096

/** Reads stdin to its end; one trailing newline (what `echo` and files add) is not part of the password. */
export async function readPasswordFromStdin(stdin: InputStream): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += buffer.length
    if (size > MAX_PASSWORD_BYTES) throw new UsageError('--password-stdin: the input is too long to be a password')
    chunks.push(buffer)
  }
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  if (password === '') throw new UsageError('--password-stdin: stdin held no password')
  return password
}

/** Prompts on stderr (stdout stays clean for scripts) and reads a line from a terminal without echoing it. */
export function promptHiddenPassword(stdin: InputStream, stderr: OutputStream, prompt = 'Password: '): Promise<string> {
  if (!stdin.isTTY || typeof stdin.setRawMode !== 'function') {
    return Promise.reject(
      new UsageError('no terminal to prompt for the password: pipe it with --password-stdin (e.g. from a secret manager)'),
    )
  }
  const setRawMode = stdin.setRawMode.bind(stdin)
  return new Promise<string>((resolve, reject) => {
    let password = ''
    const finish = (error: Error | null) => {
      stdin.removeListener('data', onData)
      setRawMode(false)
      stdin.pause()
      stderr.write('\n')
      if (error) reject(error)
      else if (password === '') reject(new UsageError('no password entered'))
      else resolve(password)
    }
    const onData = (chunk: Buffer | string) => {
      for (const character of chunk.toString()) {
        if (character === '\r' || character === '\n' || character === '\u0004') return finish(null)
        if (character === '\u0003') return finish(new InterruptedError('interrupted'))
        if (character === '\u007f' || character === '\b') password = [...password].slice(0, -1).join('')
        else if (character >= ' ') password += character
      }
    }
    stderr.write(prompt)
    setRawMode(true)
    stdin.on('data', onData)
    stdin.resume()
  })
}

/**
 * `--password-stdin` for two passwords (`rcp password`: the current one, then the new one): one per line,
 * exactly two lines (a final newline is fine). A password never contains a line break.
 */
export async function readPasswordLinesFromStdin(stdin: InputStream, names: [string, string]): Promise<[string, string]> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += buffer.length
    if (size > 2 * MAX_PASSWORD_BYTES) throw new UsageError('--password-stdin: the input is too long to be two passwords')
    chunks.push(buffer)
  }
  const lines = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '').split(/\r?\n/)
  if (lines.length !== 2 || lines.some((line) => line === '')) {
    throw new UsageError(`--password-stdin: expected two lines on stdin, ${names[0]} then ${names[1]}`)
  }
  return [lines[0]!, lines[1]!]
}

/**
 * A new password (`operators create`, `operators password`, `rcp password`): from stdin with
 * `--password-stdin`, else typed twice at a hidden prompt (a typo would otherwise lock the account out).
 */
export async function readNewPassword(
  stdin: InputStream,
  stderr: OutputStream,
  options: { fromStdin: boolean; prompt: string },
): Promise<string> {
  if (options.fromStdin) return readPasswordFromStdin(stdin)
  const first = await promptHiddenPassword(stdin, stderr, options.prompt)
  const second = await promptHiddenPassword(stdin, stderr, 'Repeat it: ')
  if (first !== second) throw new UsageError('the two passwords typed differ; nothing was changed')
  return first
}
