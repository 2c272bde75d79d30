/**
 * The fault suite (`npm run test:faults`; what each scenario does and asserts: docs/reliability.md).
 *
 * Every scenario seeds its own database on a PostgreSQL cluster of the suite's own, starts the service's
 * roles as separate OS processes (api, two workers, projector) with a NATS stream of its own on a
 * nats-server of the suite's own, starts an all-tenants run over the HTTP API, injects one fault mid-run,
 * and asserts, with nobody stepping in: the run completes `succeeded`; exactly one TenantProcessed per
 * targeted tenant; every finding equals the reference repair (test/runbooks/lifecycle-reference.ts); the
 * run's read model has the right counts; every process not deliberately killed is still alive and healthy.
 */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { advisoryLockKeys } from '../../src/db/advisory-locks.js'
import { rebuiltReadModelTables } from '../../src/projections/read-model-projections.js'
import { FaultScenario, faultLine, recordFinding, type FaultResult, type ScenarioOptions } from './support/fault-scenario.js'
import { delay, waitFor } from './support/ports.js'
import { alive, commandLine, descendants, killPid, listensOn, localPortsOf, REPO_ROOT } from './support/service-processes.js'
import { writeReliabilityTable } from './support/reliability-report.js'
import { ThrowawayNats } from './support/throwaway-nats.js'
import { ThrowawayPostgres } from './support/throwaway-postgres.js'

const SCENARIOS = [
  'kill-one-worker',
  'kill-all-workers',
  'kill-projector',
  'kill-api',
  'restart-nats',
  'kill-nats',
  'delete-stream',
  'wipe-nats-store',
  'restart-postgres-fast',
  'restart-postgres-immediate',
  'lock-tenant-rows',
  'contending-runs',
  'sigterm-npm-start',
  'rebuild-projections',
]

let pg: ThrowawayPostgres
let nats: ThrowawayNats
const results: FaultResult[] = []

beforeAll(async () => {
  ;[pg, nats] = await Promise.all([ThrowawayPostgres.create(), ThrowawayNats.create()])
})

afterAll(async () => {
  writeReliabilityTable(results, SCENARIOS)
  console.log(results.map(faultLine).join('\n'))
  await Promise.all([nats?.destroy(), pg?.destroy()])
})

interface Injected {
  /** The runs the scenario checks (each: completed, succeeded, one TenantProcessed per tenant). */
  runIds: string[]
  /** Processes the scenario killed on purpose and left down. */
  leftDown?: string[]
  /** Further failures the scenario found itself. */
  failures?: string[]
  /** Checks once the runs completed; returns failures. */
  after?: (runs: any[]) => Promise<string[]>
  /** Where the scenario measures recovery its own way (said in docs/reliability.md). */
  recoveryMs?: () => Promise<number | null>
}

/** Sets the scenario up, lets `inject` start the run(s) and the fault, then checks everything and reports. */
async function scenario(name: string, options: ScenarioOptions, inject: (s: FaultScenario) => Promise<Injected>): Promise<void> {
  const s = new FaultScenario(name, pg, nats, options)
  const failures: string[] = []
  const result: FaultResult = { scenario: name, tenants: 0, lost: 0, doubled: 0, mismatches: 0, recoveryMs: null, totalMs: null, passed: false, note: '' }
  try {
    await s.setUp()
    const injected = await inject(s)
    failures.push(...(injected.failures ?? []))
    const runs: any[] = []
    for (const runId of injected.runIds) runs.push(await s.waitCompleted(runId))
    for (const [index, runId] of injected.runIds.entries()) {
      const check = await s.checkRun(runId, runs[index])
      result.tenants += check.targeted.length
      result.lost += check.lost
      result.doubled += check.doubled
      if (check.outcome !== 'succeeded') failures.push(`run ${runId} outcome ${check.outcome}`)
      if (check.lost > 0 || check.doubled > 0) failures.push(`run ${runId}: ${check.lost} tenants lost, ${check.doubled} doubled`)
      if (!check.countsOk) failures.push(`run ${runId}: ${check.countsNote}`)
    }
    const updated = runs.reduce((sum, run) => sum + (run?.summaryCounts?.updated ?? 0), 0)
    if (updated !== s.expectedUpdated()) failures.push(`the runs updated ${updated} findings; the reference changes ${s.expectedUpdated()}`)
    result.mismatches = await s.mismatches()
    if (result.mismatches > 0) failures.push(`${result.mismatches} findings differ from the reference repair`)
    result.recoveryMs = injected.recoveryMs ? await injected.recoveryMs() : await s.recoveryMs(injected.runIds)
    result.totalMs = await s.totalMs(injected.runIds[0]!)
    if (injected.after) failures.push(...(await injected.after(runs)))
    // Lost queue state is rebuilt without a pile of leftovers: once the runs are done the consumer drains
    // (every job left over is delivered and acked), and the stream never took more than 3 jobs per targeted
    // tenant. Messages a kill -9 of nats-server leaves in the stream behind the consumer's ack floor (its
    // unsynced deletes; nobody will deliver them) are reported, not failed.
    if (s.services.names().some((name) => s.services.running(name))) {
      const drained = await waitFor('the job consumer to drain', async () => ((await nats.unfinishedJobs(s.stream)) === 0 ? true : false), {
        timeoutMs: 30_000,
        everyMs: 250,
      }).catch(async () => {
        failures.push(`jobs still unfinished 30 s after the runs completed: ${await nats.describeConsumers(s.stream)}`)
        return false
      })
      const state = await nats.streamState(s.stream)
      if (drained && state) {
        s.note(`stream: ${state.published} jobs published${state.messages > 0 ? `, ${state.messages} stale messages behind the ack floor` : ''}`)
        if (state.published > 3 * result.tenants) failures.push(`${state.published} jobs published for ${result.tenants} tenants (re-dispatch pile-up)`)
      }
    }
    // No process dies of the fault, and each is healthy again by itself.
    for (const processName of s.services.names()) {
      if (injected.leftDown?.includes(processName)) continue
      if (!s.services.running(processName)) {
        failures.push(`${processName} died (not killed by the scenario)`)
        continue
      }
      await s.services.waitHealthy(processName, 30_000).catch((error) => failures.push(`${processName}: ${(error as Error).message}`))
    }
  } catch (error) {
    failures.push((error as Error).message)
  } finally {
    result.passed = failures.length === 0
    result.note = [failures.join('; '), s.notesText()].filter(Boolean).join(' — ')
    results.push(result)
    console.log(faultLine(result) + (s.notesText() ? ` (${s.notesText()})` : ''))
    if (!result.passed) {
      const tails = `${s.services.logTails(30)}\n----- postgres -----\n${pg.logTail(15)}\n----- nats-server -----\n${nats.logTail(15)}`
      console.log(`scenario ${name} failed:\n  ${failures.join('\n  ')}\n${tails}`)
      recordFinding(name, `${faultLine(result)}\n\nFailures:\n${failures.map((f) => `- ${f}`).join('\n')}\n\nLogs (${s.dir}):\n\n\`\`\`\n${tails}\n\`\`\``)
    }
    await s.tearDown(result.passed)
  }
  expect(failures).toEqual([])
}

/** Which of the scenario's processes holds the workers' leader lease (its session names the process's pid), or null. */
async function leaseHolder(s: FaultScenario): Promise<string | null> {
  const rows = await s.withSql((sql) =>
    sql<Array<{ name: string }>>`
      select a.application_name as name from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.classid = 0 and l.objid = ${advisoryLockKeys.followersLeader} and l.objsubid = 1
        and l.database = (select oid from pg_database where datname = current_database())`,
  )
  const pid = Number(/\(pid (\d+)\)$/.exec(rows[0]?.name ?? '')?.[1])
  return s.services.names().find((name) => s.services.pid(name) === pid) ?? (rows[0] ? `an unknown process (${rows[0].name})` : null)
}

/** An all-tenants run, then `fault` once the first tenant of it is processed. */
async function midRun(s: FaultScenario, fault: () => Promise<void>): Promise<string> {
  const runId = await s.startRun()
  await s.waitMidRun(runId)
  await fault()
  return runId
}

describe('fault suite: the service survives each fault without a person', () => {
  it('kill-one-worker: kill -9 the worker that leads (of two) mid-run', async () => {
    // 30 s: the killed worker's in-flight tenants are retried after a short ack wait (JOB_ACK_WAIT_MS=3000), not a minute.
    await scenario('kill-one-worker', { completeWithinMs: 30_000 }, async (s) => {
      // The leader of the dispatcher, planner and verifier (leader-lease.ts) is killed: the other must take over.
      let killed = 'worker-1'
      const runId = await midRun(s, async () => {
        const leader = await leaseHolder(s)
        if (leader === 'worker-2') killed = 'worker-2'
        s.markFault()
        await s.services.kill(killed, 'SIGKILL')
      })
      const survivor = killed === 'worker-1' ? 'worker-2' : 'worker-1'
      return {
        runIds: [runId],
        leftDown: [killed],
        after: async () => {
          const leaderAfter = await leaseHolder(s)
          s.note(`lease: ${killed} (killed) → ${leaderAfter ?? 'nobody'}`)
          return leaderAfter === survivor ? [] : [`the lease is held by ${leaderAfter ?? 'nobody'} after ${killed} was killed, not by ${survivor}`]
        },
        // Recovery here: from the kill to the result of the last of the dead worker's in-flight tenants (their
        // jobs delivered again: attempt > 1); the other worker's progress alone would say nothing.
        recoveryMs: async () => {
          const [row] = await s.withSql((sql) =>
            sql<Array<{ n: number; last: Date | null }>>`
              select count(*)::int as n, max(recorded_at) as last from event_store_events
              where stream_id = ${`run-${runId}`} and type = 'TenantProcessed' and (data->>'attempt')::int > 1
                and recorded_at >= ${new Date(s.faultAt!)}`,
          )
          s.note(`${row!.n} tenants retried after the kill`)
          return row!.last ? row!.last.getTime() - s.faultAt! : s.recoveryMs([runId])
        },
      }
    })
  })

  it('freeze-worker: SIGSTOP one of two workers mid-run and leave it frozen (alive, its connections open)', async () => {
    // A frozen worker holds its repairs' transactions open (the tenants' locks, the run's slots) and perhaps
    // the leader lease: PostgreSQL ends the idle repairs after 60 s and the lease's session after 10 s; the
    // frozen worker's jobs are delivered again to the other one after the ack wait.
    // Big tenants (500 findings each): a worker spends most of its time inside repairs, so a freeze catches one.
    await scenario('freeze-worker', { completeWithinMs: 120_000, findingsPerTenant: 500 }, async (s) => {
      // Its transactions the freeze left open: the frozen worker's connections (told by their client ports)
      // idle inside a transaction for longer than a live worker ever leaves one (it sends the next statement
      // as soon as an answer comes). Told by how long they have been idle, not by when they began: what the
      // worker sent just before the freeze (a repair's BEGIN and first statements go in one write) may begin on
      // the server after it, when the backend gets to read it. Not caught inside a repair, the worker is
      // thawed and frozen again.
      const heldOpen = () =>
        s.withSql(async (sql) => {
          const ports = localPortsOf(s.services.pid('worker-1')!)
          const [row] = await sql<Array<{ n: number }>>`
            select count(*)::int as n from pg_stat_activity
            where datname = current_database() and state = 'idle in transaction' and client_port = any(${ports}::int[])
              and state_change < clock_timestamp() - interval '250 milliseconds'`
          return row!.n
        })
      let held = 0
      let tries = 0
      const runId = await midRun(s, async () => {
        s.markFault()
        for (tries = 1; ; tries++) {
          s.services.freeze('worker-1', true)
          await delay(500)
          held = await heldOpen()
          if (held > 0 || tries >= 20) break
          s.services.freeze('worker-1', false)
          await delay(20)
        }
      })
      s.note(`frozen with ${held} repair transactions left open (try ${tries})`)
      return { runIds: [runId], leftDown: ['worker-1'], failures: held > 0 ? [] : ['the freeze never caught the worker inside a repair'] }
    })
  })

  it('kill-all-workers: kill -9 both workers mid-run, start them again 2 s later', async () => {
    await scenario('kill-all-workers', { completeWithinMs: 30_000 }, async (s) => {
      const runId = await midRun(s, async () => {
        s.markFault()
        await Promise.all([s.services.kill('worker-1', 'SIGKILL'), s.services.kill('worker-2', 'SIGKILL')])
        await delay(2_000) // the outage: no worker at all for 2 s
        s.markFaultEnd()
        await Promise.all([s.services.restart('worker-1'), s.services.restart('worker-2')])
      })
      return { runIds: [runId] }
    })
  })

  it('kill-projector: kill -9 the projector mid-run and start it again', async () => {
    await scenario('kill-projector', {}, async (s) => {
      const runId = await midRun(s, async () => {
        s.markFault()
        await s.services.kill('projector', 'SIGKILL')
        s.markFaultEnd()
        await s.services.restart('projector')
      })
      return { runIds: [runId] }
    })
  })

  it('kill-api: kill -9 the api right after the start is accepted, start it again', async () => {
    await scenario('kill-api', {}, async (s) => {
      const runId = await s.startRun()
      s.markFault()
      await s.services.kill('api', 'SIGKILL')
      s.markFaultEnd()
      await s.services.restart('api')
      await s.services.waitHealthy('api')
      return { runIds: [runId] }
    })
  })

  it('restart-nats: restart nats-server (SIGTERM, same port and store) mid-run', async () => {
    await scenario('restart-nats', {}, async (s) => {
      const runId = await midRun(s, async () => {
        s.markFault()
        await nats.restart()
        s.markFaultEnd()
      })
      return { runIds: [runId] }
    })
  })

  it('kill-nats: kill -9 nats-server mid-run (every process answers /health 503 meanwhile), start it again after 3 s or more', async () => {
    await scenario('kill-nats', {}, async (s) => {
      const failures: string[] = []
      const runId = await midRun(s, async () => {
        s.markFault()
        await nats.kill()
        // While NATS is away every process says so: /health answers 503 (not 200, not a hang).
        await Promise.all(
          s.services.names().map((name) =>
            waitFor(`${name} to answer /health 503 while NATS is down`, async () => {
              const response = await fetch(`${s.services.baseUrl(name)}/health`, { signal: AbortSignal.timeout(3_000) })
              await response.body?.cancel()
              return response.status === 503
            }, { timeoutMs: 10_000, everyMs: 200 }).catch((error) => failures.push((error as Error).message)),
          ),
        )
        const outage = 3_000 - (Date.now() - s.faultAt!)
        if (outage > 0) await delay(outage) // the outage lasts at least 3 s
        await nats.start()
        s.markFaultEnd()
      })
      return { runIds: [runId], failures }
    })
  })

  it('delete-stream: delete the JetStream stream (and its consumer and jobs) mid-run', async () => {
    // Staleness is put out of reach (120 s, the default): only the queue's news that its stream was made again
    // (the reconciler's immediate pass) can bring the lost jobs back within the 30 s.
    await scenario('delete-stream', { env: { RECONCILER_STALE_AFTER_MS: '120000' }, completeWithinMs: 30_000 }, async (s) => {
      const runId = await midRun(s, async () => {
        s.markFault()
        const deleted = await nats.deleteStream(s.stream)
        if (!deleted) throw new Error(`stream ${s.stream} was not deleted`)
      })
      return { runIds: [runId] }
    })
  })

  it("wipe-nats-store: stop nats-server mid-run, delete its whole store, start it", async () => {
    await scenario('wipe-nats-store', { env: { RECONCILER_STALE_AFTER_MS: '120000' }, completeWithinMs: 30_000 }, async (s) => {
      const runId = await midRun(s, async () => {
        s.markFault()
        await nats.wipeStore()
        s.markFaultEnd()
      })
      return { runIds: [runId] }
    })
  })

  it('restart-postgres-fast: pg_ctl restart -m fast mid-run', async () => {
    await scenario('restart-postgres-fast', {}, async (s) => {
      const runId = await midRun(s, async () => {
        s.markFault()
        await pg.restart('fast')
        s.markFaultEnd()
      })
      return { runIds: [runId] }
    })
  })

  it('restart-postgres-immediate: pg_ctl restart -m immediate (crash recovery) mid-run', async () => {
    await scenario('restart-postgres-immediate', {}, async (s) => {
      const runId = await midRun(s, async () => {
        s.markFault()
        await pg.restart('immediate')
        s.markFaultEnd()
      })
      return { runIds: [runId] }
    })
  })

  it("lock-tenant-rows: one tenant's findings locked (select ... for update) for 60 s mid-run, then released", async () => {
    await scenario('lock-tenant-rows', { completeWithinMs: 120_000 }, async (s) => {
      const runId = await s.startRun()
      await s.waitMidRun(runId)
      const targeted = await s.targetedTenants(runId)
      const tenant = Math.max(...targeted) // the last one dispatched: not reached yet when it is locked
      const holder = postgres(s.databaseUrl, { max: 1, onnotice: () => {} })
      let release!: () => void
      const released = new Promise<void>((resolve) => (release = resolve))
      let locked!: (rows: number) => void
      const isLocked = new Promise<number>((resolve) => (locked = resolve))
      const transaction = holder.begin(async (tx) => {
        const rows = await tx`select id from findings where tenant_id = ${tenant} for update`
        locked(rows.length)
        await released
      })
      const lockedRows = await Promise.race([isLocked, transaction.then(() => 0)])
      if (lockedRows === 0) throw new Error(`tenant ${tenant} has no findings to lock: the scenario would prove nothing`)
      s.markFault()
      s.note(`tenant ${tenant}: ${lockedRows} rows locked`)
      const failures: string[] = []
      const processedEarly = await s.withSql((sql) =>
        sql`select 1 from event_store_events where stream_id = ${`run-${runId}`} and type = 'TenantProcessed'
            and (data->>'tenantId')::bigint = ${tenant}`,
      )
      if (processedEarly.length > 0) failures.push(`tenant ${tenant} was processed before its rows were locked: the lock proved nothing`)
      await delay(60_000) // the fault lasts 60 s
      release()
      await transaction
      s.markFaultEnd()
      await holder.end()
      const lockedTenantAt = async () => {
        const [row] = await s.withSql((sql) =>
          sql<Array<{ at: Date }>>`select recorded_at as at from event_store_events where stream_id = ${`run-${runId}`}
            and type = 'TenantProcessed' and (data->>'tenantId')::bigint = ${tenant}`,
        )
        return row?.at ?? null
      }
      return {
        runIds: [runId],
        failures,
        // Recovery here: from the release to the locked tenant's TenantProcessed.
        recoveryMs: async () => {
          const at = await lockedTenantAt()
          return at === null ? null : Math.max(0, at.getTime() - s.faultEndedAt!)
        },
        after: async () => {
          // The locked tenant's result came after the release: it waited, it did not fail or skip.
          const [row] = await s.withSql((sql) =>
            sql<Array<{ at: Date }>>`select recorded_at as at from event_store_events where stream_id = ${`run-${runId}`}
              and type = 'TenantProcessed' and (data->>'tenantId')::bigint = ${tenant}`,
          )
          return row && row.at.getTime() >= s.faultEndedAt! - 1_000 ? [] : [`tenant ${tenant} processed at ${row?.at.toISOString()}, before the lock was released`]
        },
      }
    })
  })

  it('contending-runs: an all-tenants run and a one-tenant run of the same runbook for a tenant of it, at once', async () => {
    await scenario('contending-runs', {}, async (s) => {
      const all = await s.startRun()
      const targeted = await s.targetedTenants(all)
      const tenant = Math.min(...targeted) // among the first the all-tenants run dispatches
      s.markFault()
      const one = await s.startRun({ tenantId: tenant, reason: 'fault suite: a second run for one tenant' })
      s.note(`second run for tenant ${tenant}`)
      return { runIds: [all, one] }
    })
  })

  it('sigterm-npm-start: SIGTERM to the pid of `npm start` (ROLE=all) mid-run leaves no process; a second start takes the port', async () => {
    const shutdownTimeoutMs = 5_000
    await scenario('sigterm-npm-start', { topology: 'none', env: { SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) } }, async (s) => {
      s.apiName = 'npm-1'
      await s.services.start('npm-1', 'all', { command: 'npm' })
      await s.services.waitHealthy('npm-1', 90_000)
      const port = s.services.get('npm-1').port
      const runId = await s.startRun()
      await s.waitMidRun(runId)
      const npmPid = s.services.pid('npm-1')!
      const tree = [npmPid, ...descendants(npmPid)]
      s.note(`tree: ${tree.map((pid) => `${pid} ${commandLine(pid).slice(0, 60)}`).join(', ')}`)
      const failures: string[] = []
      if (tree.length < 2) failures.push(`npm start has no child process (${tree.join(', ')})`)
      s.markFault()
      process.kill(npmPid, 'SIGTERM')
      const margin = 5_000
      const gone = await waitFor('the npm start tree to exit', () => tree.every((pid) => !alive(pid)), {
        timeoutMs: shutdownTimeoutMs + margin,
        everyMs: 100,
      }).catch(() => false)
      const orphans = tree.filter(alive)
      if (!gone) failures.push(`${Date.now() - s.faultAt!} ms after SIGTERM, still running: ${orphans.map((pid) => `${pid} (${commandLine(pid)})`).join(', ')}`)
      else s.note(`tree gone ${Date.now() - s.faultAt!} ms after SIGTERM`)

      // A second start on the same port comes up and serves from its own process (not an orphan's socket).
      s.markFaultEnd()
      await s.services.start('npm-2', 'all', { command: 'npm', port })
      try {
        await waitFor(`the second npm start to serve port ${port}`, async () => {
          if (!s.services.running('npm-2')) throw new Error('the second npm start exited')
          const pid = s.services.pid('npm-2')!
          return listensOn([pid, ...descendants(pid)], port)
        }, { timeoutMs: 90_000, everyMs: 250 })
        await s.services.waitHealthy('npm-2', 30_000)
      } catch (error) {
        failures.push(`second start: ${(error as Error).message}`)
      }
      for (const pid of orphans) killPid(pid) // ours: descendants of the npm we spawned
      s.apiName = 'npm-2'
      return { runIds: [runId], failures, leftDown: ['npm-1'] }
    })
  })

  it('rebuild-projections: read models truncated mid-run under the running projector (its checkpoint kept), then the compiled rebuild command', async () => {
    await scenario('rebuild-projections', {}, async (s) => {
      const runId = await s.startRun()
      await s.waitMidRun(runId)
      s.markFault()
      // One transaction: the truncate's exclusive locks against the projector's batch can deadlock (40P01:
      // PostgreSQL then aborts one of the two); the wipe is retried like any operator would, the projector
      // must cope with either outcome.
      for (let attempt = 1; ; attempt++) {
        try {
          await s.withSql((sql) =>
            sql.begin(async (tx) => {
              // The checkpoint stays: the projector goes on from it, so only the rebuild can bring the rows back.
              await tx.unsafe(`truncate ${rebuiltReadModelTables.join(', ')}`)
            }),
          )
          s.note(`read models wiped (attempt ${attempt})`)
          break
        } catch (error) {
          if ((error as { code?: string }).code !== '40P01' || attempt >= 10) throw error
        }
      }
      // As production runs it: the compiled command (`npm run rebuild-projections` is the same from the sources).
      const rebuild = await runCommand(process.execPath, ['dist/rebuild-projections.js'], { DATABASE_URL: s.databaseUrl }, join(s.dir, 'rebuild.log'))
      s.markFaultEnd()
      s.note(`rebuild exited ${rebuild.code} after ${rebuild.ms} ms`)
      const failures = rebuild.code === 0 ? [] : [`the rebuild exited ${rebuild.code}: ${rebuild.tail}`]
      // Recovery here: from the wipe until the run is in the read model again (GET /api/runs/{id} 200).
      const back = await waitFor('the run in the read model again', async () => {
        const response = await s.api(`/api/runs/${runId}`).catch(() => null)
        return response?.status === 200 ? Date.now() : false
      }, { timeoutMs: 30_000, everyMs: 100 }).catch(() => null)
      return {
        runIds: [runId],
        failures,
        recoveryMs: async () => (back === null ? null : back - s.faultAt!),
        after: async () => {
          // The audit log is rebuilt too: one start and one completion entry for the run.
          const [row] = await s.withSql((sql) =>
            sql<Array<{ n: number }>>`select count(*)::int as n from audit_log where operation_run_id = ${runId}
              and action in ('platform.ops.runbooks.start', 'platform.ops.runbooks.completed')`,
          )
          return row?.n === 2 ? [] : [`audit log after the rebuild has ${row?.n} start/completed entries for the run (expected 2)`]
        },
      }
    })
  })
})

function runCommand(command: string, args: string[], env: Record<string, string>, logFile: string): Promise<{ code: number | null; ms: number; tail: string }> {
  const started = Date.now()
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env }
    delete childEnv.NODE_OPTIONS
    const child = spawn(command, args, { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      writeFileSync(logFile, output)
      resolve({ code, ms: Date.now() - started, tail: output.split('\n').slice(-15).join('\n') })
    })
  })
}
