import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ensurePrivateDirectory } from '../../src/db/database.js'

const modeOf = (path: string) => statSync(path).mode & 0o777

/** Issue 7: the embedded database's files are not open to other local users (startEmbedded creates DATA_DIR so). */
describe.skipIf(process.platform === 'win32')('DATA_DIR permissions', () => {
  const root = mkdtempSync(join(tmpdir(), 'rcp-data-dir-'))
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it('creates a missing data directory (and its missing parents) with mode 0700', () => {
    const dir = join(root, 'fresh', 'data')
    ensurePrivateDirectory(dir)
    expect(modeOf(dir)).toBe(0o700)
    expect(modeOf(join(root, 'fresh'))).toBe(0o700)
  })

  it('tightens an existing group- or world-writable data directory to 0700, and leaves a stricter one alone', () => {
    const open = join(root, 'open')
    ensurePrivateDirectory(open)
    chmodSync(open, 0o777)
    ensurePrivateDirectory(open)
    expect(modeOf(open)).toBe(0o700)

    const strict = join(root, 'strict')
    ensurePrivateDirectory(strict)
    chmodSync(strict, 0o500)
    ensurePrivateDirectory(strict)
    expect(modeOf(strict)).toBe(0o500)
    chmodSync(strict, 0o700)
  })
})
