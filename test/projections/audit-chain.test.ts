import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { auditEntryHash, canonicalAuditEntry, canonicalJson, GENESIS_HASH, verifyAuditChain } from '../../src/projections/audit-chain.js'
import { auditLogProjection } from '../../src/projections/audit-log.js'
import { InvalidCursorError, listAudit } from '../../src/projections/queries.js'
import { Projector } from '../../src/projections/projector.js'
import { readModelProjections, readModelProjectorName } from '../../src/projections/read-model-projections.js'
import { toLoggedEvent } from '../../src/store/event-log.js'
import { streams } from '../../src/events/index.js'
import { databaseFlavours } from '../support/databases.js'
import { alice, listWholeAudit, openTestBed, type TestBed } from './fixtures.js'
import { appendScenario } from './scenario.js'

const consoleBaseUrl = 'https://ops.example.com/'

describe('the canonical JSON and hash of an audit entry', () => {
  it('sorts keys recursively, keeps array order, has no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 'x y', y: null }], c: true } })).toBe('{"a":{"c":true,"d":[1,{"y":null,"z":"x y"}]},"b":1}')
    expect(canonicalJson({ a: undefined, b: [undefined] })).toBe('{"b":[null]}')
  })

  it('hashes the previous hash followed by the canonical JSON of exactly the stored fields, time in UTC with milliseconds', () => {
    const entry = {
      sequence: 1,
      id: 'e-1',
      action: 'platform.ops.login.succeeded',
      occurredAt: '2025-03-01T10:00:00+01:00',
      actorUserId: 'op-alice',
      actorEmail: 'alice@ops.example',
      operationRunId: null,
      context: { z: 1, a: 'é' },
    }
    const json =
      '{"action":"platform.ops.login.succeeded","actorEmail":"alice@ops.example","actorUserId":"op-alice","context":{"a":"é","z":1},' +
      '"id":"e-1","occurredAt":"2025-03-01T09:00:00.000Z","operationRunId":null,"sequence":1}'
    expect(canonicalAuditEntry(entry)).toBe(json)
    expect(auditEntryHash(GENESIS_HASH, entry)).toBe(createHash('sha256').update(`${'0'.repeat(64)}${json}`).digest('hex'))
    expect(auditEntryHash(GENESIS_HASH, { ...entry, occurredAt: new Date('2025-03-01T09:00:00Z') })).toBe(auditEntryHash(GENESIS_HASH, entry))
    expect(auditEntryHash('f'.repeat(64), entry)).not.toBe(auditEntryHash(GENESIS_HASH, entry))
  })
})

interface Row {
  sequence: string
  id: string
  hash: string
  previous_hash: string
}

describe.each(databaseFlavours())('the audit hash chain on $name', ({ open }) => {
  let bed: TestBed
  let projector: Projector

  const chain = () => bed.sql<Row[]>`select sequence, id, hash, previous_hash from audit_log order by sequence`
  const head = async () => [...(await bed.sql`select sequence, hash from audit_chain_head`)]

  beforeEach(async () => {
    bed = await openTestBed(open)
    projector = new Projector({ store: bed.store, sql: bed.sql, name: readModelProjectorName, projections: readModelProjections({ consoleBaseUrl }), batchSize: 4 })
    await appendScenario(bed)
    await bed.settle()
    await projector.waitUntilCaughtUp()
  })
  afterEach(async () => {
    await projector.stop()
    await bed.db.close()
  })

  it('numbers the entries 1..n in the order of the events, each chained on the one before from 64 zeros, the head on the last', async () => {
    const rows = await chain()
    expect(rows.length).toBe(10)
    expect(rows.map((r) => Number(r.sequence))).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
    expect(rows[0]!.previous_hash).toBe(GENESIS_HASH)
    for (let i = 1; i < rows.length; i += 1) expect(rows[i]!.previous_hash).toBe(rows[i - 1]!.hash)
    for (const r of rows) expect(r.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(new Set(rows.map((r) => r.hash)).size).toBe(10)
    // The event order: the audit ids follow the store's global order.
    const events = await bed.store.readAll({ maxCount: 1000 })
    const order = events.map((e) => e.eventId).filter((id) => rows.some((r) => r.id === id))
    expect(rows.map((r) => r.id)).toEqual(order)
    expect(await head()).toEqual([{ sequence: '10', hash: rows[9]!.hash }])
    expect(await verifyAuditChain(bed.sql)).toEqual({ ok: true, entries: 10, headHash: rows[9]!.hash, firstBrokenSequence: null, problem: null })
  })

  it("shows a webhook destination's URL as scheme://host only, also from an event written before URLs were redacted", async () => {
    await bed.append(
      'alertDestination-old-hook',
      {
        type: 'AlertDestinationAdded',
        data: {
          destinationId: 'old-hook',
          workspaceId: 100,
          kind: 'webhook',
          url: 'https://hooks.slack.example/services/T000/B000/secret-path?token=abc',
          addedAt: '2025-05-01T10:00:00.000Z',
        },
      },
      alice,
      '2025-05-01T10:00:00.000Z',
    )
    await bed.settle()
    await projector.waitUntilCaughtUp()
    const [entry] = await bed.sql<Array<{ url: string }>>`
      select context ->> 'destination_url' as url from audit_log where action = 'platform.ops.alerts.destination_added'`
    expect(entry!.url).toBe('https://hooks.slack.example/…')
  })

  it('lists the entries newest first in the chain\'s order, page by page, also where their times tie or step back', async () => {
    // Appended in this order, their times stepping back then tying (clocks of several processes).
    for (const [id, at] of [['hook-a', '2025-05-01T10:00:00.000Z'], ['hook-b', '2025-05-01T09:00:00.000Z'], ['hook-c', '2025-05-01T09:00:00.000Z']] as const) {
      const event = { type: 'AlertDestinationAdded' as const, data: { destinationId: id, workspaceId: 100, kind: 'webhook' as const, url: 'https://hooks.example/x', addedAt: at } }
      await bed.append(`alertDestination-${id}`, event, alice, at)
    }
    await bed.settle()
    await projector.waitUntilCaughtUp()
    const listed = await listWholeAudit(bed.sql, 3)
    const rows = await chain()
    expect(listed.map((e) => e.sequence)).toEqual(rows.map((r) => Number(r.sequence)).reverse())
    for (let i = 1; i < listed.length; i += 1) expect(listed[i - 1]!.previousHash).toBe(listed[i]!.hash)
    // A cursor of the release that ordered by time (its id an entry's uuid) is refused, not an error.
    const oldCursor = Buffer.from(JSON.stringify({ v: 1, at: '2025-05-01T09:00:00.000000Z', id: '0b7e7d1c-3f4a-4d2e-9c1b-2a3b4c5d6e7f' })).toString('base64url')
    await expect(listAudit(bed.sql, { limit: 3, cursor: oldCursor })).rejects.toBeInstanceOf(InvalidCursorError)
  })

  it('gives the same hashes when rebuilt from the event store, and with other batch boundaries', async () => {
    const before = [...(await chain())]
    await projector.rebuild()
    expect([...(await chain())]).toEqual(before)

    await bed.sql`delete from audit_log`
    await bed.sql`update audit_chain_head set sequence = 0, hash = ${GENESIS_HASH}`
    const oneByOne = new Projector({ store: bed.store, sql: bed.sql, name: 'one-by-one', projections: readModelProjections({ consoleBaseUrl }), batchSize: 1 })
    await oneByOne.waitUntilCaughtUp()
    expect([...(await chain())]).toEqual(before)
    expect((await verifyAuditChain(bed.sql)).ok).toBe(true)
  })

  it('re-applying events already projected gives them no second sequence and leaves the head alone', async () => {
    const before = [...(await chain())]
    const headBefore = await head()
    const events = (await bed.store.readAll({ maxCount: 1000 })).map(toLoggedEvent)
    await bed.sql.begin((tx) => auditLogProjection.apply(tx, events))
    await bed.sql.begin((tx) => auditLogProjection.apply(tx, events.slice(3, 9)))
    expect([...(await chain())]).toEqual(before)
    expect(await head()).toEqual(headBefore)
  })

  it('verifies page by page', async () => {
    const rows = await chain()
    expect(await verifyAuditChain(bed.sql, { pageSize: 3 })).toMatchObject({ ok: true, entries: 10, headHash: rows[9]!.hash })
    await bed.sql`update audit_log set actor_email = 'mallory@evil.example' where sequence = 8`
    expect(await verifyAuditChain(bed.sql, { pageSize: 3 })).toMatchObject({ ok: false, entries: 10, firstBrokenSequence: 8 })
  })

  describe('finds and names a hand edit', () => {
    const expectBroken = async (sequence: number, problem: RegExp, entries = 10) => {
      const result = await verifyAuditChain(bed.sql)
      expect(result).toMatchObject({ ok: false, entries, firstBrokenSequence: sequence })
      expect(result.problem).toMatch(problem)
    }

    it.each([
      ['action', `update audit_log set action = 'platform.ops.login.failed' where sequence = 5`],
      ['occurred_at', `update audit_log set occurred_at = occurred_at + interval '1 millisecond' where sequence = 5`],
      // Finer than the hash's milliseconds: the entry then differs from what its event gives (a rebuild changes it).
      ['occurred_at, below the millisecond', `update audit_log set occurred_at = occurred_at + interval '900 microseconds' where sequence = 5`],
      ['actor_user_id', `update audit_log set actor_user_id = 'op-mallory' where sequence = 5`],
      ['actor_email', `update audit_log set actor_email = null where sequence = 5`],
      ['operation_run_id', `update audit_log set operation_run_id = 'run-other' where sequence = 5`],
      ['context', `update audit_log set context = jsonb_set(context, '{ip}', '"10.9.9.9"') where sequence = 5`],
      ['id', `update audit_log set id = 'forged' where sequence = 5`],
      ['hash', `update audit_log set hash = repeat('a', 64) where sequence = 5`],
    ])('a column edited (%s)', async (_column, statement) => {
      await bed.sql.unsafe(statement)
      await expectBroken(5, /altered|chain/)
    })

    it('an entry and its hash rewritten consistently: the next entry no longer chains', async () => {
      const [row] = await bed.sql`select * from audit_log where sequence = 5`
      const forged = { ...row!.context, ip: '10.9.9.9' }
      const hash = auditEntryHash(row!.previous_hash, {
        sequence: 5,
        id: row!.id,
        action: row!.action,
        occurredAt: row!.occurred_at,
        actorUserId: row!.actor_user_id,
        actorEmail: row!.actor_email,
        operationRunId: row!.operation_run_id,
        context: forged,
      })
      await bed.sql`update audit_log set context = ${JSON.stringify(forged)}::text::jsonb, hash = ${hash} where sequence = 5`
      await expectBroken(6, /does not chain/)
    })

    it('a middle entry deleted', async () => {
      await bed.sql`delete from audit_log where sequence = 6`
      await expectBroken(6, /entry 6 is missing/, 9)
    })

    it('a middle entry deleted and the later ones renumbered', async () => {
      await bed.sql`delete from audit_log where sequence = 6`
      await bed.sql`update audit_log set sequence = sequence - 1 where sequence > 6`
      await bed.sql`update audit_chain_head set sequence = sequence - 1`
      await expectBroken(6, /altered|chain/, 9)
    })

    it('the newest entry deleted (the head points past the end)', async () => {
      await bed.sql`delete from audit_log where sequence = 10`
      await expectBroken(10, /entry 10 is missing/, 9)
    })

    it('the newest entries deleted and the head moved back by hand', async () => {
      const [row] = await bed.sql`select hash from audit_log where sequence = 8`
      await bed.sql`delete from audit_log where sequence > 8`
      await bed.sql`update audit_chain_head set sequence = 8, hash = ${'b'.repeat(64)}`
      await expectBroken(8, /head's hash/, 8)
      // Moving the head back with the right hash is a consistent truncation of the table: only the
      // event store (a rebuild) can tell, and the rebuild puts the entries back.
      await bed.sql`update audit_chain_head set hash = ${row!.hash}`
      await projector.rebuild()
      expect(await verifyAuditChain(bed.sql)).toMatchObject({ ok: true, entries: 10 })
    })

    it('an entry inserted by hand in the middle (a free sequence, made with a gap)', async () => {
      // Shift from the end so the unique constraint holds, then fill the free place with a forged entry.
      await bed.sql`update audit_log set sequence = sequence + 100 where sequence >= 6`
      await bed.sql`update audit_log set sequence = sequence - 99 where sequence >= 106`
      await bed.sql`update audit_chain_head set sequence = 11`
      const [previous] = await bed.sql`select hash from audit_log where sequence = 5`
      const forged = { sequence: 6, id: 'forged', action: 'platform.ops.login.succeeded', occurredAt: '2025-03-01T09:30:00.000Z', actorUserId: alice.platformUserId, actorEmail: alice.email, operationRunId: null, context: {} }
      await bed.sql`
        insert into audit_log (id, action, occurred_at, actor_user_id, actor_email, operation_run_id, context, sequence, hash, previous_hash)
        values (${forged.id}, ${forged.action}, ${forged.occurredAt}, ${forged.actorUserId}, ${forged.actorEmail}, null, '{}',
          6, ${auditEntryHash(previous!.hash, forged)}, ${previous!.hash})`
      // The forged entry chains well; the genuine one after it does not chain from it.
      await expectBroken(7, /altered|chain/, 11)
    })

    it('an entry appended by hand after the newest', async () => {
      const rows = await chain()
      const forged = { sequence: 11, id: 'forged', action: 'platform.ops.login.succeeded', occurredAt: '2025-03-02T00:00:00.000Z', actorUserId: null, actorEmail: null, operationRunId: null, context: {} }
      await bed.sql`
        insert into audit_log (id, action, occurred_at, context, sequence, hash, previous_hash)
        values ('forged', ${forged.action}, ${forged.occurredAt}, '{}', 11, ${auditEntryHash(rows[9]!.hash, forged)}, ${rows[9]!.hash})`
      await expectBroken(11, /past the head/, 11)
    })

    it('an entry inserted by hand with a made-up hash', async () => {
      await bed.sql`
        insert into audit_log (id, action, occurred_at, context, sequence, hash, previous_hash)
        values ('forged', 'platform.ops.login.succeeded', now(), '{}', 11, ${'c'.repeat(64)}, ${'d'.repeat(64)})`
      await expectBroken(11, /does not chain/, 11)
    })

    /** A forged entry at `sequence` chained on the newest genuine one, then a login projected after it. */
    async function forgeThenLogIn(sequence: string): Promise<Row[]> {
      const rows = await chain()
      await bed.sql`
        insert into audit_log (id, action, occurred_at, context, sequence, hash, previous_hash)
        values ('forged', 'platform.ops.login.succeeded', now(), '{}', ${sequence}::bigint, ${'c'.repeat(64)}, ${rows[9]!.hash})`
      await bed.append(
        streams.login('h-alice'),
        { type: 'LoginSucceeded', data: { operatorId: 'op-alice', email: alice.email, channel: 'api', at: '2025-03-03T08:00:00.000Z' } },
        { kind: 'anonymous', email: alice.email, ip: alice.ip, userAgent: alice.userAgent },
        '2025-03-03T08:00:00.000Z',
        'login-after-forgery',
      )
      await bed.settle()
      await projector.waitUntilCaughtUp()
      return rows
    }

    it('an entry inserted by hand where the next would go: the log goes on after it, still naming it, and a rebuild puts the log right', async () => {
      const rows = await forgeThenLogIn('11')
      // Numbered after the forged entry, chained on the genuine one before it.
      const [next] = await bed.sql<Row[]>`select sequence, id, hash, previous_hash from audit_log where id <> 'forged' order by sequence desc limit 1`
      expect(next).toMatchObject({ sequence: '12', previous_hash: rows[9]!.hash })
      expect(await head()).toEqual([{ sequence: '12', hash: next!.hash }])
      await expectBroken(11, /altered|chain/, 12)
      await projector.rebuild()
      expect(await verifyAuditChain(bed.sql)).toMatchObject({ ok: true, entries: 11 })
    })

    it('an entry inserted by hand far beyond the chain (a bigint JavaScript numbers cannot hold): the log goes on, still naming it', async () => {
      await forgeThenLogIn('9223372036854775807')
      expect((await head())[0]).toMatchObject({ sequence: '11' })
      const result = await verifyAuditChain(bed.sql)
      expect(result).toMatchObject({ ok: false, entries: 12 })
    })

    it('the head edited', async () => {
      await bed.sql`update audit_chain_head set hash = ${'e'.repeat(64)}`
      await expectBroken(10, /head's hash/)
      expect((await verifyAuditChain(bed.sql)).headHash).toBe('e'.repeat(64))
    })

    it('the head deleted', async () => {
      await bed.sql`delete from audit_chain_head`
      expect(await verifyAuditChain(bed.sql)).toMatchObject({ ok: false, entries: 10, headHash: null, firstBrokenSequence: 10 })
    })
  })

  it('an empty log verifies, chaining from 64 zeros', async () => {
    await bed.sql.begin((tx) => auditLogProjection.reset!(tx))
    expect(await verifyAuditChain(bed.sql)).toEqual({ ok: true, entries: 0, headHash: GENESIS_HASH, firstBrokenSequence: null, problem: null })
  })
})
