import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { handleCommand, StreamStateCache, type Decider } from '../../src/commands/handle-command.js'
import type { RunState } from '../../src/commands/run/run-state.js'
import { loadRun, markRunStarted } from '../../src/commands/run-execution.js'
import { recordTenantResult } from '../support/record-result.js'
import { runDecider } from '../../src/commands/run/run-decider-definition.js'
import { InvalidEventError, streams, type DomainEvent } from '../../src/events/index.js'
import { EventLog, type AppendContext } from '../../src/store/event-log.js'
import { WrongExpectedRevisionError } from '../../src/store/event-store.js'
import { databaseFlavours } from '../support/databases.js'
import { openCommandDatabase, type CommandDatabase } from './command-database.js'
import { requestRun, runRequest } from './run/run-fixtures.js'

/** The real log, counting the appends the store refused for a stale revision (to show retries happened). */
class ConflictCountingLog extends EventLog {
  conflicts = 0

  override async append(...args: Parameters<EventLog['append']>): ReturnType<EventLog['append']> {
    try {
      return await super.append(...args)
    } catch (error) {
      if (error instanceof WrongExpectedRevisionError) this.conflicts++
      throw error
    }
  }
}

const apiContext = (correlationId: string): AppendContext => ({
  correlationId,
  causationId: null,
  initiator: { kind: 'system', component: 'api' },
})

const TEN_TENANTS = Array.from({ length: 10 }, (_, index) => 201 + index)

for (const flavour of databaseFlavours()) {
  describe(`handleCommand on ${flavour.name}`, () => {
    let env: CommandDatabase

    beforeAll(async () => {
      env = await openCommandDatabase(flavour.open)
    })
    afterAll(async () => {
      await env?.close()
    })

    async function runningRun(tenantIds: number[]): Promise<string> {
      const runId = `run-${randomUUID()}`
      await handleCommand(env.log, streams.run(runId), runDecider, requestRun(runRequest({ runId, tenantIds })), apiContext(runId))
      await markRunStarted(env.log, runId, null)
      return runId
    }

    it('a cached state is brought up to date from the tail, also when other writers moved the stream on', async () => {
      const runId = await runningRun(TEN_TENANTS)
      const cache = new StreamStateCache<RunState>()
      const record = (tenantId: number, viaCache: boolean) =>
        recordTenantResult(env.log, { runId, tenantId, attempt: 1, result: { status: 'succeeded', total: 2, updated: 1 }, startedAt: null, completedAt: null }, viaCache ? cache : undefined)
      // The cache learns the stream, then another writer (no cache) appends behind its back.
      await record(TEN_TENANTS[0]!, true)
      await record(TEN_TENANTS[1]!, false)
      await record(TEN_TENANTS[2]!, false)
      // Deciding on a stale cache would append at a taken revision; the tail read must catch up first.
      const state = await record(TEN_TENANTS[3]!, true)
      expect([...(state.status === 'none' ? [] : state.results.keys())].sort()).toEqual(TEN_TENANTS.slice(0, 4))
      // A duplicate result decided on the cached state appends nothing.
      await record(TEN_TENANTS[1]!, true)
      const { events } = await env.log.read(streams.run(runId))
      expect(events.filter((e) => e.event.type === 'TenantProcessed')).toHaveLength(4)
      for (const tenantId of TEN_TENANTS.slice(4)) await record(tenantId, true)
      const final = await loadRun(env.log, runId)
      expect(final.status).toBe('completed')
      expect(cache.get(streams.run(runId))?.state.status).toBe('completed')
    })

    it('records 10 concurrent tenant results on one run: none lost, one completion (conflicts retried)', async () => {
      const runId = await runningRun(TEN_TENANTS)
      const log = new ConflictCountingLog(env.store)
      await Promise.all(
        TEN_TENANTS.map((tenantId, index) =>
          recordTenantResult(log, { runId, tenantId, attempt: 1, result: { status: 'succeeded', total: 10 + index, updated: index }, startedAt: null, completedAt: null }),
        ),
      )
      expect(log.conflicts).toBeGreaterThan(0)

      const { events } = await env.log.read(streams.run(runId))
      expect(events.map((e) => e.revision)).toEqual(events.map((_, index) => index))
      const processed = events.filter((e) => e.event.type === 'TenantProcessed')
      expect(processed.map((e) => (e.event.type === 'TenantProcessed' ? e.event.data.tenantId : 0)).sort()).toEqual(TEN_TENANTS)
      const completed = events.filter((e) => e.event.type === 'RunCompleted')
      expect(completed).toHaveLength(1)
      expect(events.at(-1)?.event.type).toBe('RunCompleted')
      const total = TEN_TENANTS.reduce((sum, _, index) => sum + 10 + index, 0)
      const updated = TEN_TENANTS.reduce((sum, _, index) => sum + index, 0)
      expect(completed[0]!.event.data).toMatchObject({
        outcome: 'succeeded',
        summaryCounts: { total, processed: total, updated, skipped: total - updated, failed: 0, tenants: 10 },
      })
      const state = await loadRun(env.log, runId)
      expect(state.status).toBe('completed')
      expect(state.status === 'none' ? 0 : state.results.size).toBe(10)
    })

    it('counts each tenant once when every job is delivered twice, concurrently', async () => {
      const runId = await runningRun(TEN_TENANTS)
      await Promise.all(
        [...TEN_TENANTS, ...TEN_TENANTS].map((tenantId, index) =>
          recordTenantResult(env.log, { runId, tenantId, attempt: index < 10 ? 1 : 2, result: { status: 'succeeded', total: 1, updated: 1 }, startedAt: null, completedAt: null }),
        ),
      )
      const { events } = await env.log.read(streams.run(runId))
      expect(events.filter((e) => e.event.type === 'TenantProcessed')).toHaveLength(10)
      expect(events.filter((e) => e.event.type === 'RunCompleted')).toHaveLength(1)
      expect(events.at(-1)?.event).toMatchObject({ type: 'RunCompleted', data: { summaryCounts: { total: 10, failed: 0 } } })
    })

    it('appends the several events of one decision in one append, in order', async () => {
      const runId = await runningRun([301])
      const handled = await handleCommand(
        env.log,
        streams.run(runId),
        runDecider,
        { type: 'RecordTenantResults', results: [{ tenantId: 301, attempt: 1, result: { status: 'succeeded', total: 3, updated: 1 }, startedAt: null, completedAt: null }], at: new Date().toISOString() },
        { correlationId: runId, causationId: null, initiator: { kind: 'system', component: 'tenant-worker' } },
      )
      expect(handled.events.map((e) => e.type)).toEqual(['TenantProcessed', 'RunCompleted'])
      expect(handled.eventIds).toHaveLength(2)
      expect(handled.state.status).toBe('completed')
      const { events } = await env.log.read(streams.run(runId))
      expect(events.slice(-2).map((e) => e.metadata.eventId)).toEqual(handled.eventIds)
      expect(events.at(-1)?.position).toBe(handled.position)
    })

    it('appends nothing for a no-op command and nothing when the decider rejects', async () => {
      const runId = await runningRun([302])
      const before = await env.eventCount()
      const noOp = await handleCommand(env.log, streams.run(runId), runDecider, { type: 'StartRun', at: new Date().toISOString() }, apiContext(runId))
      expect(noOp).toMatchObject({ events: [], position: null, eventIds: [] })
      await expect(
        recordTenantResult(env.log, { runId, tenantId: 999, attempt: 1, result: { status: 'succeeded', total: 1, updated: 1 }, startedAt: null, completedAt: null }),
      ).rejects.toThrow(/not allowed/)
      await expect(markRunStarted(env.log, `run-${randomUUID()}`, null)).rejects.toThrow(/not allowed/)
      expect(await env.eventCount()).toBe(before)
    })

    it('does not retry an append that failed for another reason than a conflict', async () => {
      let decisions = 0
      const invalid: Decider<null, null> = {
        initialState: () => null,
        evolve: (state) => state,
        decide: () => {
          decisions++
          return [{ type: 'RunStarted', data: { runId: '', startedAt: 'yesterday' } } as DomainEvent]
        },
      }
      const before = await env.eventCount()
      await expect(handleCommand(env.log, `run-${randomUUID()}`, invalid, null, apiContext('x'))).rejects.toBeInstanceOf(InvalidEventError)
      expect(decisions).toBe(1)
      expect(await env.eventCount()).toBe(before)
    })
  })
}

describe('StreamStateCache', () => {
  it('retainOnly forgets every stream but those named, and keeps their folds', () => {
    const cache = new StreamStateCache<string>()
    for (const streamId of ['run-a', 'run-b', 'run-c']) cache.set(streamId, { state: `${streamId} folded`, revision: 3 })
    cache.retainOnly(new Set(['run-b', 'run-z']))
    expect(cache.get('run-a')).toBeUndefined()
    expect(cache.get('run-c')).toBeUndefined()
    expect(cache.get('run-b')).toEqual({ state: 'run-b folded', revision: 3 })
  })
})
