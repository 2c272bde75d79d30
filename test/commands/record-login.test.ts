import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NOT_AN_EMAIL, recordLoginAttempt, type LoginOutcome } from '../../src/commands/record-login.js'
import { databaseFlavours } from '../support/databases.js'
import { openCommandDatabase, type CommandDatabase } from './command-database.js'

const PASSWORD = 'correct horse battery staple'

for (const flavour of databaseFlavours()) {
  describe(`recordLoginAttempt on ${flavour.name}`, () => {
    let env: CommandDatabase

    beforeAll(async () => {
      env = await openCommandDatabase(flavour.open)
    })
    afterAll(async () => {
      await env?.close()
    })

    async function attempt(email: string, outcome: LoginOutcome) {
      // A careless caller might hand over the whole login form; the password must still go nowhere.
      const form = { email, password: PASSWORD, ip: '198.51.100.4', userAgent: 'curl/8', channel: 'console' as const, outcome }
      await recordLoginAttempt(env.log, form)
    }

    it.each([
      ['LoginSucceeded', { kind: 'succeeded', operatorId: 'op-ada' }, { operatorId: 'op-ada' }],
      ['LoginFailed', { kind: 'failed' }, {}],
      ['LoginRateLimited', { kind: 'rate_limited', retryAfterSeconds: 42 }, { retryAfterSeconds: 42 }],
    ] as const)('records %s with an anonymous initiator and no password', async (type, outcome, extra) => {
      const email = `  ${type}@Example.COM `
      const normalised = `${type.toLowerCase()}@example.com`
      await attempt(email, outcome)

      const [stream, ...others] = await env.streamsWithType(type)
      expect(others).toEqual([])
      expect(stream).toMatch(/^login-[0-9a-f]{32}$/) // the stream name carries no e-mail
      const { events } = await env.log.read(stream!)
      expect(events).toHaveLength(1)
      const [{ event, metadata }] = events as [(typeof events)[number]]
      expect(event).toEqual({ type, data: { email: normalised, channel: 'console', at: expect.any(String), ...extra } })
      expect(metadata.initiator).toEqual({ kind: 'anonymous', email: normalised, ip: '198.51.100.4', userAgent: 'curl/8' })
      expect(metadata.causationId).toBeNull()

      const [row] = await env.db.sql<Array<{ data: string; metadata: string }>>`
        select data::text, metadata::text from event_store_events where stream_id = ${stream!}`
      const stored = `${row!.data} ${row!.metadata}`
      expect(stored).not.toContain(PASSWORD)
      expect(stored).not.toMatch(/password/i)
    })

    it('records text that is no email address (a password typed in the wrong box) as such, hashed into no stream', async () => {
      const typedInTheWrongBox = 'Tr0ub4dor-and-3-horses'
      await attempt(typedInTheWrongBox, { kind: 'failed' })
      const rows = await env.db.sql<Array<{ stream_id: string; data: string; metadata: string }>>`
        select stream_id, data::text, metadata::text from event_store_events where type = 'LoginFailed'`
      const stored = rows.map((r) => `${r.stream_id} ${r.data} ${r.metadata}`).join('\n')
      expect(stored.toLowerCase()).not.toContain(typedInTheWrongBox.toLowerCase())
      expect(rows.some((r) => JSON.parse(r.data).email === NOT_AN_EMAIL)).toBe(true)
    })

    it('groups the attempts on one e-mail, however it was typed, in one stream', async () => {
      await attempt('grace@example.com', { kind: 'failed' })
      await attempt(' GRACE@example.com', { kind: 'failed' })
      const emailsByStream = await Promise.all(
        (await env.streamsWithType('LoginFailed')).map(async (stream) =>
          (await env.log.read(stream)).events.flatMap(({ event }) => (event.type === 'LoginFailed' ? [event.data.email] : [])),
        ),
      )
      expect(emailsByStream.filter((emails) => emails.includes('grace@example.com'))).toEqual([['grace@example.com', 'grace@example.com']])
    })
  })
}
