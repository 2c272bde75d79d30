import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DomainError } from '../../src/commands/errors.js'
import { decideRun, type RunCommand } from '../../src/commands/run/run-decider.js'
import { evolveRun, initialRunState, type RunState } from '../../src/commands/run/run-state.js'
import { streams, type Initiator, type TenantResult } from '../../src/events/index.js'
import { operationRunsProjection } from '../../src/projections/operation-runs.js'
import { getRun } from '../../src/projections/queries.js'
import { runResourceAt } from '../../src/projections/replayed-run.js'
import { EventLog, type LoggedEvent } from '../../src/store/event-log.js'
import { databaseFlavours } from '../support/databases.js'
import { alice, hashOf, openTestBed, platformWorkspaceId, runbookKey, type TestBed } from './fixtures.js'

/**
 * SPEC §12: a run folded from its stream by the command side's `evolveRun` is the run the projection shows.
 * Runs are driven through the real decider by random commands (refused ones append nothing), stored in a
 * real event store, read back, projected one event at a time; after every event the replay of the run's
 * prefix must equal `getRun` — the state at every revision, not only the last, is what the read side showed.
 */

const bob: Initiator = { ...alice, platformUserId: 'op-bob', email: 'bob@ops.example', name: 'Bob Approver' }
const worker: Initiator = { kind: 'system', component: 'tenant-worker' }
const operatorReason = { reasonCode: 'INCIDENT' as const, reasonText: 'steering the repair by hand' }
const tenants = [11, 12, 13]

const result: fc.Arbitrary<TenantResult> = fc.oneof(
  fc.record({ status: fc.constant('succeeded' as const), total: fc.nat(40), updated: fc.nat(40) }).map((r) => ({ ...r, updated: Math.min(r.updated, r.total) })),
  fc.record({
    status: fc.constant('failed' as const),
    reasonCode: fc.constantFrom('INVALID_DATA' as const, 'TIMEOUT' as const, 'TENANT_NOT_ALLOWED' as const),
    message: fc.constantFrom('finding 7 has severity urgent', 'took too long'),
  }),
)

/** A command and who gives it; `at` is filled in when it is applied. */
type Step = { who: Initiator; command: (at: string) => RunCommand }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constant<Step>({ who: { kind: 'system', component: 'dispatcher' }, command: (at) => ({ type: 'StartRun', at }) }),
  fc.constant<Step>({ who: { kind: 'system', component: 'planner' }, command: (at) => ({ type: 'RecordPlan', preflight: { affectedCount: 4, totalCount: 9, estimatedTenants: 3 }, at }) }),
  fc
    .array(fc.record({ tenantId: fc.constantFrom(...tenants), attempt: fc.integer({ min: 1, max: 3 }), result }), { minLength: 1, maxLength: 3 })
    .map((results): Step => ({
      who: worker,
      command: (at) => ({ type: 'RecordTenantResults', results: results.map((r) => ({ ...r, startedAt: at, completedAt: at })), at }),
    })),
  fc.constant<Step>({ who: alice, command: (at) => ({ type: 'PauseRun', reason: operatorReason, at }) }),
  fc.constant<Step>({ who: worker, command: (at) => ({ type: 'HaltRun', reasonText: 'the deployment is halted', at }) }),
  fc.constant<Step>({ who: alice, command: (at) => ({ type: 'ResumeRun', reason: null, halted: false, at }) }),
  fc.constant<Step>({ who: alice, command: (at) => ({ type: 'CancelRun', reason: operatorReason, at }) }),
  fc.constant<Step>({ who: worker, command: (at) => ({ type: 'CompleteCancelledRun', stored: [], at }) }),
  fc
    .record({ maxConcurrency: fc.integer({ min: 1, max: 4 }), maxFailures: fc.option(fc.nat(2), { nil: null }) })
    .map((limits): Step => ({ who: alice, command: (at) => ({ type: 'ChangeLimits', limits, at }) })),
  fc.constant<Step>({ who: bob, command: (at) => ({ type: 'ApproveRun', operatorId: 'op-bob', comment: 'looks right', halted: false, at }) }),
  fc.constant<Step>({ who: bob, command: (at) => ({ type: 'RejectRun', operatorId: 'op-bob', reason: operatorReason, at }) }),
  fc.constant<Step>({ who: { kind: 'system', component: 'reconciler' }, command: (at) => ({ type: 'RedispatchPendingTenants', tenantIds: tenants, at }) }),
  fc
    .constantFrom(0, 2)
    .map((left): Step => ({
      who: { kind: 'system', component: 'verifier' },
      command: (at) => ({ type: 'RecordVerification', remaining: left ? [{ tenantId: 11, remaining: left }] : [], at }),
    })),
)

const runSpec = fc.record({
  tenantIds: fc.subarray(tenants, { minLength: 1 }),
  allTenants: fc.boolean(),
  planned: fc.boolean(),
  canary: fc.boolean(),
  approval: fc.boolean(),
  maxFailures: fc.option(fc.nat(1), { nil: null }),
  steps: fc.array(step, { maxLength: 14 }),
})
type RunSpec = typeof runSpec extends fc.Arbitrary<infer T> ? T : never

let runCounter = 0

describe.each(databaseFlavours())('a run replayed from its stream equals the projected run: $name', ({ open }) => {
  let bed: TestBed
  let log: EventLog
  beforeAll(async () => {
    bed = await openTestBed(open)
    log = new EventLog(bed.store)
  })
  afterAll(async () => {
    await bed.db.close()
  })

  let second = 0
  const at = () => new Date(Date.UTC(2025, 4, 1, 8, 0, ++second)).toISOString()

  /** Drives one run through the decider, appending what each accepted command decides. */
  async function drive(spec: RunSpec, interleave: () => Promise<void>): Promise<string> {
    const runId = `replay-${++runCounter}`
    const allTenants = spec.allTenants || spec.tenantIds.length > 1
    let state: RunState = initialRunState()
    let revision: number | 'no_stream' = 'no_stream'
    const decideAndAppend = async (who: Initiator, command: RunCommand) => {
      let decided
      try {
        decided = decideRun(command, state)
      } catch (error) {
        if (error instanceof DomainError) return // refused: nothing appended, as the handlers do
        throw error
      }
      if (decided.length === 0) return
      const occurredAt = 'at' in command ? command.at : at()
      const appended = await log.append(streams.run(runId), decided, revision, { correlationId: runId, causationId: null, initiator: who, occurredAt })
      revision = appended.nextExpectedRevision
      state = decided.reduce((s, event) => evolveRun(s, { event }), state)
      await interleave()
    }
    const requestedAt = at()
    await decideAndAppend(alice, {
      type: 'RequestRun',
      data: {
        runId,
        runbookKey,
        scope: allTenants ? 'all_tenants' : 'single_tenant',
        workspaceId: allTenants ? platformWorkspaceId : 201,
        targetTenantId: allTenants ? null : spec.tenantIds[0]!,
        tenantIds: spec.tenantIds,
        source: 'api',
        preflight: spec.planned ? null : { affectedCount: 5, totalCount: 8, estimatedTenants: spec.tenantIds.length },
        reason: allTenants ? { reasonCode: 'DATA_REPAIR', reasonText: 'backfill after the lifecycle bug' } : null,
        initiator: { platformUserId: alice.platformUserId, email: alice.email, name: alice.name, isBreakGlass: false },
        runIdentityHash: hashOf(runId),
        requestedAt,
        limits: { maxConcurrency: 2, maxFailures: spec.maxFailures },
        retryOf: null,
        approvalRequired: spec.approval,
        parameters: { slaDays: { critical: 3 } },
        pinnedPreflightId: spec.planned ? null : `pf-${runId}`,
        canary: spec.canary ? { tenantIds: [spec.tenantIds[0]!], autoPromote: false } : null,
        revertOf: null,
      },
    })
    for (const s of spec.steps) await decideAndAppend(s.who, s.command(at()))
    return runId
  }

  it('after every event of every run, whatever commands the decider accepted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(runSpec, { minLength: 1, maxLength: 3 }), async (specs) => {
        // Projects what was appended since the last call, one event at a time, checking each run it touched.
        let projectedUpTo: string | null = (await log.readAll({ after: null, maxCount: 1_000_000 })).at(-1)?.position ?? null
        const checked = new Map<string, LoggedEvent[]>()
        const projectNew = async () => {
          for (const logged of await log.readAll({ after: projectedUpTo, maxCount: 1_000 })) {
            await bed.sql.begin((tx) => operationRunsProjection.apply(tx, [logged]))
            projectedUpTo = logged.position
            const prefix = [...(checked.get(logged.streamId) ?? []), logged]
            checked.set(logged.streamId, prefix)
            const runId = logged.streamId.slice('run-'.length)
            expect(runResourceAt(prefix), `${runId} after its event ${prefix.length} (${logged.event.type})`).toEqual(await getRun(bed.sql, runId))
          }
        }
        const runIds = []
        for (const spec of specs) runIds.push(await drive(spec, projectNew))
        // The stream as the event store gives it back is what was checked event by event.
        for (const runId of runIds) {
          const { events } = await log.read(streams.run(runId))
          expect(runResourceAt(events)).toEqual(await getRun(bed.sql, runId))
        }
      }),
      { numRuns: 40 },
    )
  }, 300_000)
})
