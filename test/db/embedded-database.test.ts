import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { EMBEDDED_SHARED_BUFFERS, startEmbedded, type Database } from '../../src/db/database.js'

/** The embedded default stays small (issue 11): PostgreSQL's shared buffers are resident in PGlite's heap. */
describe('the embedded database', () => {
  let db: Database
  beforeAll(async () => {
    db = await startEmbedded(null)
  })
  afterAll(async () => {
    await db.close()
  })

  it('runs with small shared buffers, not PostgreSQL’s 128 MB', async () => {
    const [row] = await db.sql<Array<{ shared_buffers: string }>>`show shared_buffers`
    expect(row!.shared_buffers).toBe(EMBEDDED_SHARED_BUFFERS)
    expect(EMBEDDED_SHARED_BUFFERS).not.toBe('128MB')
    // The rest of PGlite's start parameters are kept (one process, no parallel workers).
    const [workers] = await db.sql<Array<{ max_parallel_workers: string }>>`show max_parallel_workers`
    expect(workers!.max_parallel_workers).toBe('0')
  })
})

/** A new data directory's cluster is made apart (its own process, a staging directory) and moved into place. */
describe('the embedded database in a new data directory', () => {
  const dirs: string[] = []
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  function newDataDir(): string {
    const dir = join(mkdtempSync(join(tmpdir(), 'embedded-new-')), 'data')
    dirs.push(dirname(dir))
    return dir
  }

  it('is created whole, keeps what it was given across a restart, and leaves no staging directory', async () => {
    const dir = newDataDir()
    const first = await startEmbedded(dir)
    try {
      await first.sql`create table kept (n int)`
      await first.sql`insert into kept values (42)`
    } finally {
      await first.close()
    }
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true)
    expect(readdirSync(dir).filter((entry) => entry.startsWith('.cluster'))).toEqual([])
    const again = await startEmbedded(dir)
    try {
      expect(await again.sql`select n from kept`).toEqual([{ n: 42 }])
    } finally {
      await again.close()
    }
  })

  it('is created again when an earlier creation was interrupted (a staging directory, no PG_VERSION)', async () => {
    const dir = newDataDir()
    mkdirSync(join(dir, '.cluster-creating', 'base'), { recursive: true, mode: 0o700 })
    writeFileSync(join(dir, '.cluster-creating', 'base', 'half-written'), 'x')
    mkdirSync(join(dir, 'global'), { mode: 0o700 }) // an earlier release's initdb, stopped before PG_VERSION
    writeFileSync(join(dir, 'global', 'half-written'), 'x')
    const db = await startEmbedded(dir)
    try {
      expect(await db.sql`select 1 as one`).toEqual([{ one: 1 }])
    } finally {
      await db.close()
    }
    expect(existsSync(join(dir, '.cluster-creating'))).toBe(false)
    expect(existsSync(join(dir, 'global', 'half-written'))).toBe(false)
  })
})
