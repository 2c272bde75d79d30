import { PassThrough, Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { InterruptedError, UsageError } from '../../src/cli/exit-codes.js'
import { promptHiddenPassword, readNewPassword, readPasswordFromStdin, readPasswordLinesFromStdin } from '../../src/cli/password-input.js'

/** A stdin that claims to be a terminal and records raw-mode switches. */
function fakeTerminal() {
  const stdin = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode: (mode: boolean) => void; rawModes: boolean[] }
  stdin.isTTY = true
  stdin.rawModes = []
  stdin.setRawMode = (mode) => void stdin.rawModes.push(mode)
  const stderr = new PassThrough()
  let echoed = ''
  stderr.on('data', (chunk: Buffer) => (echoed += chunk.toString()))
  return { stdin, stderr, echoed: () => echoed }
}

describe('password input', () => {
  it('--password-stdin: one trailing newline is dropped, inner spaces kept', async () => {
    expect(await readPasswordFromStdin(Readable.from([Buffer.from('correct horse \n')]))).toBe('correct horse ')
    expect(await readPasswordFromStdin(Readable.from([Buffer.from('pw\r\n')]))).toBe('pw')
    await expect(readPasswordFromStdin(Readable.from([Buffer.from('\n')]))).rejects.toBeInstanceOf(UsageError)
  })

  it('the prompt echoes nothing of what is typed, handles backspace, and leaves raw mode', async () => {
    const terminal = fakeTerminal()
    const answer = promptHiddenPassword(terminal.stdin, terminal.stderr)
    terminal.stdin.write('s3cretX')
    terminal.stdin.write('\u007f!\r')
    expect(await answer).toBe('s3cret!')
    expect(terminal.stdin.rawModes).toEqual([true, false])
    await new Promise((resolve) => setImmediate(resolve))
    expect(terminal.echoed()).toBe('Password: \n')
  })

  it('Ctrl-C at the prompt is an interruption; no terminal is a usage error', async () => {
    const terminal = fakeTerminal()
    const answer = promptHiddenPassword(terminal.stdin, terminal.stderr)
    terminal.stdin.write('abc\u0003')
    await expect(answer).rejects.toBeInstanceOf(InterruptedError)
    expect(terminal.stdin.rawModes).toEqual([true, false])

    await expect(promptHiddenPassword(Readable.from([]), new PassThrough())).rejects.toThrow(/--password-stdin/)
  })

  it('a new password is typed twice at the prompt; two that differ change nothing', async () => {
    const tick = () => new Promise((resolve) => setImmediate(resolve))
    const same = fakeTerminal()
    const answer = readNewPassword(same.stdin, same.stderr, { fromStdin: false, prompt: 'New password: ' })
    same.stdin.write('a long new password\r')
    await tick()
    same.stdin.write('a long new password\r')
    expect(await answer).toBe('a long new password')
    await tick()
    expect(same.echoed()).toBe('New password: \nRepeat it: \n')

    const differ = fakeTerminal()
    const refused = readNewPassword(differ.stdin, differ.stderr, { fromStdin: false, prompt: 'New password: ' })
    differ.stdin.write('a long new password\r')
    await tick()
    differ.stdin.write('a long new passw0rd\r')
    await expect(refused).rejects.toThrow(/differ; nothing was changed/)
  })

  it('--password-stdin for two passwords: exactly two non-empty lines, CRLF or LF', async () => {
    const names: [string, string] = ['the current password', 'the new one']
    expect(await readPasswordLinesFromStdin(Readable.from([Buffer.from('old one\r\nnew one\r\n')]), names)).toEqual(['old one', 'new one'])
    expect(await readPasswordLinesFromStdin(Readable.from([Buffer.from('old\nnew')]), names)).toEqual(['old', 'new'])
    for (const input of ['only one\n', 'a\nb\nc\n', '\nnew\n', '']) {
      await expect(readPasswordLinesFromStdin(Readable.from([Buffer.from(input)]), names)).rejects.toThrow(/expected two lines/)
    }
  })
})
