import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../src/db/data-dir-lock.js'
import { startEmbedded } from '../../src/db/database.js'

/** A lock file as another owner would have written it. */
function lockFileOf(pid: number, host = hostname()): string {
  return `${JSON.stringify({ pid, host, token: `token-${pid}` })}\n`
}

const ownerPid = (dir: string): number => (JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number }).pid

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

  it('is taken by writing this pid and host, refused to a second open, and given back', () => {
    const release = lockDataDir(dir)
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() })
    expect(() => lockDataDir(dir)).toThrow(/in use by this process already/)
    release()
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false)
    lockDataDir(dir)()
    // Nothing is left beside it (the file is written aside, then linked into place).
    expect(readdirSync(dir)).toEqual([])
  })

  it('is refused while another live process holds it, or a process on another host (another container), which keep it', () => {
    const other = aliveProcess()
    others.push(other)
    for (const held of [lockFileOf(other.pid!), lockFileOf(process.pid, 'another-container')]) {
      writeFileSync(join(dir, LOCK_FILE), held)
      let refusal: unknown
      try {
        lockDataDir(dir)
      } catch (error) {
        refusal = error
      }
      expect(refusal).toBeInstanceOf(DataDirInUseError)
      expect((refusal as Error).message).toContain('rcp admin rebuild')
      expect((refusal as Error).message).toContain(`delete ${join(realpathSync(dir), LOCK_FILE)}`)
      expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(held)
    }
  })

  it('is taken over from a process of this host that died holding it, from this pid (a restarted container), or from a garbled file', async () => {
    for (const stale of [lockFileOf(await deadPid()), lockFileOf(process.pid), 'not a lock']) {
      writeFileSync(join(dir, LOCK_FILE), stale)
      const release = lockDataDir(dir)
      expect(ownerPid(dir)).toBe(process.pid)
      release()
      expect(readdirSync(dir)).toEqual([])
    }
  })

  it('gives back only its own file: one that another process put in its place is left alone', () => {
    const release = lockDataDir(dir)
    writeFileSync(join(dir, LOCK_FILE), lockFileOf(process.pid + 1))
    release()
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(lockFileOf(process.pid + 1))
  })

  it('keeps the embedded database closed to a second process: nothing of it is opened or created', async () => {
    const other = aliveProcess()
    others.push(other)
    writeFileSync(join(dir, LOCK_FILE), lockFileOf(other.pid!))
    await expect(startEmbedded(dir)).rejects.toBeInstanceOf(DataDirInUseError)
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(false)
  })

  it('refuses `npm run rebuild-projections` beside a process that holds the folder and answers no rebuild on its socket (no service, or an older release): its tables are kept', async () => {
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
      expect(failure?.stderr).toContain(`in use by another process (pid ${process.pid} on ${hostname()})`)
      const [row] = await db.sql<Array<{ n: number }>>`select count(*)::int as n from kept_rows`
      expect(row!.n).toBe(1)
    } finally {
      await db.close()
    }
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false)
  })
})
