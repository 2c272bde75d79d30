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
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FaultScenario, faultLine, recordFinding, type FaultResult, type ScenarioOptions } from './support/fault-scenario.js'
import { delay } from './support/ports.js'
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
  'rebuild-read-models',
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
    result.mismatches = await s.mismatches()
    if (result.mismatches > 0) failures.push(`${result.mismatches} findings differ from the reference repair`)
    result.recoveryMs = await s.recoveryMs(injected.runIds)
    result.totalMs = await s.totalMs(injected.runIds[0]!)
    if (injected.after) failures.push(...(await injected.after(runs)))
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
    await s.tearDown()
  }
  expect(failures).toEqual([])
}

describe('fault suite: the service survives each fault without a person', () => {
  it('kill-one-worker: kill -9 one of two workers mid-run', async () => {
    await scenario('kill-one-worker', {}, async (s) => {
      const runId = await s.startRun()
      await s.waitMidRun(runId)
      s.markFault()
      await s.services.kill('worker-1', 'SIGKILL')
      return { runIds: [runId], leftDown: ['worker-1'] }
    })
  })
})

export { delay }
