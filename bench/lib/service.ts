/**
 * The service as its container runs it: `node <compiled>/main.js` (node spawned directly, not npm, so the
 * pid is the service's own and its VmHWM its peak RSS), configured by environment only, driven over HTTP
 * on loopback.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createServer } from 'node:net'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { connect as natsConnect } from 'nats'
import { natsUrl, repoRoot, runTimeoutMs, RUNBOOK, benchTag } from './env.js'
import { register, type Registration } from './cleanup.js'
import { sleep } from './stats.js'

/** A port nobody listens on right now (loopback). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** Peak resident set (VmHWM) of a live process, MiB; null once it is gone. */
export function vmHwmMib(pid: number): number | null {
  return statusMib(pid, 'VmHWM')
}

/** A size line of a live process's /proc status (VmHWM, VmRSS), MiB; null once it is gone. */
function statusMib(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1]
    return kb ? Number(kb) / 1024 : null
  } catch {
    return null
  }
}

/** Variables of the bench's own environment a child must not inherit (it gets exactly what it is given). */
const SERVICE_VARIABLES = [
  'DATABASE_URL', 'NATS_URL', 'NATS_STREAM', 'EVENTSTORE_URL', 'PORT', 'HOST', 'ROLE', 'DATA_DIR', 'OPS_DEMO_SEED',
  'OPS_BOOTSTRAP_ADMIN_EMAIL', 'OPS_BOOTSTRAP_ADMIN_PASSWORD', 'WORKER_CONCURRENCY', 'WORKER_CAPACITY', 'LOG_LEVEL',
  'PUBLIC_URL', 'NODE_OPTIONS',
]

let compiled: Promise<string> | null = null

/**
 * The service as its container runs it (Dockerfile: `node dist/main.js`): compiled once per bench run
 * into a folder of the repository (so that its imports find node_modules), removed at the end. Under
 * `node --import tsx` the same code carries tsx's loader, a second V8 isolate of ~45 MiB, into every
 * RSS figure.
 */
export function compiledService(): Promise<string> {
  compiled ??= (async () => {
    const outDir = `.bench-build-${benchTag}`
    register(`compiled service ${outDir}`, () => rmSync(join(repoRoot, outDir), { recursive: true, force: true }))
    await promisify(execFile)(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir], {
      cwd: repoRoot,
    })
    return `${outDir}/main.js`
  })()
  return compiled
}

export interface ChildOptions {
  label: string
  /** Relative to the repository: a `.js` file run by `node` (see `compiledService`), a `.ts` one by `node --import tsx`. */
  entry: string
  env: Record<string, string>
  port: number
  /** Node flags of this service (before BENCH_SERVICE_NODE_ARGS). */
  nodeArgs?: readonly string[]
}

/**
 * The node flags `npm start` runs the compiled service with (package.json's `start` script: `… && exec node
 * [flags] dist/main.js`): the embedded part runs the bench's own build of the same sources with them, i.e.
 * what `npm start` runs.
 */
export function npmStartNodeFlags(): string[] {
  const start = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
  const flags = /\bexec node ((?:--[\w-]+(?:=\S+)? )*)dist\/main\.js$/.exec(start)
  if (!flags) throw new Error(`package.json's start script does not end "exec node [flags] dist/main.js": ${start}`)
  return flags[1]!.split(' ').filter(Boolean)
}

export class ChildService {
  readonly url: string
  private readonly child: ChildProcess
  private readonly tail: string[] = []
  private exited: { code: number | null; signal: string | null } | null = null
  private readonly exitPromise: Promise<void>
  private peak = 0
  private readonly sampler: NodeJS.Timeout
  private readonly registration: Registration | undefined

  constructor(readonly options: ChildOptions) {
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !SERVICE_VARIABLES.includes(key)) env[key] = value
    Object.assign(env, options.env, { PORT: String(options.port), HOST: '127.0.0.1' })
    this.url = `http://127.0.0.1:${options.port}`
    // BENCH_SERVICE_NODE_ARGS: node flags for the service (`--cpu-prof --cpu-prof-dir=…` to profile it;
    // node refuses them in NODE_OPTIONS).
    const nodeArgs = [...(options.nodeArgs ?? []), ...(process.env.BENCH_SERVICE_NODE_ARGS?.split(' ').filter(Boolean) ?? [])]
    const args = [...nodeArgs, ...(options.entry.endsWith('.js') ? [options.entry] : ['--import', 'tsx', options.entry])]
    this.child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) this.tail.push(line)
      if (this.tail.length > 40) this.tail.splice(0, this.tail.length - 40)
    }
    this.child.stdout!.on('data', keep)
    this.child.stderr!.on('data', keep)
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = { code, signal }
        resolve()
      })
    })
    // VmHWM only grows: sampling keeps the last value seen should the process die before it is read at stop.
    this.sampler = setInterval(() => this.samplePeak(), 250)
    this.registration = register(`process ${options.label} (${this.child.pid})`, () => this.stop())
  }

  get pid(): number {
    return this.child.pid!
  }

  private samplePeak(): void {
    const now = vmHwmMib(this.pid)
    if (now !== null) this.peak = Math.max(this.peak, now)
  }

  /** Its resident set now, MiB (0 once it is gone). */
  rssMib(): number {
    return statusMib(this.pid, 'VmRSS') ?? 0
  }

  /** Peak RSS of the process since it started or since `restartPeak`, MiB. */
  peakRssMib(): number {
    if (!this.exited) this.samplePeak()
    return this.peak
  }

  /**
   * Starts measuring the peak afresh (Linux: writing 5 to clear_refs resets VmHWM) and returns the peak
   * so far: the peak of a run, not of what came before it — a login's scrypt alone holds 128 MiB for
   * 0.4 s (src/auth/password-hash.ts), which is no measure of a run.
   */
  restartPeak(): number {
    const before = this.peakRssMib()
    writeFileSync(`/proc/${this.pid}/clear_refs`, '5')
    this.peak = 0
    this.samplePeak()
    return before
  }

  /** The last lines it wrote (for a failure report). */
  output(): string {
    return this.tail.map((line) => `    | ${line}`).join('\n')
  }

  /** Throws when the process has exited (it should be serving). */
  assertAlive(): void {
    if (this.exited) throw new Error(`${this.options.label} exited (${JSON.stringify(this.exited)}):\n${this.output()}`)
  }

  /** Resolves once GET /health answers 200; throws when the process exits first or after `timeoutMs`. */
  async waitHealthy(timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${this.options.label} exited (${JSON.stringify(this.exited)}) before it was healthy:\n${this.output()}`)
      try {
        const answer = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2_000) })
        if (answer.status === 200) return
      } catch {
        // not listening yet
      }
      await sleep(100)
    }
    throw new Error(`${this.options.label} not healthy after ${timeoutMs} ms:\n${this.output()}`)
  }

  /** SIGTERM (graceful shutdown), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    clearInterval(this.sampler)
    this.registration?.release()
    if (this.exited) return
    this.samplePeak()
    this.child.kill('SIGTERM')
    const killed = await Promise.race([this.exitPromise.then(() => false), sleep(15_000).then(() => true)])
    if (killed && !this.exited) {
      this.child.kill('SIGKILL')
      await this.exitPromise
    }
  }
}

/** A unique JetStream stream name for one deployment; deleted (with its consumers) by the returned undo. */
export function natsStream(label: string): { name: string; remove: () => Promise<void> } {
  const name = `BENCH_${benchTag}_${label}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64)
  const registration = register(`NATS stream ${name}`, () => deleteStream(name))
  return { name, remove: () => registration.run() }
}

async function deleteStream(name: string): Promise<void> {
  const nc = await natsConnect({ servers: natsUrl })
  try {
    const jsm = await nc.jetstreamManager()
    await jsm.streams.delete(name).catch((error: Error) => {
      if (!/not found/i.test(error.message)) throw error
    })
  } finally {
    await nc.close()
  }
}

export const ADMIN_EMAIL = 'bench-admin@bench.local'
export const ADMIN_PASSWORD = `bench-${randomBytes(12).toString('hex')}`

/** The environment every service child shares (LOG_LEVEL=warn, no demo seed, a bootstrap operator). */
export function serviceEnv(extra: Record<string, string>): Record<string, string> {
  return {
    LOG_LEVEL: 'warn',
    OPS_DEMO_SEED: 'false',
    OPS_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
    OPS_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    SHUTDOWN_TIMEOUT_MS: '10000',
    ...extra,
  }
}

/** The service (compiled) on PostgreSQL + NATS JetStream, with DATABASE_URL, NATS_URL, … */
export async function startPostgresService(options: {
  label: string
  databaseUrl: string
  stream: string
  env?: Record<string, string>
  waitHealthy?: boolean
}): Promise<ChildService> {
  const service = new ChildService({
    label: options.label,
    entry: await compiledService(),
    port: await freePort(),
    env: serviceEnv({ DATABASE_URL: options.databaseUrl, NATS_URL: natsUrl, NATS_STREAM: options.stream, ...options.env }),
  })
  try {
    if (options.waitHealthy !== false) await service.waitHealthy()
  } catch (error) {
    await service.stop()
    throw error
  }
  return service
}

export class HttpError extends Error {}

async function call<T>(url: string, init: RequestInit & { token?: string }, expected: number[]): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (init.token) headers.authorization = `Bearer ${init.token}`
  const answer = await fetch(url, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(120_000) })
  const text = await answer.text()
  if (!expected.includes(answer.status)) throw new HttpError(`${init.method ?? 'GET'} ${url}: ${answer.status} ${text.slice(0, 500)}`)
  return (text ? JSON.parse(text) : null) as T
}

/** POST /api/auth/tokens as the bootstrap operator. */
export async function getToken(baseUrl: string): Promise<string> {
  const { token } = await call<{ token: string }>(
    `${baseUrl}/api/auth/tokens`,
    { method: 'POST', body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }) },
    [201],
  )
  return token
}

export interface RunView {
  id: string
  status: string
  outcome: string
  summaryCounts: Record<string, number>
}

/** POST /api/runbooks/{key}/runs, all tenants, typed confirmation and a reason (SPEC §3, §7). */
export async function startAllTenantsRun(
  baseUrl: string,
  token: string,
  options: { runbook?: string; reason?: string; limits?: { maxConcurrency?: number } } = {},
): Promise<{ runId: string; answerMs: number }> {
  const runbook = options.runbook ?? RUNBOOK
  const started = performance.now()
  const { runId } = await call<{ runId: string }>(
    `${baseUrl}/api/runbooks/${runbook}/runs`,
    {
      method: 'POST',
      token,
      body: JSON.stringify({
        scope: 'all_tenants',
        confirmation: runbook,
        reason: { code: 'DATA_REPAIR', text: options.reason ?? 'benchmark of the all-tenants backfill' },
        source: 'api',
        ...(options.limits ? { limits: options.limits } : {}),
      }),
    },
    [202],
  )
  return { runId, answerMs: performance.now() - started }
}

export async function getRun(baseUrl: string, token: string, runId: string): Promise<RunView> {
  return call<RunView>(`${baseUrl}/api/runs/${runId}`, { token }, [200])
}

export class RunTimedOut extends Error {}

/**
 * Polls GET /api/runs/{id} every ~100 ms until `status` is `completed`; each poll's latency goes to
 * `latencies` when given. A run still not completed after BENCH_RUN_TIMEOUT_S is reported failed.
 */
export async function waitForCompletion(
  baseUrl: string,
  token: string,
  runId: string,
  options: { latencies?: number[]; timeoutMs?: number; alive?: () => void } = {},
): Promise<RunView> {
  const deadline = Date.now() + (options.timeoutMs ?? runTimeoutMs)
  for (;;) {
    options.alive?.()
    const began = performance.now()
    const run = await getRun(baseUrl, token, runId)
    options.latencies?.push(performance.now() - began)
    if (run.status === 'completed') return run
    if (run.status === 'awaiting_approval' || run.status === 'paused') {
      throw new Error(`run ${runId} is ${run.status}: the bench cannot go on (approvals or a pause on this deployment?)`)
    }
    if (Date.now() > deadline) {
      throw new RunTimedOut(`run ${runId} not completed after ${Math.round((options.timeoutMs ?? runTimeoutMs) / 1000)} s (status ${run.status}, counts ${JSON.stringify(run.summaryCounts)})`)
    }
    await sleep(100)
  }
}
