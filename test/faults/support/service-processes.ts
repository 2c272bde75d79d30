import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync, createWriteStream, existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { sparePort, waitFor } from './ports.js'

export const REPO_ROOT = resolve(import.meta.dirname, '../../..')

export type Role = 'api' | 'worker' | 'projector' | 'all'

export interface ServiceEnvironment {
  /** Where each process's log file goes. */
  dir: string
  databaseUrl: string
  natsUrl: string
  natsStream: string
  adminEmail: string
  adminPassword: string
  /** Anything else (WORKER_CONCURRENCY, JOB_ACK_WAIT_MS, ...): overrides the defaults below. */
  env?: Record<string, string>
}

interface ManagedProcess {
  name: string
  role: Role
  port: number
  logFile: string
  child: ChildProcess | null
  exited: Promise<number | null>
  command: 'node' | 'npm'
}

/** Variables of the service that must not leak from the test runner's own environment. */
const SERVICE_VARIABLES = [
  'PORT', 'HOST', 'ROLE', 'DATABASE_URL', 'DATA_DIR', 'EVENTSTORE_URL', 'NATS_URL', 'NATS_STREAM', 'OPS_DEMO_SEED',
  'OPS_BOOTSTRAP_ADMIN_EMAIL', 'OPS_BOOTSTRAP_ADMIN_PASSWORD', 'PUBLIC_URL', 'TRUST_PROXY_HOPS', 'WORKER_CONCURRENCY',
  'WORKER_CAPACITY', 'TOKEN_TTL_SECONDS', 'RECONCILER_STALE_AFTER_MS', 'RECONCILER_INTERVAL_MS', 'LOG_LEVEL',
  'JOB_ACK_WAIT_MS', 'SHUTDOWN_TIMEOUT_MS', 'NODE_OPTIONS', 'VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID', 'TEST',
]

/**
 * The service's roles as separate OS processes (`node dist/main.js`, as in production, with ROLE=...), each on a
 * spare port of its own (workers and the projector answer /health too) and each writing stdout and stderr
 * to `<dir>/<name>.log` (appended across restarts, with a header per start).
 */
export class ServiceProcesses {
  private readonly processes = new Map<string, ManagedProcess>()

  constructor(private readonly settings: ServiceEnvironment) {}

  environment(role: Role, port: number): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env }
    for (const name of SERVICE_VARIABLES) delete env[name]
    // The runner's NODE_OPTIONS are not the services'; FAULT_SERVICE_NODE_OPTIONS are (e.g. a --require that
    // reports where an unhandled rejection's promise was made).
    if (process.env.FAULT_SERVICE_NODE_OPTIONS) env.NODE_OPTIONS = process.env.FAULT_SERVICE_NODE_OPTIONS
    return {
      ...env,
      ROLE: role,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: this.settings.databaseUrl,
      NATS_URL: this.settings.natsUrl,
      NATS_STREAM: this.settings.natsStream,
      OPS_BOOTSTRAP_ADMIN_EMAIL: this.settings.adminEmail,
      OPS_BOOTSTRAP_ADMIN_PASSWORD: this.settings.adminPassword,
      OPS_DEMO_SEED: 'false',
      LOG_LEVEL: 'warn',
      WORKER_CONCURRENCY: '2',
      WORKER_CAPACITY: '4',
      RECONCILER_INTERVAL_MS: '1000',
      RECONCILER_STALE_AFTER_MS: '5000',
      JOB_ACK_WAIT_MS: '3000',
      SHUTDOWN_TIMEOUT_MS: '5000',
      DATA_DIR: join(this.settings.dir, 'data'),
      ...this.settings.env,
    }
  }

  /** Spawns `name` with ROLE=role (`node dist/main.js`; `npm start` when command is 'npm'). */
  async start(name: string, role: Role, options: { command?: 'node' | 'npm'; port?: number } = {}): Promise<void> {
    const existing = this.processes.get(name)
    if (existing?.child) throw new Error(`${name} is already running (pid ${existing.child.pid})`)
    const port = options.port ?? existing?.port ?? (await sparePort())
    const managed: ManagedProcess = existing ?? {
      name,
      role,
      port,
      logFile: join(this.settings.dir, `${name}.log`),
      child: null,
      exited: Promise.resolve(null),
      command: options.command ?? 'node',
    }
    managed.port = port
    if (options.command) managed.command = options.command
    this.processes.set(name, managed)
    this.spawn(managed)
  }

  private spawn(managed: ManagedProcess): void {
    appendFileSync(managed.logFile, `\n===== ${new Date().toISOString()} start ${managed.name} (ROLE=${managed.role}, PORT=${managed.port}, ${managed.command})\n`)
    const log = createWriteStream(managed.logFile, { flags: 'a' })
    const [command, args] =
      managed.command === 'npm' ? ['npm', ['start']] : [process.execPath, ['dist/main.js']]
    const child = spawn(command as string, args as string[], {
      cwd: REPO_ROOT,
      env: this.environment(managed.role, managed.port),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout!.pipe(log, { end: false })
    child.stderr!.pipe(log, { end: false })
    managed.child = child
    managed.exited = new Promise((resolveExit) =>
      child.once('exit', (code, signal) => {
        appendFileSync(managed.logFile, `\n===== ${new Date().toISOString()} ${managed.name} exited (code ${code}, signal ${signal})\n`)
        if (managed.child === child) managed.child = null
        resolveExit(code)
      }),
    )
  }

  get(name: string): ManagedProcess {
    const managed = this.processes.get(name)
    if (!managed) throw new Error(`no process named ${name}`)
    return managed
  }

  names(): string[] {
    return [...this.processes.keys()]
  }

  pid(name: string): number | undefined {
    return this.get(name).child?.pid
  }

  running(name: string): boolean {
    return this.get(name).child !== null
  }

  baseUrl(name = 'api'): string {
    return `http://127.0.0.1:${this.get(name).port}`
  }

  /** Sends `signal` to the process and waits until it has exited (SIGKILL: at once). */
  async kill(name: string, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL', timeoutMs = 30_000): Promise<void> {
    const managed = this.get(name)
    if (!managed.child) return
    managed.child.kill(signal)
    const exited = await Promise.race([managed.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), timeoutMs))])
    if (!exited) throw new Error(`${name} did not exit within ${timeoutMs} ms of ${signal}`)
  }

  /** Freezes the process (SIGSTOP: alive, its sockets open, answering nothing) or thaws it (SIGCONT). */
  freeze(name: string, frozen: boolean): void {
    const managed = this.get(name)
    if (!managed.child) throw new Error(`${name} is not running`)
    managed.child.kill(frozen ? 'SIGSTOP' : 'SIGCONT')
  }

  /** Starts the process again with the same role, port and log file (SIGKILL first if it still runs). */
  async restart(name: string): Promise<void> {
    const managed = this.get(name)
    if (managed.child) await this.kill(name, 'SIGKILL')
    this.spawn(managed)
  }

  /** Polls GET /health until it answers 200 (the process reaches its dependencies and serves). */
  async waitHealthy(name: string, timeoutMs = 60_000): Promise<void> {
    const managed = this.get(name)
    await waitFor(
      `${name} (port ${managed.port}) to answer /health 200`,
      async () => {
        if (!managed.child) throw new Error(`${name} is not running (see ${managed.logFile})`)
        const response = await fetch(`http://127.0.0.1:${managed.port}/health`, { signal: AbortSignal.timeout(2_000) })
        await response.body?.cancel()
        return response.status === 200
      },
      { timeoutMs, everyMs: 250 },
    )
  }

  logTail(name: string, lines = 40): string {
    const file = this.get(name).logFile
    if (!existsSync(file)) return ''
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')
  }

  /** Every process's log tail, for a failing scenario's report. */
  logTails(lines = 40): string {
    return this.names()
      .map((name) => `----- ${name} (${this.get(name).logFile}) -----\n${this.logTail(name, lines)}`)
      .join('\n')
  }

  /** SIGKILL to every process still running and to its descendants (`npm start`'s children), by pid. */
  async killAll(): Promise<void> {
    for (const name of this.names()) {
      const pid = this.pid(name)
      if (pid === undefined) continue
      for (const child of descendants(pid)) killPid(child)
    }
    await Promise.all(this.names().map((name) => this.kill(name, 'SIGKILL').catch(() => {})))
  }
}

/** Every descendant pid of `pid` (children, grandchildren, ...), read from /proc. */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>()
  for (const entry of readdirSafe('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      parentOf.set(Number(entry), Number(fields[1]))
    } catch {
      // the process ended while we looked
    }
  }
  const found: number[] = []
  const queue = [pid]
  while (queue.length > 0) {
    const parent = queue.shift()!
    for (const [child, ppid] of parentOf) {
      if (ppid === parent && !found.includes(child)) {
        found.push(child)
        queue.push(child)
      }
    }
  }
  return found
}

/** True while /proc/<pid> exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
  } catch {
    return '?'
  }
}

function readdirSafe(path: string): string[] {
  try {
    return readdirSync(path)
  } catch {
    return []
  }
}

/** SIGKILL to one pid (one we spawned or a descendant of one), ignoring one already gone. */
export function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

/**
 * True when one of `pids` holds the TCP socket listening on 127.0.0.1/0.0.0.0:`port` (from /proc/net/tcp
 * and each pid's file descriptors): tells the process that serves a port from an orphan still holding it.
 */
export function listensOn(pids: number[], port: number): boolean {
  const listening = new Set(tcpSockets().filter((socket) => socket.localPort === port && socket.state === LISTEN).map((socket) => socket.inode))
  return pids.some((pid) => [...socketInodesOf(pid)].some((inode) => listening.has(inode)))
}

/** The local ports of a process's TCP sockets: the client ports of its connections (PostgreSQL's `client_port`). */
export function localPortsOf(pid: number): number[] {
  const inodes = socketInodesOf(pid)
  return tcpSockets().filter((socket) => inodes.has(socket.inode)).map((socket) => socket.localPort)
}

/** /proc/net/tcp's state of a listening socket. */
const LISTEN = '0A'

/** Every TCP socket of the machine (IPv4 and IPv6): its local port, state and inode. */
function tcpSockets(): Array<{ localPort: number; state: string; inode: string }> {
  const sockets: Array<{ localPort: number; state: string; inode: string }> = []
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 10) continue
      sockets.push({ localPort: parseInt(fields[1]!.split(':')[1]!, 16), state: fields[3]!, inode: fields[9]! })
    }
  }
  return sockets
}

/** The inodes of the sockets a process has open. */
function socketInodesOf(pid: number): Set<string> {
  const inodes = new Set<string>()
  for (const fd of readdirSafe(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (match) inodes.add(match[1]!)
    } catch {
      // closed meanwhile
    }
  }
  return inodes
}
