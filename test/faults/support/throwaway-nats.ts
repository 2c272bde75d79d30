import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'nats'
import { portOpen, sparePort, waitFor } from './ports.js'

const NATS_SERVER = '/usr/sbin/nats-server'

/**
 * A nats-server with JetStream of the fault suite's own: a child process on a spare port of 127.0.0.1 with
 * its store under a temporary directory. `restart()` and `start()` keep the port and the store directory,
 * so clients reconnect to the same address and find what survived.
 */
export class ThrowawayNats {
  private child: ChildProcess | null = null
  private exited: Promise<void> = Promise.resolve()

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get storeDir(): string {
    return join(this.dir, 'store')
  }

  get logFile(): string {
    return join(this.dir, 'nats-server.log')
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  static async create(): Promise<ThrowawayNats> {
    const dir = mkdtempSync(join(tmpdir(), 'rcp-faults-nats-'))
    const server = new ThrowawayNats(dir, await sparePort())
    await server.start()
    return server
  }

  async start(): Promise<void> {
    if (this.child) throw new Error('nats-server is already running')
    mkdirSync(this.storeDir, { recursive: true })
    const log = createWriteStream(this.logFile, { flags: 'a' })
    const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout!.pipe(log, { end: false })
    child.stderr!.pipe(log, { end: false })
    this.child = child
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        if (this.child === child) this.child = null
        resolve()
      }),
    )
    await waitFor(`nats-server on port ${this.port}`, async () => {
      if (!this.child) throw new Error(`nats-server exited at start; see ${this.logFile}`)
      if (!(await portOpen(this.port))) return false
      // JetStream answers once the server has recovered its store.
      const nc = await connect({ servers: this.url, reconnect: false, timeout: 1_000 })
      try {
        await (await nc.jetstreamManager({ timeout: 1_000 })).getAccountInfo()
        return true
      } finally {
        await nc.close()
      }
    }, { timeoutMs: 30_000, everyMs: 100 })
  }

  /** SIGKILL: the server vanishes without a word, as on a crash. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL')
  }

  /** Graceful stop (SIGTERM), then waits for the process to exit. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM')
  }

  /** Stop and start again on the same port and store directory. */
  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  /** Stop, remove the whole JetStream store (streams, consumers, messages), start: every queue state is lost. */
  async wipeStore(): Promise<void> {
    await this.stop()
    rmSync(this.storeDir, { recursive: true, force: true })
    await this.start()
  }

  async deleteStream(name: string): Promise<boolean> {
    const nc = await connect({ servers: this.url, reconnect: false })
    try {
      return await (await nc.jetstreamManager()).streams.delete(name)
    } finally {
      await nc.close()
    }
  }

  async streamExists(name: string): Promise<boolean> {
    const nc = await connect({ servers: this.url, reconnect: false })
    try {
      await (await nc.jetstreamManager()).streams.info(name)
      return true
    } catch {
      return false
    } finally {
      await nc.close()
    }
  }

  /** Messages the stream holds now and how many were published to it since it was (re)created; null when it does not exist. */
  async streamState(name: string): Promise<{ messages: number; published: number } | null> {
    const nc = await connect({ servers: this.url, reconnect: false })
    try {
      const info = await (await nc.jetstreamManager()).streams.info(name)
      return { messages: info.state.messages, published: info.state.last_seq }
    } catch (error) {
      if (/stream not found/i.test((error as Error).message)) return null
      throw error
    } finally {
      await nc.close()
    }
  }

  /** Jobs the stream's consumers still have to deliver or to see acked (0 when no consumer exists). */
  async unfinishedJobs(stream: string): Promise<number> {
    const nc = await connect({ servers: this.url, reconnect: false })
    try {
      const consumers = await (await nc.jetstreamManager()).consumers.list(stream).next()
      return consumers.reduce((sum, c) => sum + c.num_pending + c.num_ack_pending, 0)
    } catch (error) {
      if (/stream not found/i.test((error as Error).message)) return 0
      throw error
    } finally {
      await nc.close()
    }
  }

  /** The stream's consumers with their counters, for a failure report. */
  async describeConsumers(stream: string): Promise<string> {
    const nc = await connect({ servers: this.url, reconnect: false })
    try {
      const consumers = await (await nc.jetstreamManager()).consumers.list(stream).next()
      return consumers
        .map((c) =>
          `${c.name}: pending ${c.num_pending}, ack pending ${c.num_ack_pending}, redelivered ${c.num_redelivered}, ` +
          `waiting ${c.num_waiting}, delivered stream seq ${c.delivered.stream_seq}, ack floor stream seq ${c.ack_floor.stream_seq}, ` +
          `deliver policy ${c.config.deliver_policy}, created ${c.created}`,
        )
        .join('; ') || 'no consumer'
    } catch (error) {
      return `consumers: ${(error as Error).message}`
    } finally {
      await nc.close()
    }
  }

  async destroy(): Promise<void> {
    if (this.child) await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }

  logTail(lines = 30): string {
    if (!existsSync(this.logFile)) return ''
    return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n')
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child
    if (!child) return
    child.kill(signal)
    await this.exited
    await waitFor(`port ${this.port} to close`, async () => !(await portOpen(this.port)), { timeoutMs: 10_000, everyMs: 50 })
  }
}
