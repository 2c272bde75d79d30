import { execFile } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'
import { sparePort, waitFor } from './ports.js'

const run = promisify(execFile)
const BIN = '/usr/lib/postgresql/15/bin'
const POSTGRES_UID = 101
const POSTGRES_GID = 104

/**
 * A PostgreSQL 15 cluster of the fault suite's own, on a spare port of 127.0.0.1 with trust auth, under a
 * temporary directory owned by the `postgres` OS user (the server refuses to run as root). Killing or
 * restarting it harms nobody else. fsync is off: the faults here kill processes, never the machine, so the
 * OS page cache survives every one of them and crash recovery is still exercised by `-m immediate`.
 */
export class ThrowawayPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get dataDir(): string {
    return join(this.dir, 'data')
  }

  get logFile(): string {
    return join(this.dir, 'postgres.log')
  }

  static async create(): Promise<ThrowawayPostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'rcp-faults-pg-'))
    chownSync(dir, await uid('postgres', POSTGRES_UID), await gid('postgres', POSTGRES_GID))
    const port = await sparePort()
    const cluster = new ThrowawayPostgres(dir, port)
    await asPostgres(`${BIN}/initdb`, ['-D', cluster.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'])
    await cluster.start()
    return cluster
  }

  private options(): string {
    return [
      `-p ${this.port}`,
      `-k ${this.dir}`,
      '-c listen_addresses=127.0.0.1',
      '-c max_connections=300',
      '-c fsync=off',
      '-c full_page_writes=off',
      '-c shared_buffers=64MB',
    ].join(' ')
  }

  async start(): Promise<void> {
    await asPostgres(`${BIN}/pg_ctl`, ['-D', this.dataDir, '-l', this.logFile, '-o', this.options(), '-w', '-t', '60', 'start'])
    await this.waitReady()
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await asPostgres(`${BIN}/pg_ctl`, ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop'])
  }

  /** `pg_ctl restart -m <mode>`: every client connection is cut; the server is back when this returns. */
  async restart(mode: 'fast' | 'immediate'): Promise<void> {
    await asPostgres(`${BIN}/pg_ctl`, ['-D', this.dataDir, '-l', this.logFile, '-m', mode, '-o', this.options(), '-w', '-t', '60', 'restart'])
    await this.waitReady()
  }

  async running(): Promise<boolean> {
    try {
      await asPostgres(`${BIN}/pg_ctl`, ['-D', this.dataDir, 'status'])
      return true
    } catch {
      return false
    }
  }

  async destroy(): Promise<void> {
    if (existsSync(join(this.dataDir, 'postmaster.pid'))) await this.stop('immediate').catch(() => {})
    rmSync(this.dir, { recursive: true, force: true })
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`
  }

  async createDatabase(name: string): Promise<string> {
    const admin = postgres(this.url(), { max: 1, onnotice: () => {} })
    try {
      await admin.unsafe(`drop database if exists "${name}" with (force)`)
      await admin.unsafe(`create database "${name}"`)
    } finally {
      await admin.end()
    }
    return this.url(name)
  }

  async dropDatabase(name: string): Promise<void> {
    const admin = postgres(this.url(), { max: 1, onnotice: () => {} })
    try {
      await admin.unsafe(`drop database if exists "${name}" with (force)`)
    } finally {
      await admin.end()
    }
  }

  /** The tail of the server's own log (for a failing scenario's report). */
  logTail(lines = 30): string {
    if (!existsSync(this.logFile)) return ''
    return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n')
  }

  private async waitReady(): Promise<void> {
    await waitFor(
      `PostgreSQL on port ${this.port} to accept queries`,
      async () => {
        const probe = postgres(this.url(), { max: 1, onnotice: () => {}, connect_timeout: 2 })
        try {
          await probe`select 1`
          return true
        } finally {
          await probe.end({ timeout: 1 })
        }
      },
      { timeoutMs: 60_000, everyMs: 200 },
    )
  }
}

async function asPostgres(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run('runuser', ['-u', 'postgres', '--', command, ...args], { timeout: 120_000 })
    return stdout
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string }
    throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`)
  }
}

async function uid(user: string, fallback: number): Promise<number> {
  try {
    return Number((await run('id', ['-u', user])).stdout.trim())
  } catch {
    return fallback
  }
}

async function gid(user: string, fallback: number): Promise<number> {
  try {
    return Number((await run('id', ['-g', user])).stdout.trim())
  } catch {
    return fallback
  }
}
