import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import postgres from 'postgres'
import { NOT_FOR_OTHERS } from '../private-files.js'
import { lockDataDir } from './data-dir-lock.js'
import { transactionsTakingTurns } from './transaction-turns.js'

/** The one SQL client type of the service: `postgres` talks to PostgreSQL and to the embedded PGlite alike. */
export type Sql = postgres.Sql
export type TransactionSql = postgres.TransactionSql

/**
 * A select-list expression that has the server end this session once it stays idle for `ms` (PostgreSQL 14
 * and later: `idle_session_timeout`; nothing before). For the connections a stopped process must not keep
 * (a lease, a listener): a live one sends something well within `ms`.
 */
export function idleSessionBound(sql: Sql, ms: number) {
  return sql`case when current_setting('server_version_num')::int >= 140000
                  then set_config('idle_session_timeout', ${String(ms)}, false) end`
}

/**
 * A select-list expression: this session's `idle_in_transaction_session_timeout` in milliseconds (0: none).
 * Read through `current_setting`, not the `pg_settings` view, which builds a row for every setting on each
 * read (~0.4 ms: a quarter of a group commit of appends).
 */
export function idleInTransactionTimeoutMs(sql: Sql | TransactionSql) {
  return sql`(extract(epoch from current_setting('idle_in_transaction_session_timeout')::interval) * 1000)::bigint`
}

export interface Database {
  sql: Sql
  kind: 'postgres' | 'embedded'
  /** Connection options suitable for another client of the same database (e.g. a LISTEN connection). */
  url: string
  close(): Promise<void>
}

const quiet = { onnotice: () => {} }

/**
 * How long a transaction of the service may sit idle (waiting for the service's next statement) before
 * PostgreSQL ends its connection. A live process sends its next statement at once (its transactions run no
 * one's code but its own between statements, and a repair pipelines its statements); one frozen, cut off or
 * gone between two round trips would otherwise keep its transaction's locks (a stream's row, a run's lock
 * that every repair of the run waits for) until the server noticed the connection gone, which may be never.
 * Transactions that hold what everyone waits for bound themselves more tightly (the appends' ordering lock:
 * APPENDS_LOCK_IDLE_MS). Not on the embedded database: its one connection is the whole service's.
 */
export const IDLE_IN_TRANSACTION_MS = 60_000

export async function connectPostgres(url: string, options: { max?: number; idleInTransactionMs?: number } = {}): Promise<Database> {
  const sql = postgres(url, {
    max: options.max ?? 10,
    ...quiet,
    connection: {
      application_name: 'runbook-control-plane',
      idle_in_transaction_session_timeout: options.idleInTransactionMs ?? IDLE_IN_TRANSACTION_MS,
    },
  })
  await sql`select 1`
  return { sql, kind: 'postgres', url, close: () => sql.end({ timeout: 5 }) }
}

/** The embedded database's shared buffers (see startEmbedded). */
export const EMBEDDED_SHARED_BUFFERS = '32MB'

/**
 * An embedded PostgreSQL (PGlite, WebAssembly) served on a loopback socket so that the same `postgres`
 * client and the same SQL serve both deployments. PGlite runs one connection at a time, hence `max: 1`
 * (DESIGN "Known traps"); a transaction holds the connection and other queries queue behind it, so
 * transactions take turns in the process (transaction-turns.ts) and a single statement waits for one at most.
 * `dataDir` null keeps everything in memory (tests).
 */
export async function startEmbedded(dataDir: string | null): Promise<Database> {
  if (dataDir) ensurePrivateDirectory(dataDir)
  // One process at a time in a data directory (data-dir-lock.ts), taken before PGlite touches a file.
  const unlock = dataDir ? lockDataDir(dataDir) : () => {}
  try {
    return await openEmbedded(dataDir, unlock)
  } catch (error) {
    unlock()
    throw error
  }
}

async function openEmbedded(dataDir: string | null, unlock: () => void): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite')
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket')
  // PostgreSQL's 128 MB of shared buffers are touched at start inside the WebAssembly heap, i.e. resident
  // whatever the data: 32 MB keeps the embedded service small (~150 MiB less RSS); what does not fit is
  // read again through the file system's cache.
  const options = { startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`] }
  if (dataDir && !existsSync(join(dataDir, 'PG_VERSION'))) await createEmbeddedCluster(dataDir, options.startParams)
  const pglite = dataDir ? await PGlite.create(dataDir, options) : await PGlite.create(options)
  // A new data directory's ~970 files are written by PGlite's own file layer, which sets each one to 0666
  // with an explicit chmod (the umask cannot help); the files PostgreSQL creates afterwards get its own
  // modes (0600). Tightened on every start, so a data directory made by an earlier release is too (issue 7).
  if (dataDir) {
    keepTreePrivate(dataDir, (path, error) =>
      process.emitWarning(`could not make ${path} private to the service's user (${(error as { code?: string }).code ?? 'error'})`),
    )
  }
  const server = new PGLiteSocketServer({ db: pglite, port: 0, host: '127.0.0.1' })
  await server.start()
  const address = (server as unknown as { server: { address(): { port: number } } }).server.address()
  const url = `postgres://postgres@127.0.0.1:${address.port}/postgres`
  const sql = transactionsTakingTurns(postgres(url, { max: 1, ...quiet }))
  await sql`select 1`
  return {
    sql,
    kind: 'embedded',
    url,
    async close() {
      try {
        await sql.end({ timeout: 5 })
        await server.stop()
        await pglite.close()
      } finally {
        unlock()
      }
    },
  }
}

/** Where a new cluster is made before it is moved into the data directory (see `createEmbeddedCluster`). */
const CLUSTER_STAGING = '.cluster-creating'
/** A cluster's creation that takes longer is stopped (it takes a few seconds). */
const CLUSTER_CREATION_TIMEOUT_MS = 5 * 60_000

/**
 * Creates a new embedded database cluster in `dataDir` (PGlite's initdb) in a process of its own. Made in the
 * service's process, it grows PGlite's WebAssembly memory by ~120 MiB that WebAssembly never gives back: the
 * first `npm start` then held ~355-765 MiB where every later start holds ~235-250.
 *
 * The cluster is made in a staging directory inside `dataDir` and moved into place with `PG_VERSION` last,
 * so that `PG_VERSION` in `dataDir` always means a whole cluster: a creation interrupted (the service
 * stopped, the machine down) leaves only the staging directory, made again by the next start. The child does
 * not outlive the creation: its IPC channel closes when the service's process goes, however it goes, and it
 * exits as soon as it notices (once the creation's one long call returns: a few seconds); it is stopped after
 * CLUSTER_CREATION_TIMEOUT_MS whatever happens.
 */
async function createEmbeddedCluster(dataDir: string, startParams: string[]): Promise<void> {
  const staging = join(dataDir, CLUSTER_STAGING)
  rmSync(staging, { recursive: true, force: true })
  const pglite = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href
  const script = `process.on('disconnect', () => process.exit(1));
    const { PGlite } = await import(${JSON.stringify(pglite)});
    const db = await PGlite.create(${JSON.stringify(staging)}, { startParams: ${JSON.stringify(startParams)} });
    await db.close();
    process.exit(0);`
  // The service's own node options (an inspector's port, a profiler, a loader) are not the child's.
  const { NODE_OPTIONS: _ignored, ...env } = process.env
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env })
    let output = ''
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-2000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    const timer = setTimeout(() => child.kill('SIGKILL'), CLUSTER_CREATION_TIMEOUT_MS)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else reject(new Error(`creating the embedded database in ${dataDir} failed (${signal ?? `exit ${code}`}): ${output.trim()}`))
    })
  })
  // Whatever an interrupted creation of an earlier release left under the same names is no cluster (it has no
  // PG_VERSION): replaced.
  const entries = readdirSync(staging).filter((entry) => entry !== 'PG_VERSION')
  for (const entry of [...entries, 'PG_VERSION']) {
    rmSync(join(dataDir, entry), { recursive: true, force: true })
    renameSync(join(staging, entry), join(dataDir, entry))
  }
  rmSync(staging, { recursive: true, force: true })
}

/**
 * Creates `dir` (and missing parents) readable and writable by the service's user only (0700): the
 * embedded database's files must not be open to other local users. An existing directory that is
 * group- or world-accessible is tightened to 0700 (one the operator made stricter is left alone).
 */
export function ensurePrivateDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const mode = statSync(dir).mode & 0o777
  if ((mode & NOT_FOR_OTHERS) !== 0) chmodSync(dir, mode & ~NOT_FOR_OTHERS)
}

/**
 * Takes group and other users' permissions off every file and directory under `root` (itself included, a
 * symbolic link to it followed) that has any. Links below are neither followed nor changed; what belongs to
 * another user (a volume's lost+found, say) is left alone, and an entry that cannot be read or changed is
 * reported to `onSkipped` rather than stopping the service from starting.
 */
export function keepTreePrivate(root: string, onSkipped: (path: string, error: unknown) => void = () => {}): void {
  const uid = process.getuid?.()
  const visit = (path: string) => {
    try {
      const stat = lstatSync(path)
      if (stat.isSymbolicLink() || (uid !== undefined && stat.uid !== uid)) return
      if ((stat.mode & NOT_FOR_OTHERS) !== 0) chmodSync(path, stat.mode & 0o777 & ~NOT_FOR_OTHERS)
      if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name))
    } catch (error) {
      onSkipped(path, error)
    }
  }
  visit(realpathSync(root))
}

/** The server answered (a PostgresError), as opposed to the driver failing on its own (a closed socket). */
export function isServerError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'PostgresError'
}

/**
 * An error a statement raised on a connection that is alive (a constraint, a bad value, a timeout), as
 * opposed to the connection's own: lost, closed, or the server going away (class 08, 57P0x). Worth going on
 * with other work; the connection's errors mean every statement would fail now.
 */
export function isStatementError(error: unknown): boolean {
  const candidate = error as { name?: unknown; code?: unknown } | null
  // The server's errors are PostgresError with a SQLSTATE; the driver's own (a closed socket, a timeout) are not.
  if (candidate?.name !== 'PostgresError' || typeof candidate.code !== 'string') return false
  return !candidate.code.startsWith('08') && !candidate.code.startsWith('57P0')
}
