import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ensurePrivateDirectory, keepTreePrivate, startEmbedded } from '../../src/db/database.js'
import { openToOthers } from '../support/file-modes.js'

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

  it('tightens the tree behind a DATA_DIR that is a symbolic link, and reports what it cannot change instead of throwing', () => {
    const real = join(root, 'real-data')
    mkdirSync(join(real, 'base'), { recursive: true })
    writeFileSync(join(real, 'base', 'table'), 'x')
    chmodSync(join(real, 'base', 'table'), 0o666)
    chmodSync(join(real, 'base'), 0o777)
    const link = join(root, 'linked-data')
    symlinkSync(real, link)
    keepTreePrivate(link)
    expect(openToOthers(real)).toEqual([])

    const skipped: string[] = []
    keepTreePrivate(real, (path) => skipped.push(path))
    expect(skipped).toEqual([])
    expect(() => keepTreePrivate(join(root, 'nowhere'), (path) => skipped.push(path))).toThrow()
  })

  it('opens a fresh embedded database whose every file is its user\'s only, and tightens one an earlier release left open', async () => {
    const dir = join(root, 'embedded')
    // Under umask 000 (a bare container, a careless unit) PGlite's files were 0666 and its directories 0777.
    // vitest's worker runs other test files: its umask is put back.
    const started = process.umask(0)
    const work = async () => {
      const db = await startEmbedded(dir)
      try {
        await db.sql`create table if not exists private_check (id int)`
        await db.sql`insert into private_check values (1)`
        await db.sql`checkpoint`
      } finally {
        await db.close()
      }
    }
    try {
      await work()
      expect(readdirSync(dir).length).toBeGreaterThan(0)
      expect(openToOthers(dir)).toEqual([])

      // A data directory an earlier release made: opening it tightens it.
      chmodSync(join(dir, 'PG_VERSION'), 0o666)
      chmodSync(join(dir, 'global'), 0o777)
      await work()
      expect(openToOthers(dir)).toEqual([])
      expect(modeOf(join(dir, 'PG_VERSION'))).toBe(0o600)
    } finally {
      process.umask(started)
    }
  })
})
