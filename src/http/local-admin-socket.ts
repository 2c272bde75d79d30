import { chmodSync, unlinkSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { describeFailure } from '../commands/run/failure-message.js'
import { RebuildNotSwitchedError, type RebuildReport } from '../projections/read-model-rebuild.js'

/**
 * The embedded database belongs to the one process that opened its data directory (data-dir-lock.ts), so
 * `npm run rebuild-projections` cannot open it beside a running service; SPEC §12 has it rebuild the read
 * models "while the service keeps answering" all the same. The service that holds the directory listens on a
 * Unix socket inside it and performs the rebuild when asked there; the command asks it. Who may ask is who
 * may open the directory (owner only: `ensurePrivateDirectory`), as who may run the command against
 * PostgreSQL is who holds `DATABASE_URL`: the socket answers nothing else, and carries no credentials.
 */
export const LOCAL_ADMIN_SOCKET = 'rcp-admin.sock'

const REBUILD_PATH = '/rebuild-read-models'
/** A Unix socket's path fits `sun_path` with its NUL: 108 bytes on Linux, 104 on macOS and the BSDs. */
const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103
/** How long the command waits for the service's rebuild (as `rcp admin rebuild` waits for the API's). */
const REBUILD_WAIT_MS = 60 * 60 * 1000

/**
 * The socket's path in a data directory; null where there can be none: a path too long for a socket, or
 * Windows (whose local sockets are named pipes, not files in a directory).
 */
export function localAdminSocketPath(dataDir: string): string | null {
  if (process.platform === 'win32') return null
  const path = join(dataDir, LOCAL_ADMIN_SOCKET)
  return Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES ? path : null
}

export interface LocalAdmin {
  close(): Promise<void>
}

/**
 * Listens on the data directory's socket (the caller holds the directory: a socket file found there is a
 * crashed owner's) and answers `POST /rebuild-read-models` with the rebuild's report, one rebuild at a time.
 * Null when there can be no socket, or it could not be opened: a convenience of the embedded default, never a
 * reason for the service not to start (the command then refuses, saying to use `rcp admin rebuild`).
 */
export async function serveLocalAdmin(dataDir: string, rebuild: () => Promise<RebuildReport>, logger: Logger): Promise<LocalAdmin | null> {
  const path = localAdminSocketPath(dataDir)
  const unavailable = (err: unknown) => {
    logger.warn({ dataDir, err }, 'no local admin socket in the data directory: npm run rebuild-projections will refuse beside this service (rcp admin rebuild works)')
    return null
  }
  if (path === null) return unavailable(new Error('the data directory path is too long for a socket'))
  removeQuietly(path)
  let underWay = false
  const server: Server = createServer((req, res) => {
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    req.resume()
    if (req.method !== 'POST' || req.url !== REBUILD_PATH) return answer(404, { error: `no route for ${req.method} ${req.url}` })
    if (underWay) return answer(409, { error: 'this service is already rebuilding the read models' })
    underWay = true
    rebuild()
      .then((report) => answer(200, report))
      .catch((error: unknown) => {
        if (error instanceof RebuildNotSwitchedError) return answer(409, { error: error.message })
        logger.error({ err: error }, 'a rebuild asked for on the local admin socket failed')
        answer(500, { error: describeFailure(error, 'UNKNOWN') })
      })
      .finally(() => {
        underWay = false
      })
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => {
        server.off('error', reject)
        resolve()
      })
    })
    chmodSync(path, 0o600)
  } catch (error) {
    server.close()
    removeQuietly(path)
    return unavailable(error)
  }
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
        removeQuietly(path)
      }),
  }
}

/** What the service's socket answered: its report, or its refusal in words. */
export type LocalRebuildAnswer = { ok: true; report: RebuildReport } | { ok: false; error: string }

/**
 * Asks the service that holds the data directory to rebuild the read models; null when nothing listens on
 * its socket (no service, or one of a release without it).
 */
export function askServiceToRebuild(dataDir: string): Promise<LocalRebuildAnswer | null> {
  const socketPath = localAdminSocketPath(dataDir)
  if (socketPath === null) return Promise.resolve(null)
  return new Promise((resolve, reject) => {
    // A connection of its own (no agent's pooled one, which may be the closed socket of a service gone since).
    const asked = request({ socketPath, path: REBUILD_PATH, method: 'POST', agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RebuildReport & { error?: string }
          resolve(res.statusCode === 200 ? { ok: true, report: body } : { ok: false, error: body.error ?? `answered ${res.statusCode}` })
        } catch (error) {
          reject(error)
        }
      })
    })
    asked.setTimeout(REBUILD_WAIT_MS, () => asked.destroy(new Error(`the service did not answer within ${REBUILD_WAIT_MS / 60_000} minutes`)))
    asked.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve(null)
      else if (error.code === 'ECONNRESET' || error.message === 'socket hang up') {
        reject(new Error('the service closed the connection before answering (it stopped?): the rebuild may or may not have switched; its audit entry says'))
      } else reject(error)
    })
    asked.end()
  })
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    // not there
  }
}
