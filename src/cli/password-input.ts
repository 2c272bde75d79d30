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
