import { idleInTransactionTimeoutMs, type Sql } from './database.js'

/**
 * Every fixed advisory lock key of the service, in one place so that no two purposes share a key.
 * (Per-tenant and per-login locks hash a prefixed name with `hashtextextended` into the 64-bit space.)
 */
export const advisoryLockKeys = {
  /** Schema changes between processes starting together. */
  schema: 7_412_001,
  /** Every event append: appends commit one at a time, in position order (src/store/postgres-event-store.ts). */
  eventAppend: 7_412_002,
  /** Only one of several starting processes creates the first operator. */
  bootstrapAdmin: 7_412_003,
  /** Demo and benchmark seeding. */
  demoSeed: 7_412_004,
  /** Changes to operators, one at a time: who still holds `platform.operators.manage` is counted under it. */
  operatorChanges: 7_412_005,
  /** Held, on a connection of its own, by the worker process that runs the dispatcher, planner and verifier. */
  followersLeader: 7_412_006,
} as const

/** Held by the transaction that repairs a tenant: two runs never repair one tenant at once (SPEC §3). */
export function tenantRepairLockName(tenantId: number): string {
  return `tenant-repair:${tenantId}`
}

/**
 * Held shared by every repair transaction of a run: whoever takes it exclusively (with a try) knows that
 * no repair of the run is in flight — how a cancelled run learns its in-flight repairs are all recorded.
 */
export function runRepairsLockName(runId: string): string {
  return `run-repairs:${runId}`
}

/** Held while a run's plan is counted: of the planners of several worker processes, one scans a run at a time. */
export function runPlanLockName(runId: string): string {
  return `run-plan:${runId}`
}

/** Held while a completed run is verified: of the verifiers of several worker processes, one scans it. */
export function runVerifyLockName(runId: string): string {
  return `run-verify:${runId}`
}

/** Slot `k` of a run's `maxConcurrency` slots: a repair holds one for its transaction (SPEC §9 limits). */
export function runSlotLockPrefix(runId: string): string {
  return `run-slot:${runId}:`
}

/**
 * `work` while this process holds the named lock (waiting for whoever holds it first), or without it when
 * `locked` is false. The lock is held by a transaction of its own while `work` runs on the pool's other
 * connections; a process that dies lets go of it with its connection. The embedded database (one
 * connection) takes none: its single connection would be held from the work.
 *
 * The holding transaction sends nothing while `work` runs (a plan's or a verification's scan of every
 * tenant: minutes for a large run), so it tells the server it is alive every third of the connection's idle
 * bound (`idle_in_transaction_session_timeout`, see IDLE_IN_TRANSACTION_MS): the bound then ends it only
 * when this process stops (frozen, cut off), and frees the lock for another.
 */
export function whileHolding<T>(sql: Sql, lockName: string, locked: boolean, work: () => Promise<T>): Promise<T> {
  if (!locked) return work()
  return sql.begin(async (tx) => {
    const [held] = await tx<Array<{ idle_bound_ms: string }>>`
      select pg_advisory_xact_lock(hashtextextended(${lockName}, 0)), ${idleInTransactionTimeoutMs(tx)} as idle_bound_ms`
    const boundMs = Number(held!.idle_bound_ms)
    const alive = boundMs > 0 ? setInterval(() => void tx`select 1`.catch(() => {}), Math.max(1, Math.floor(boundMs / 3))) : null
    try {
      return await work()
    } finally {
      if (alive) clearInterval(alive)
    }
  }) as Promise<T>
}
