import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addWebhookDestination, removeAlertDestination } from '../../src/commands/alert-destinations.js'
import {
  checkedWebhookDestination,
  decideAlertDestination,
  evolveAlertDestination,
  initialAlertDestinationState,
  redactedWebhookUrl,
  webhookTarget,
  withoutCredentials,
  type AlertDestinationCommand,
} from '../../src/commands/alert-destinations-decider.js'
import { decideDeliveryAttempt, decideUndeliverable, retryDelayMs } from '../../src/commands/alert-destinations-delivery.js'
import { hostAllowed, InvalidAllowedHostError, parseAllowedHosts } from '../../src/commands/alert-destinations-hosts.js'
import { ConflictError, NotFoundError, ValidationError } from '../../src/commands/errors.js'
import type { Database } from '../../src/db/database.js'
import { migrateService } from '../../src/service-migrations.js'
import { EventLog } from '../../src/store/event-log.js'
import { PostgresEventStore } from '../../src/store/postgres-event-store.js'
import { databaseFlavours } from '../support/databases.js'
import { insertTenant } from '../runbooks/findings-fixture.js'
import { operator } from './command-database.js'

const at = '2026-01-01T00:00:00.000Z'
const add = (url: string, hosts: string | null = null): Extract<AlertDestinationCommand, { type: 'AddAlertDestination' }> => ({
  type: 'AddAlertDestination',
  id: 'D1',
  kind: 'webhook',
  url,
  secret: 'a secret',
  workspaceId: 1,
  hostPolicy: hosts === null ? null : parseAllowedHosts(hosts),
  at,
})

describe('OPS_WEBHOOK_ALLOWED_HOSTS', () => {
  it('matches host names exactly (case-insensitive), *.suffix for subdomains, and addresses against CIDR ranges', () => {
    const policy = parseAllowedHosts(' Hooks.Example.com , *.corp.test,10.0.0.0/8, 192.168.1.7, ::1, fd00::/8 ')
    expect(hostAllowed(policy, 'hooks.example.com')).toBe(true)
    expect(hostAllowed(policy, 'HOOKS.example.com.')).toBe(true)
    expect(hostAllowed(policy, 'evil-hooks.example.com')).toBe(false)
    expect(hostAllowed(policy, 'hooks.example.com.evil.test')).toBe(false)
    expect(hostAllowed(policy, 'a.corp.test')).toBe(true)
    expect(hostAllowed(policy, 'corp.test')).toBe(false)
    expect(hostAllowed(policy, '10.200.3.4')).toBe(true)
    expect(hostAllowed(policy, '11.0.0.1')).toBe(false)
    expect(hostAllowed(policy, '192.168.1.7')).toBe(true)
    expect(hostAllowed(policy, '192.168.1.8')).toBe(false)
    expect(hostAllowed(policy, '[::1]')).toBe(true)
    expect(hostAllowed(policy, '[fd12::5]')).toBe(true)
    expect(hostAllowed(policy, '[fe80::1]')).toBe(false)
    // Names are not resolved: a range admits no name but localhost, which is loopback by definition.
    expect(hostAllowed(parseAllowedHosts('10.0.0.0/8'), 'ten.internal')).toBe(false)
    expect(hostAllowed(parseAllowedHosts('127.0.0.0/8'), 'localhost')).toBe(true)
    expect(hostAllowed(parseAllowedHosts('::1'), 'LOCALHOST')).toBe(true)
    expect(hostAllowed(parseAllowedHosts('10.0.0.0/8'), 'localhost')).toBe(false)
    expect(hostAllowed(null, 'anything.at.all')).toBe(true)
  })

  it('refuses entries it cannot read', () => {
    for (const bad of ['', ' , ', '10.0.0.0/33', '10.0.0.0/8/1', 'exa mple.com', 'http://x.test', '::1/129']) {
      expect(() => parseAllowedHosts(bad), bad).toThrow(InvalidAllowedHostError)
    }
  })
})

describe('alert destination decider', () => {
  it('adds a webhook with an http(s) URL, recording only its scheme and host (its path, query and user info are credentials)', () => {
    const events = decideAlertDestination(add('https://bob:pw@hooks.example.com/services/T0/B0/XYZ?y=1'), initialAlertDestinationState())
    expect(events).toEqual([
      { type: 'AlertDestinationAdded', data: { destinationId: 'D1', workspaceId: 1, kind: 'webhook', url: 'https://hooks.example.com/…', addedAt: at } },
    ])
    expect(JSON.stringify(events)).not.toContain('pw')
    expect(JSON.stringify(events)).not.toContain('XYZ')
  })

  it('redacts a webhook URL to scheme://host[:port], eliding any path, query or fragment', () => {
    expect(redactedWebhookUrl('https://u:p@hooks.slack.com/services/T/B/secret')).toBe('https://hooks.slack.com/…')
    expect(redactedWebhookUrl('http://127.0.0.1:8080/?token=x')).toBe('http://127.0.0.1:8080/…')
    expect(redactedWebhookUrl('http://[::1]:9/#frag')).toBe('http://[::1]:9/…')
    expect(redactedWebhookUrl('https://hooks.example.com')).toBe('https://hooks.example.com/')
    expect(redactedWebhookUrl('not a url')).toBeNull()
    expect(redactedWebhookUrl('mailto:ops@example.com')).toBeNull()
  })

  it('refuses other schemes, non-URLs and hosts the policy does not allow (422 naming url)', () => {
    for (const [url, hosts] of [
      ['ftp://hooks.example.com/', null],
      ['javascript:alert(1)', null],
      ['hooks.example.com/x', null],
      ['http://10.0.0.1/', 'hooks.example.com'],
      ['http://hooks.example.com/', '10.0.0.0/8'],
    ] as const) {
      try {
        decideAlertDestination(add(url, hosts), initialAlertDestinationState())
        expect.unreachable(url)
      } catch (error) {
        expect(error, url).toBeInstanceOf(ValidationError)
        expect((error as ValidationError).fields.map((f) => f.field)).toEqual(['url'])
      }
    }
  })

  it('refuses a secret that is empty, longer than 1024 characters or unstorable, and unstorable URLs (422 naming the field)', () => {
    const fieldsOf = (command: ReturnType<typeof add>) => {
      try {
        decideAlertDestination(command, initialAlertDestinationState())
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError)
        return (error as ValidationError).fields
      }
      return expect.unreachable(command.url)
    }
    expect(fieldsOf({ ...add('http://127.0.0.1:9/x'), secret: '' })).toEqual([{ field: 'secret', message: 'is required' }])
    expect(fieldsOf({ ...add('http://127.0.0.1:9/x'), secret: 'x'.repeat(1025) })).toEqual([{ field: 'secret', message: 'must be at most 1024 characters' }])
    expect(fieldsOf({ ...add('http://127.0.0.1:9/x'), secret: 'a\u0000b' }).map((f) => f.field)).toEqual(['secret'])
    expect(fieldsOf({ ...add('http://127.0.0.1:9/x\u0000'), secret: '\uD800' }).map((f) => f.field)).toEqual(['url', 'secret'])
    expect(decideAlertDestination({ ...add('http://127.0.0.1:9/x'), secret: 'x'.repeat(1024) }, initialAlertDestinationState())).toHaveLength(1)
  })

  it('one check of a webhook URL for the decider and the sender, saying why it cannot be posted to', () => {
    const policy = parseAllowedHosts('hooks.example.com')
    const reason = (url: string) => {
      const checked = webhookTarget(url, policy)
      return checked.ok ? checked.url.href : checked.reason
    }
    expect(reason('https://hooks.example.com/x')).toBe('https://hooks.example.com/x')
    expect(reason('ftp://hooks.example.com/x')).toBe('scheme')
    expect(reason('https://evil.test/x')).toBe('host')
    expect(reason('not a url')).toBe('not_a_url')
    // Line breaks and tabs the parser would drop in silence: refused, not rewritten into another URL.
    expect(reason('https://hooks.example.com/\r\nX-Injected: 1')).toBe('not_a_url')
    expect(reason('https://hooks.example.com/a\tb')).toBe('not_a_url')
    expect(reason(' https://hooks.example.com/x ')).toBe('https://hooks.example.com/x')
    expect(reason('https://hooks.example.com/\u0000')).toBe('unstorable')
    expect(reason(`https://hooks.example.com/${'x'.repeat(2048)}`)).toBe('too_long')
  })

  it('stores the URL as parsed and normalised (user info kept for the sender), never the raw input', () => {
    expect(checkedWebhookDestination({ url: 'HTTP://bob:pw@Hooks.Example.com:80/a/./b c', secret: 's' }, null).target).toBe('http://bob:pw@hooks.example.com/a/b%20c')
  })

  it('removes an active destination once; a removed or unknown one is not found; an id is added once', () => {
    const added = decideAlertDestination(add('http://127.0.0.1:9/x'), initialAlertDestinationState())
    const active = added.reduce((state, event) => evolveAlertDestination(state, { event }), initialAlertDestinationState())
    expect(active).toMatchObject({ status: 'active', kind: 'webhook' })
    expect(() => decideAlertDestination(add('http://127.0.0.1:9/x'), active)).toThrow(ConflictError)
    const removed = decideAlertDestination({ type: 'RemoveAlertDestination', id: 'D1', at }, active)
    expect(removed).toEqual([{ type: 'AlertDestinationRemoved', data: { destinationId: 'D1', removedAt: at } }])
    const gone = removed.reduce((state, event) => evolveAlertDestination(state, { event }), active)
    expect(() => decideAlertDestination({ type: 'RemoveAlertDestination', id: 'D1', at }, gone)).toThrow(NotFoundError)
    expect(() => decideAlertDestination({ type: 'RemoveAlertDestination', id: 'D1', at }, initialAlertDestinationState())).toThrow(NotFoundError)
  })

  it('shows URLs without user info', () => {
    expect(withoutCredentials('https://u:p@h.test/a')).toBe('https://h.test/a')
    expect(withoutCredentials('/api/alert-inbox')).toBe('/api/alert-inbox')
  })
})

describe('delivery attempts', () => {
  const policy = { baseDelayMs: 1_000, maxDelayMs: 60_000, giveUpAfterMs: 24 * 3_600_000 }
  const t0 = new Date('2026-01-01T00:00:00Z')

  it('a 2xx delivers; anything else is retried after a jittered, doubling, capped wait', () => {
    expect(decideDeliveryAttempt({ attempts: 0, firstAttemptAt: null }, { kind: 'answered', status: 204 }, { at: t0, policy, random: 0 })).toEqual({
      status: 'delivered',
      attempts: 1,
      firstAttemptAt: t0.toISOString(),
      lastAttemptAt: t0.toISOString(),
      nextAttemptAt: null,
      deliveredAt: t0.toISOString(),
      lastError: null,
    })
    const redirected = decideDeliveryAttempt({ attempts: 0, firstAttemptAt: null }, { kind: 'answered', status: 302 }, { at: t0, policy, random: 1 })
    expect(redirected).toMatchObject({ status: 'recorded', attempts: 1, lastError: 'HTTP 302', nextAttemptAt: '2026-01-01T00:00:01.000Z' })
    const timedOut = decideDeliveryAttempt({ attempts: 3, firstAttemptAt: t0.toISOString() }, { kind: 'error', errorClass: 'TIMEOUT' }, { at: t0, policy, random: 0 })
    expect(timedOut).toMatchObject({ status: 'recorded', attempts: 4, lastError: 'TIMEOUT', nextAttemptAt: '2026-01-01T00:00:04.000Z' })
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(n, policy, 1))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000])
    expect(retryDelayMs(7, policy, 0)).toBe(30_000)
  })

  it('the last retry is at the 24 h mark at the latest; a failure then fails the delivery', () => {
    const first = t0.toISOString()
    const late = new Date(t0.getTime() + 24 * 3_600_000 - 10_000)
    const last = decideDeliveryAttempt({ attempts: 40, firstAttemptAt: first }, { kind: 'answered', status: 500 }, { at: late, policy, random: 1 })
    expect(last).toMatchObject({ status: 'recorded', nextAttemptAt: '2026-01-02T00:00:00.000Z' })
    const cutoff = decideDeliveryAttempt({ attempts: 41, firstAttemptAt: first }, { kind: 'answered', status: 500 }, { at: new Date('2026-01-02T00:00:00Z'), policy, random: 1 })
    expect(cutoff).toMatchObject({ status: 'failed', attempts: 42, nextAttemptAt: null, lastError: 'HTTP 500' })
    expect(decideUndeliverable({ attempts: 2, firstAttemptAt: first }, 'DESTINATION_REMOVED')).toMatchObject({ status: 'failed', attempts: 2, lastError: 'DESTINATION_REMOVED' })
  })
})

describe.each(databaseFlavours())('alert destination commands on $name', ({ open }) => {
  let db: Database
  const manager = operator({ capabilities: ['platform.operators.manage'] })

  beforeAll(async () => {
    db = await open()
    await migrateService(db.sql, { postgresEventStore: true, runbooks: [] })
    await insertTenant(db.sql, { id: 1, workspaceId: 1, name: 'Platform', isPlatform: true })
  })
  afterAll(async () => {
    await db?.close()
  })

  /** An event log whose first `readers` stream reads wait for each other: they all load the same state. */
  function gatedLog(readers: number): EventLog {
    let waiting = 0
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    return new (class extends EventLog {
      override async read(...args: Parameters<EventLog['read']>) {
        const loaded = await super.read(...args)
        if (waiting < readers) {
          waiting += 1
          if (waiting === readers) release()
          await gate
        }
        return loaded
      }
    })(new PostgresEventStore(db.sql))
  }

  it('two removals of one destination at once: one removes it, the other finds it removed (not found), one event', async () => {
    const added = await addWebhookDestination({ sql: db.sql, log: new EventLog(new PostgresEventStore(db.sql)), hostPolicy: null }, manager, {
      url: 'http://127.0.0.1:9/race',
      secret: 's',
    })
    // Both load the destination active before either appends: the loser's append is refused, and it decides again.
    const deps = { sql: db.sql, log: gatedLog(2), hostPolicy: null }
    const outcomes = await Promise.allSettled([removeAlertDestination(deps, manager, added.id), removeAlertDestination(deps, manager, added.id)])
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
    const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult
    expect(refused.reason).toBeInstanceOf(NotFoundError)
    const events = await db.sql<Array<{ type: string }>>`
      select type from event_store_events where stream_id = ${`alertDestination-${added.id}`} order by revision`
    expect(events.map((e) => e.type)).toEqual(['AlertDestinationAdded', 'AlertDestinationRemoved'])
  })
})
