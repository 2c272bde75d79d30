import { openSync, readFileSync, realpathSync, unlinkSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The embedded database's data directory belongs to one process at a time. PGlite is PostgreSQL in single-user
 * mode inside the process: a second process opening the same directory (a second `npm start`, or
 * `npm run rebuild-projections` beside the running service) runs a second PostgreSQL over the same files,
 * each unaware of the other's writes — read models emptied under the service's feet, or worse. The owner
 * writes its pid to `<dir>/LOCK_FILE` (created exclusively); another process finds it and refuses.
 *
 * A file left by a process that died (`kill -9`, a power cut) names a pid that is gone, or this very pid (a
 * container restarted: its process has the same pid as before), and is taken over.
 */
export const LOCK_FILE = 'rcp-service.pid'

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `the embedded database in ${dataDir} is in use by another process (pid ${pid}): stop it first ` +
        `(a rebuild of the read models beside a running service: \`rcp admin rebuild\`, which the service performs)`,
    )
    this.name = 'DataDirInUseError'
  }
}

/** Directories this process holds (a second open from this process is refused as another's would be). */
const held = new Set<string>()

/** Takes the data directory for this process; returns what gives it back. Throws `DataDirInUseError`. */
export function lockDataDir(dataDir: string): () => void {
  const dir = realpathSync(dataDir)
  if (held.has(dir)) throw new DataDirInUseError(dataDir, process.pid)
  const path = join(dir, LOCK_FILE)
  // A stale file is removed, then the exclusive create decides between starts racing for the directory.
  for (let attempt = 1; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      try {
        writeSync(fd, `${process.pid}\n`)
      } finally {
        closeSync(fd)
      }
      held.add(dir)
      return () => {
        held.delete(dir)
        if (ownerOf(path) === process.pid) unlinkQuietly(path)
      }
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error
      const owner = ownerOf(path)
      if (owner !== null && owner !== process.pid && isAlive(owner)) throw new DataDirInUseError(dataDir, owner)
      if (attempt >= 3) throw error
      unlinkQuietly(path)
    }
  }
}

/** The pid the lock file names; null when it is gone or unreadable (a start that died while writing it). */
function ownerOf(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: alive, another user's.
    return (error as { code?: string }).code === 'EPERM'
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    // gone already
  }
}
