import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { linkSync, readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The embedded database's data directory belongs to one process at a time. PGlite is PostgreSQL in single-user
 * mode inside the process: a second process opening the same directory (a second `npm start`, or
 * `npm run rebuild-projections` beside the running service) runs a second PostgreSQL over the same files,
 * each unaware of the other's writes — read models emptied under the service's feet, or worse. The owner
 * writes `LOCK_FILE` in the directory (whole, or not at all: written aside, then linked into place); another
 * process finds it and refuses.
 *
 * A file is taken over only when its owner is known to be gone: written on this host (a container's host name is
 * its own) by a pid that is not running, or by this very pid (a container restarted: its process has the same
 * pid again). A file from another host (another container on the same volume) or naming a live process is
 * refused; the message says which file to delete if no service runs.
 */
export const LOCK_FILE = 'rcp-service.pid'

interface LockOwner {
  pid: number
  host: string
  /** Unique to one taking of the lock: a release removes only its own file. */
  token: string
}

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: { pid: number; host: string } | 'this process',
    lockFile: string,
  ) {
    const who = owner === 'this process' ? 'this process already' : `another process (pid ${owner.pid} on ${owner.host})`
    super(
      `the embedded database in ${dataDir} is in use by ${who}: stop it first ` +
        `(a rebuild of the read models beside a running service: \`rcp admin rebuild\`, which the service performs); ` +
        `if no service runs there, delete ${lockFile}`,
    )
    this.name = 'DataDirInUseError'
  }
}

/** Directories this process holds (a second open from this process is refused as another's would be). */
const held = new Set<string>()

/** Takes the data directory for this process; returns what gives it back. Throws `DataDirInUseError`. */
export function lockDataDir(dataDir: string): () => void {
  const dir = realpathSync(dataDir)
  const path = join(dir, LOCK_FILE)
  if (held.has(dir)) throw new DataDirInUseError(dataDir, 'this process', path)
  const owner: LockOwner = { pid: process.pid, host: hostname(), token: randomUUID() }
  for (let attempt = 1; ; attempt++) {
    if (placeExclusively(path, owner)) break
    const found = readOwner(path)
    if (found === 'gone') continue
    if (found !== 'unreadable' && !isGone(found)) throw new DataDirInUseError(dataDir, found, path)
    // A dead owner's file, or one that is not a lock of this service (a lock is linked into place whole).
    if (attempt >= 5) throw new Error(`could not take ${path}: other processes keep replacing it`)
    setAside(path, found)
  }
  held.add(dir)
  return () => {
    held.delete(dir)
    const current = readOwner(path)
    if (typeof current === 'object' && current.token === owner.token) unlinkQuietly(path)
  }
}

/** Writes the owner aside, then links it into place: false when a lock file is there already. */
function placeExclusively(path: string, owner: LockOwner): boolean {
  const aside = `${path}.${owner.token}`
  writeFileSync(aside, `${JSON.stringify(owner)}\n`, { mode: 0o600 })
  try {
    linkSync(aside, path)
    return true
  } catch (error) {
    if ((error as { code?: string }).code !== 'EEXIST') throw error
    return false
  } finally {
    unlinkQuietly(aside)
  }
}

function readOwner(path: string): LockOwner | 'gone' | 'unreadable' {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    return (error as { code?: string }).code === 'ENOENT' ? 'gone' : 'unreadable'
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner> | null
    if (parsed && Number.isSafeInteger(parsed.pid) && typeof parsed.host === 'string' && typeof parsed.token === 'string') return parsed as LockOwner
  } catch {
    // not ours: judged unreadable
  }
  return 'unreadable'
}

/** Known gone: written on this host by a pid not running now, or by this pid (a restarted container). */
function isGone(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false
  return owner.pid === process.pid || !isAlive(owner.pid)
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

/**
 * Moves a stale file out of the way under a name of its own, then checks it moved the file it judged: a start
 * racing for the same stale file may have replaced it with its own meanwhile, which is put back.
 */
function setAside(path: string, judged: LockOwner | 'unreadable'): void {
  const moved = `${path}.stale.${randomUUID()}`
  try {
    renameSync(path, moved)
  } catch {
    return // gone already: the next attempt places ours
  }
  const found = readOwner(moved)
  const same = judged === 'unreadable' ? found === 'unreadable' : typeof found === 'object' && found.token === judged.token && found.pid === judged.pid
  if (same) unlinkQuietly(moved)
  else linkBack(moved, path)
}

function linkBack(moved: string, path: string): void {
  try {
    linkSync(moved, path)
  } catch {
    // another start placed its own meanwhile: it holds the directory, and the moved one's owner is told by its
    // own release finding the file gone
  } finally {
    unlinkQuietly(moved)
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    // gone already
  }
}
