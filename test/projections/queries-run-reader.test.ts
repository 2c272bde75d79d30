import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Sql } from '../../src/db/database.js'
import { Coalescer, getRun, RunReader } from '../../src/projections/queries.js'
import { databaseFlavours } from '../support/databases.js'
import { openTestBed, type TestBed } from './fixtures.js'

/** A promise with its resolve and reject, for loads a test settles by hand. */
function controlled<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((yes, no) => {
    resolve = yes
    reject = no
  })
  return { promise, resolve, reject }
}

describe('Coalescer', () => {
  it('answers a call with a load started after it: calls made during a load share the next one', async () => {
    const loads: Array<{ key: string; answer: ReturnType<typeof controlled<string>> }> = []
    const coalescer = new Coalescer<string, string>((key) => {
      const answer = controlled<string>()
      loads.push({ key, answer })
      return answer.promise
    })
    const first = coalescer.load('run')
    expect(loads).toHaveLength(1)
    // Made while the first load is under way: none of them may be answered by it.
    const second = coalescer.load('run')
    const third = coalescer.load('run')
    expect(loads).toHaveLength(1)
    loads[0]!.answer.resolve('v1')
    expect(await first).toBe('v1')
    // The next load starts once the first settled, for both calls made meanwhile.
    await Promise.resolve()
    expect(loads).toHaveLength(2)
    const fourth = coalescer.load('run')
    loads[1]!.answer.resolve('v2')
    expect(await second).toBe('v2')
    expect(await third).toBe('v2')
    await Promise.resolve()
    expect(loads).toHaveLength(3)
    loads[2]!.answer.resolve('v3')
    expect(await fourth).toBe('v3')
    await Promise.resolve()
    expect(coalescer.inFlight).toBe(0)
  })

  it('loads different keys independently', async () => {
    const started: string[] = []
    const coalescer = new Coalescer<string, string>(async (key) => {
      started.push(key)
      return key.toUpperCase()
    })
    expect(await Promise.all([coalescer.load('a'), coalescer.load('b')])).toEqual(['A', 'B'])
    expect(started).toEqual(['a', 'b'])
  })

  it('fails the calls a failed load answers, and the next call loads again', async () => {
    const loads: Array<ReturnType<typeof controlled<string>>> = []
    const coalescer = new Coalescer<string, string>(() => {
      const answer = controlled<string>()
      loads.push(answer)
      return answer.promise
    })
    const first = coalescer.load('run')
    const second = coalescer.load('run')
    loads[0]!.reject(new Error('connection lost'))
    await expect(first).rejects.toThrow('connection lost')
    await Promise.resolve()
    loads[1]!.reject(new Error('still lost'))
    await expect(second).rejects.toThrow('still lost')
    await Promise.resolve()
    expect(coalescer.inFlight).toBe(0)
    const third = coalescer.load('run')
    loads[2]!.resolve('back')
    expect(await third).toBe('back')
  })
})

/**
 * `sql` whose statements run at once but whose answers are held until `release()`: a statement is then
 * known to have read its snapshot (`executed`) while the reader still waits for it.
 */
function heldSql(sql: Sql) {
  let gate = controlled<void>()
  let executed = controlled<void>()
  let holding = false
  const held = new Proxy(sql, {
    apply(target, self, args) {
      const query = Reflect.apply(target, self, args) as Promise<unknown>
      if (!holding) return query
      const done = executed
      const open = gate.promise
      return query.then((rows) => {
        done.resolve()
        return open.then(() => rows)
      })
    },
  })
  return {
    sql: held,
    hold() {
      holding = true
      gate = controlled<void>()
      executed = controlled<void>()
    },
    executed: () => executed.promise,
    release() {
      holding = false
      gate.resolve()
    },
  }
}

describe.each(databaseFlavours())('RunReader: GET /api/runs/{id} reads ($name)', (flavour) => {
  let bed: TestBed
  const runId = '01JRUNREADER0000000000000A'
  const otherRunId = '01JRUNREADER0000000000000B'

  beforeAll(async () => {
    bed = await openTestBed(flavour.open)
  })

  afterAll(async () => {
    await bed?.db.close()
  })

  beforeEach(async () => {
    await bed.sql`delete from operation_run_controls where run_id = ${runId}`
    await bed.sql`delete from operation_runs where id in ${bed.sql([runId, otherRunId])}`
    await bed.sql`
      insert into operation_runs (id, workspace_id, tenant_id, user_id, initiator_name, type, status, outcome, run_identity_hash,
                                  summary_counts, failure_summary, context, started_at, completed_at, created_at)
      values (${runId}, 100, null, 'op-alice', 'Alice', 'findings.lifecycle.backfill', 'running', 'pending', ${'a'.repeat(64)},
              ${bed.sql.json({ tenants: 3, processed: 1 })}, '[]'::jsonb, ${bed.sql.json({ scope: 'all_tenants', note: 'x' })},
              '2025-03-01T10:00:00.123456Z', null, '2025-03-01T09:59:59.000001Z')`
    await bed.sql`
      insert into operation_run_controls (run_id, max_concurrency, max_failures, targeted, succeeded, failed, cancelled)
      values (${runId}, 4, null, 3, 1, 0, 0)`
  })

  const expected = async () => JSON.stringify(await getRun(bed.sql, runId))

  it('answers what getRun answers, as JSON text; null for a run that is not there', async () => {
    const reader = new RunReader(bed.sql)
    expect(await reader.readJson(runId)).toBe(await expected())
    expect(await reader.readJson(runId)).toBe(await expected())
    expect(await reader.readJson('01JRUNREADER0000000000000Z')).toBeNull()
  })

  it('answers every change of either row the run is made of, also one that leaves the other row as it was', async () => {
    const reader = new RunReader(bed.sql)
    const seen = [await reader.readJson(runId)]
    const changes = [
      () => bed.sql`update operation_runs set summary_counts = ${bed.sql.json({ tenants: 3, processed: 2 })} where id = ${runId}`,
      () => bed.sql`update operation_run_controls set succeeded = 2 where run_id = ${runId}`,
      () => bed.sql`update operation_run_controls set max_concurrency = 8 where run_id = ${runId}`,
      () => bed.sql`update operation_runs set status = 'completed', outcome = 'succeeded', completed_at = now() where id = ${runId}`,
      () => bed.sql`update operation_runs set context = ${bed.sql.json({ scope: 'all_tenants', note: 'y' })} where id = ${runId}`,
      () => bed.sql`delete from operation_run_controls where run_id = ${runId}`,
    ]
    for (const change of changes) {
      await change()
      const now = await reader.readJson(runId)
      expect(now).toBe(await expected())
      expect(seen).not.toContain(now)
      seen.push(now)
    }
    await bed.sql`delete from operation_runs where id = ${runId}`
    expect(await reader.readJson(runId)).toBeNull()
    expect(reader.size).toBe(0)
  })

  it('read-your-writes: a read that begins after a commit is answered with it, though a read before it is still under way', async () => {
    const held = heldSql(bed.sql)
    const reader = new RunReader(held.sql)
    const before = await expected()
    held.hold()
    const early = reader.readJson(runId)
    // The early read's statement has read its snapshot: the change below is not in it.
    await held.executed()
    await bed.sql`update operation_runs set status = 'paused' where id = ${runId}`
    const after = await expected()
    const late = reader.readJson(runId)
    held.release()
    expect(await early).toBe(before)
    expect(await late).toBe(after)
    expect(JSON.parse((await late)!).status).toBe('paused')
  })

  it('keeps the text of at most maxRuns runs and maxChars characters', async () => {
    await bed.sql`
      insert into operation_runs (id, workspace_id, tenant_id, user_id, initiator_name, type, status, outcome, run_identity_hash,
                                  summary_counts, failure_summary, context, started_at, completed_at, created_at)
      select ${otherRunId}, workspace_id, tenant_id, user_id, initiator_name, type, status, outcome, run_identity_hash,
             summary_counts, failure_summary, context, started_at, completed_at, created_at
      from operation_runs where id = ${runId}`
    const reader = new RunReader(bed.sql, 1)
    await reader.readJson(runId)
    expect(reader.size).toBe(1)
    expect(JSON.parse((await reader.readJson(otherRunId))!).id).toBe(otherRunId)
    expect(reader.size).toBe(1)
    expect(await reader.readJson(runId)).toBe(await expected())
    // And at most maxChars characters: a text above a quarter of them is answered, not kept.
    const one = (await expected()).length
    const other = JSON.stringify(await getRun(bed.sql, otherRunId)).length
    const both = new RunReader(bed.sql, 10, 4 * Math.max(one, other))
    await both.readJson(runId)
    await both.readJson(otherRunId)
    expect([both.size, both.chars]).toEqual([2, one + other])
    const tiny = new RunReader(bed.sql, 10, 4 * Math.min(one, other) - 1)
    expect(await tiny.readJson(runId)).toBe(await expected())
    expect(await tiny.readJson(otherRunId)).toBe(JSON.stringify(await getRun(bed.sql, otherRunId)))
    expect([tiny.size, tiny.chars]).toEqual([0, 0])
  })
})
