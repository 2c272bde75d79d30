/**
 * CPU time by process, from /proc: where a run's CPU goes on this machine (the service, PostgreSQL, NATS,
 * the bench itself). On 2 cores a run that keeps both busy is bound by the sum, whichever process spends
 * it; comparing the sums of the end to end and of its floor says what the service adds per tenant.
 *
 * PostgreSQL is the bench's server alone: its postmaster (the parent of a backend of the bench's connection)
 * and the postmaster's children, each with its reaped children's time. The postmaster's reaped children's
 * time holds the backends that exited meanwhile, so a backend that lives through part of the interval is
 * counted once, live or reaped (one that exits between the reads of one sample shows in the next). Another
 * cluster on the machine is not counted. Only Linux, and only a server on this machine; else no
 * `postgresql` figure.
 */
import { readdirSync, readFileSync } from 'node:fs'
import postgres from 'postgres'
import { adminUrl } from './env.js'

/** Clock ticks per second of /proc's times (`getconf CLK_TCK`: 100 on Linux). */
const TICKS_PER_SECOND = 100

export interface CpuSample {
  /** CPU seconds so far, by group. */
  seconds: Record<string, number>
  /** The machine's context switches so far (/proc/stat `ctxt`, every process); null where unreadable. */
  contextSwitches: number | null
  at: number
}

/** The machine's context switches since boot (/proc/stat `ctxt`), or null. */
function machineContextSwitches(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((entry) => entry.startsWith('ctxt '))
    return line ? Number(line.slice(5)) : null
  } catch {
    return null
  }
}

/** The fields of /proc/<pid>/stat after the command name (field n of proc(5) is index n − 3); null once it is gone. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name is in parentheses and may hold spaces: the fields start after its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/** utime + stime + cutime + cstime of `pid` (fields 14–17), in seconds; null once it is gone. */
function processSeconds(pid: number): number | null {
  const fields = statFields(pid)
  if (!fields) return null
  return [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index]), 0) / TICKS_PER_SECOND
}

function parentOf(pid: number): number | null {
  const fields = statFields(pid)
  return fields ? Number(fields[1]) : null
}

function commandOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return null
  }
}

let postmaster: Promise<number | null> | null = null

/** The pid of the bench's PostgreSQL postmaster, when it runs on this machine (else null). */
export function benchPostmaster(): Promise<number | null> {
  postmaster ??= (async () => {
    const sql = postgres(adminUrl, { max: 1, onnotice: () => {} })
    try {
      const [row] = await sql<Array<{ pid: number }>>`select pg_backend_pid() as pid`
      const parent = parentOf(row!.pid)
      return parent !== null && commandOf(parent) === 'postgres' ? parent : null
    } catch {
      return null
    } finally {
      await sql.end({ timeout: 5 })
    }
  })()
  return postmaster
}

/**
 * The CPU seconds of each group: `postgresql` (the postmaster `postmasterPid` and its children, when given),
 * `nats` (every `nats-server`), the pids named in `own`, and `bench` (this process).
 */
export function sampleCpu(postmasterPid: number | null, own: Record<string, number | undefined> = {}): CpuSample {
  const seconds: Record<string, number> = { nats: 0 }
  let pids: number[] = []
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number)
  } catch {
    return { seconds: {}, contextSwitches: null, at: performance.now() }
  }
  if (postmasterPid !== null) seconds.postgresql = processSeconds(postmasterPid) ?? 0
  for (const pid of pids) {
    const command = commandOf(pid)
    if (command === 'nats-server') seconds.nats! += processSeconds(pid) ?? 0
    else if (postmasterPid !== null && command === 'postgres' && parentOf(pid) === postmasterPid) seconds.postgresql! += processSeconds(pid) ?? 0
  }
  for (const [name, pid] of Object.entries(own)) {
    if (pid !== undefined) seconds[name] = processSeconds(pid) ?? 0
  }
  const usage = process.cpuUsage()
  seconds.bench = (usage.user + usage.system) / 1e6
  return { seconds, contextSwitches: machineContextSwitches(), at: performance.now() }
}

export interface CpuSpent {
  /** CPU seconds spent between the two samples, by group. */
  seconds: Record<string, number>
  wallSeconds: number
  total: number
  /** Context switches of the whole machine between the two samples (null where unreadable). */
  contextSwitches: number | null
}

export function cpuBetween(before: CpuSample, after: CpuSample): CpuSpent {
  const seconds: Record<string, number> = {}
  for (const [name, value] of Object.entries(after.seconds)) {
    if (name in before.seconds) seconds[name] = Math.max(0, value - before.seconds[name]!)
  }
  const total = Object.values(seconds).reduce((sum, value) => sum + value, 0)
  const contextSwitches = before.contextSwitches !== null && after.contextSwitches !== null ? after.contextSwitches - before.contextSwitches : null
  return { seconds, wallSeconds: (after.at - before.at) / 1000, total, contextSwitches }
}

/** "service 3.1 s, postgresql 4.0 s, nats 0.3 s, bench 0.1 s = 7.5 CPU-s in 4.2 s (1.8 of 2 cores)" */
export function formatCpu(spent: CpuSpent, cores: number): string {
  const parts = Object.entries(spent.seconds)
    .filter(([, value]) => value >= 0.005)
    .map(([name, value]) => `${name} ${value.toFixed(2)} s`)
  return `${parts.join(', ')} = ${spent.total.toFixed(2)} CPU-s in ${spent.wallSeconds.toFixed(2)} s (${(spent.total / spent.wallSeconds).toFixed(2)} of ${cores} cores busy)`
}
