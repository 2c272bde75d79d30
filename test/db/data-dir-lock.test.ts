import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../src/db/data-dir-lock.js'
import { startEmbedded } from '../../src/db/database.js'

/** A process that stays alive until killed, and one that has exited (its pid names nobody now). */
function aliveProcess(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('exit', resolve))
  return child.pid!
}

describe('the embedded data directory, one process at a time', () => {
  let dir: string
  let others: ChildProcess[] = []

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rcp-lock-'))
  })

  afterEach(() => {
    for (const other of others) other.kill('SIGKILL')
    others = []
    rmSync(dir, { recursive: true, force: true })
  })

  it('is taken by writing this pid, refused to a second open, and given back', () => {
    const release = lockDataDir(dir)
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid))
    expect(() => lockDataDir(dir)).toThrow(DataDirInUseError)
    release()
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false)
    lockDataDir(dir)()
  })

  it('is refused while another live process holds it, and that process keeps it', () => {
    const other = aliveProcess()
    others.push(other)
    writeFileSync(join(dir, LOCK_FILE), `${other.pid}\n`)
    let refusal: unknown
    try {
      lockDataDir(dir)
    } catch (error) {
      refusal = error
    }
    expect(refusal).toBeInstanceOf(DataDirInUseError)
    expect((refusal as DataDirInUseError).pid).toBe(other.pid)
    expect((refusal as Error).message).toContain('rcp admin rebuild')
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(other.pid))
  })

  it('is taken over from a process that died holding it, or from a garbled file', async () => {
    writeFileSync(join(dir, LOCK_FILE), `${await deadPid()}\n`)
    const release = lockDataDir(dir)
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid))
    release()
    writeFileSync(join(dir, LOCK_FILE), 'not a pid')
    lockDataDir(dir)()
  })

  it('keeps the embedded database closed to a second process: nothing of it is opened or created', async () => {
    const other = aliveProcess()
    others.push(other)
    writeFileSync(join(dir, LOCK_FILE), `${other.pid}\n`)
    await expect(startEmbedded(dir)).rejects.toBeInstanceOf(DataDirInUseError)
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(false)
  })

  it('refuses `npm run rebuild-projections` beside a running service, which keeps its read models', async () => {
    const db = await startEmbedded(dir)
    try {
      await db.sql`create table if not exists kept_rows (id int)`
      await db.sql`insert into kept_rows values (1)`
      const rebuild = promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/rebuild-projections.ts'], {
        env: { ...process.env, DATA_DIR: dir, DATABASE_URL: '', LOG_LEVEL: 'warn' },
      })
      const failure = await rebuild.then(
        () => null,
        (error: { code?: number; stderr?: string }) => error,
      )
      expect(failure?.code).toBe(1)
      expect(failure?.stderr).toContain(`in use by another process (pid ${process.pid})`)
      const [row] = await db.sql<Array<{ n: number }>>`select count(*)::int as n from kept_rows`
      expect(row!.n).toBe(1)
    } finally {
      await db.close()
    }
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false)
  })
})
