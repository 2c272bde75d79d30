/**
 * CPU time by process, from /proc: where a run's CPU goes on this machine (the service, PostgreSQL, NATS,
 * the bench itself). On 2 cores a run that keeps both busy is bound by the sum, whichever process spends
 * it; comparing the sums of the end to end and of its floor says what the service adds per tenant.
 *
 * PostgreSQL is every process named `postgres`, each with its reaped children's time: the postmaster's
 * children's time holds the backends that exited meanwhile, so a backend that lives through part of the
 * interval is counted once, live or reaped. Only Linux; elsewhere every figure is null.
 */
import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second of /proc's times (`getconf CLK_TCK`: 100 on Linux). */
const TICKS_PER_SECOND = 100

export interface CpuSample {
  /** CPU seconds so far, by group. */
  seconds: Record<string, number>
  at: number
}

/** utime + stime + cutime + cstime of `pid`, in seconds; null once it is gone. */
function processSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name is in parentheses and may hold spaces: the fields start after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14–17 of proc(5) (utime, stime, cutime, cstime), here offset by the two before the name's end.
    const ticks = [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index]), 0)
    return ticks / TICKS_PER_SECOND
  } catch {
    return null
  }
}

function commandOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return null
  }
}

/** The CPU seconds of each group: `postgres` and `nats-server` by command name, and the pids named in `own`. */
export function sampleCpu(own: Record<string, number | undefined> = {}): CpuSample {
  const seconds: Record<string, number> = { postgresql: 0, nats: 0 }
  let pids: number[] = []
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number)
  } catch {
    return { seconds: {}, at: performance.now() }
  }
  for (const pid of pids) {
    const command = commandOf(pid)
    const group = command === 'postgres' ? 'postgresql' : command === 'nats-server' ? 'nats' : null
    if (!group) continue
    seconds[group]! += processSeconds(pid) ?? 0
  }
  for (const [name, pid] of Object.entries(own)) {
    if (pid !== undefined) seconds[name] = processSeconds(pid) ?? 0
  }
  seconds.bench = (process.cpuUsage().user + process.cpuUsage().system) / 1e6
  return { seconds, at: performance.now() }
}

export interface CpuSpent {
  /** CPU seconds spent between the two samples, by group. */
  seconds: Record<string, number>
  wallSeconds: number
  total: number
}

export function cpuBetween(before: CpuSample, after: CpuSample): CpuSpent {
  const seconds: Record<string, number> = {}
  for (const [name, value] of Object.entries(after.seconds)) {
    if (name in before.seconds) seconds[name] = Math.max(0, value - before.seconds[name]!)
  }
  const total = Object.values(seconds).reduce((sum, value) => sum + value, 0)
  return { seconds, wallSeconds: (after.at - before.at) / 1000, total }
}

/** "service 3.1 s, postgresql 4.0 s, nats 0.3 s, bench 0.1 s = 7.5 CPU-s in 4.2 s (1.8 of 2 cores)" */
export function formatCpu(spent: CpuSpent, cores: number): string {
  const parts = Object.entries(spent.seconds)
    .filter(([, value]) => value >= 0.005)
    .map(([name, value]) => `${name} ${value.toFixed(2)} s`)
  return `${parts.join(', ')} = ${spent.total.toFixed(2)} CPU-s in ${spent.wallSeconds.toFixed(2)} s (${(spent.total / spent.wallSeconds).toFixed(2)} of ${cores} cores busy)`
}
