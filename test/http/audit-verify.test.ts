import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { expectProblem } from './problem-assertions.js'

/** SPEC §12: GET /api/audit/verify recomputes the audit log's hash chain (platform.ops.view). */
describe.each(serviceFlavours())('GET /api/audit/verify: $name', (flavour) => {
  let api: TestService
  let token: string

  beforeAll(async () => {
    api = await flavour.start()
    token = await api.token() // a login: an audit entry
    await waitUntil(
      async () => (await api.sql`select count(*)::int as n from audit_log where action = 'platform.ops.login.succeeded'`)[0]!.n > 0,
      'the login audited',
    )
  })

  afterAll(async () => {
    await api?.close()
  })

  it('lists the entries with their sequence, hash and the hash they chain from (GET /api/audit)', async () => {
    await api.operatorToken(['platform.runbooks.view']) // an operator made and logged in: more entries
    // The new operator's login is the last change: once audited, every earlier one is too (projected in order).
    await waitUntil(
      async () => (await api.sql`select count(*)::int as n from audit_log where action = 'platform.ops.login.succeeded'`)[0]!.n > 1,
      'the new operator audited',
    )
    const listed = await api.request('GET', '/api/audit', { token })
    expect(listed.status).toBe(200)
    const items = listed.body.items as Array<{ sequence: number; hash: string; previousHash: string }>
    const rows = await api.sql<Array<{ sequence: string; hash: string; previous_hash: string }>>`
      select sequence::text, hash, previous_hash from audit_log order by sequence`
    expect([...items].sort((a, b) => a.sequence - b.sequence)).toEqual(
      rows.slice(-items.length).map((r) => expect.objectContaining({ sequence: Number(r.sequence), hash: r.hash, previousHash: r.previous_hash })),
    )
    const bySequence = new Map(items.map((item) => [item.sequence, item]))
    for (const item of items) {
      const before = bySequence.get(item.sequence - 1)
      expect(item.previousHash).toBe(before ? before.hash : item.sequence === 1 ? '0'.repeat(64) : item.previousHash)
    }
  })

  it("lets an auditor recompute every listed entry's hash from the item alone, as SPEC §12 defines it", async () => {
    const items = (await api.request('GET', '/api/audit?limit=200', { token })).body.items as Array<Record<string, unknown>>
    expect(items.length).toBeGreaterThan(0)
    // Written here from the sentence, not with the service's code: keys sorted at every level, no whitespace.
    const canonical = (value: unknown): string =>
      value === null || typeof value !== 'object'
        ? JSON.stringify(value)
        : Array.isArray(value)
          ? `[${value.map(canonical).join(',')}]`
          : `{${Object.keys(value as object).sort().map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`).join(',')}}`
    for (const item of items) {
      const { hash, previousHash, ...entry } = item
      const recomputed = createHash('sha256').update(`${previousHash as string}${canonical(entry)}`, 'utf8').digest('hex')
      expect(recomputed, `entry ${String(item.sequence)} (${String(item.action)})`).toBe(hash)
    }
  })

  it('answers 200 with the chain verified, and names the first entry edited by hand', async () => {
    const intact = await api.request('GET', '/api/audit/verify', { token })
    expect(intact.status).toBe(200)
    expect(intact.body).toEqual({ ok: true, entries: expect.any(Number), headHash: expect.stringMatching(/^[0-9a-f]{64}$/), firstBrokenSequence: null, problem: null })
    expect(intact.body.entries).toBeGreaterThan(0)
    const [head] = await api.sql`select hash from audit_chain_head`
    expect(intact.body.headHash).toBe(head!.hash)

    await api.sql`update audit_log set actor_email = 'mallory@evil.example' where sequence = 1`
    const broken = await api.request('GET', '/api/audit/verify', { token })
    expect(broken.status).toBe(200)
    expect(broken.body).toMatchObject({ ok: false, firstBrokenSequence: 1, problem: expect.stringMatching(/entry 1\b/) })
  })

  it('answers 403 without platform.ops.view', async () => {
    const operator = await api.operatorToken(['platform.runbooks.view'])
    const response = await api.request('GET', '/api/audit/verify', { token: operator })
    expectProblem(response, 403)
    expect(response.body.missingCapabilities).toContain('platform.ops.view')
    expectProblem(await api.request('GET', '/api/audit/verify'), 401)
  })
})
