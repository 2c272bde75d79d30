import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DomainEvent, Initiator } from '../../../src/events/index.js'
import { timelineFollowFrom, timelineOf, timelineWindow, TIMELINE_WINDOW } from '../../../src/http/console/run-timeline.js'
import type { LoggedEvent } from '../../../src/store/event-log.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../../support/service.js'
import { consoleLogin, consoleRequest, createConsoleOperator, parseServerSentEvents, type ConsoleSession } from './console-client.js'

const ada: Initiator = { kind: 'operator', platformUserId: 'op-ada', email: 'ada@ops.test', name: 'Ada Admin', isBreakGlass: false, ip: null, userAgent: null }
const worker: Initiator = { kind: 'system', component: 'tenant-worker' }
const names = new Map([[11, 'Acme'], [12, 'Globex']])

function logged(revision: number, event: DomainEvent, initiator: Initiator, occurredAt = `2025-05-01T08:00:${String(revision % 60).padStart(2, '0')}.000Z`): LoggedEvent {
  return {
    event,
    metadata: { eventId: `00000000-0000-4000-8000-${String(revision + 1).padStart(12, '0')}`, correlationId: 'run-1', causationId: null, initiator, occurredAt },
    version: 1,
    streamId: 'run-1',
    revision,
    position: `1:${revision + 1}`,
    recordedAt: new Date(occurredAt),
  }
}

const processed = (tenantId: number, result: any, at = '2025-05-01T08:01:00.000Z'): DomainEvent =>
  ({ type: 'TenantProcessed', data: { runId: 'run-1', tenantId, attempt: 1, result, processedAt: at, startedAt: null, completedAt: null } }) as DomainEvent

describe('the run timeline in words (SPEC §12)', () => {
  it('says who did what and why: an operator pause, the service\'s budget pause, a tenant that failed', () => {
    const entries = timelineOf(
      [
        logged(0, { type: 'RunPaused', data: { runId: 'run-1', reason: { reasonCode: 'INCIDENT', reasonText: 'importer misbehaves' }, pausedAt: '2025-05-01T08:00:00.000Z' } }, ada),
        logged(1, processed(42, { status: 'failed', reasonCode: 'INVALID_DATA', message: "finding 7 has severity 'urgent'" }), worker),
        logged(2, { type: 'RunPaused', data: { runId: 'run-1', reason: { reasonCode: 'ERROR_BUDGET_EXCEEDED', reasonText: '1 tenant failed' }, pausedAt: '2025-05-01T08:02:00.000Z' } }, worker),
        logged(3, { type: 'RunApproved', data: { runId: 'run-1', comment: null, approvedAt: '2025-05-01T08:03:00.000Z' } }, ada),
      ],
      names,
      'findings',
    )
    expect(entries.map(({ who, what, why, at }) => ({ who, what, why, at }))).toEqual([
      { who: 'Ada Admin (ada@ops.test)', what: 'paused the run', why: { code: 'INCIDENT', text: 'importer misbehaves' }, at: '2025-05-01T08:00:00.000Z' },
      { who: 'the service (tenant worker)', what: "tenant #42 failed: finding 7 has severity 'urgent'", why: { code: 'INVALID_DATA', text: "finding 7 has severity 'urgent'" }, at: '2025-05-01T08:01:00.000Z' },
      { who: 'the service (tenant worker)', what: 'paused the run', why: { code: 'ERROR_BUDGET_EXCEEDED', text: '1 tenant failed' }, at: '2025-05-01T08:02:00.000Z' },
      { who: 'Ada Admin (ada@ops.test)', what: 'approved', why: null, at: '2025-05-01T08:03:00.000Z' },
    ])
    expect(entries[0]!.events[0]).toMatchObject({ type: 'RunPaused', revision: 0, position: '1:1', data: { reason: { reasonCode: 'INCIDENT' } } })
  })

  it('summarises the tenant results of one append in one line, each event still behind it', () => {
    const at = '2025-05-01T08:05:00.000Z'
    const batch = [
      processed(11, { status: 'succeeded', total: 8, updated: 5 }, at),
      processed(12, { status: 'failed', reasonCode: 'INVALID_DATA', message: 'finding 9 is odd' }, at),
      processed(13, { status: 'succeeded', total: 2, updated: 0 }, at),
    ].map((event, i) => logged(4 + i, event, worker, at))
    const single = logged(7, processed(14, { status: 'succeeded', total: 1, updated: 1 }, '2025-05-01T08:06:00.000Z'), worker, '2025-05-01T08:06:00.000Z')
    const [grouped, alone] = timelineOf([...batch, single], names, 'findings')
    expect(grouped).toMatchObject({
      revision: 4,
      lastRevision: 6,
      what: 'recorded 3 tenant results: 2 succeeded (5 findings updated), 1 failed: Globex (#12)',
      why: { code: 'INVALID_DATA', text: 'finding 9 is odd' },
    })
    expect(grouped!.events.map((e) => e.revision)).toEqual([4, 5, 6])
    expect(grouped!.label).toBe('3 × TenantProcessed, revisions 4–6')
    expect(alone).toMatchObject({ revision: 7, lastRevision: 7, what: 'tenant #14 succeeded: 1 of 1 finding updated', why: null, label: 'TenantProcessed, revision 7' })
  })

  it('shows the latest events of a long run, earlier ones a page away', () => {
    const events = Array.from({ length: 450 }, (_, i) => logged(i, { type: 'RunStarted', data: { runId: 'run-1', startedAt: '2025-05-01T08:00:00.000Z' } }, worker))
    const latest = timelineWindow(events, names, 'findings')
    expect(latest).toMatchObject({ total: 450, from: 450 - TIMELINE_WINDOW, to: 450, latest: true, earlierBefore: 250, laterBefore: null })
    expect(latest.entries.map((e) => e.revision)).toEqual(Array.from({ length: TIMELINE_WINDOW }, (_, i) => 250 + i))
    expect(timelineWindow(events, names, 'findings', 250)).toMatchObject({ from: 50, to: 250, latest: false, earlierBefore: 50, laterBefore: null })
    expect(timelineWindow(events, names, 'findings', 50)).toMatchObject({ from: 0, to: 50, earlierBefore: null, laterBefore: 250 })
    expect(timelineWindow(events, names, 'findings', 10_000)).toMatchObject({ from: 250, to: 450, latest: true })
  })

  it('follows from the page\'s last revision, or from what a reconnecting browser last received', () => {
    expect(timelineFollowFrom(undefined, '7')).toBeNull()
    expect(timelineFollowFrom('3', undefined)).toBe(3)
    expect(timelineFollowFrom('3', '9')).toBe(9)
    expect(timelineFollowFrom('9', '3')).toBe(9)
    expect(timelineFollowFrom('-1', 'garbage')).toBe(-1)
    expect(timelineFollowFrom('x', undefined)).toBeNull()
  })
})

describe('the run timeline on the console (embedded)', () => {
  let service: TestService
  let admin: ConsoleSession
  let runId: string
  let events: any[]

  beforeAll(async () => {
    service = await serviceFlavours()[0]!.start()
    admin = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view']))
    const token = await service.token()
    const started = await service.request('POST', '/api/runbooks/findings.lifecycle.backfill/runs', {
      token,
      json: { scope: 'all_tenants', confirmation: 'findings.lifecycle.backfill', reason: { code: 'DATA_REPAIR', text: 'normalise legacy finding lifecycles' } },
    })
    runId = started.body.runId
    await waitUntil(async () => runIsSettled((await service.request('GET', `/api/runs/${runId}`, { token })).body), 'the run settled')
    events = (await service.request('GET', `/api/runs/${runId}/events`, { token })).body.items
  }, 120_000)

  afterAll(async () => {
    await service?.close()
  })

  const stream = (query: string, headers: Record<string, string> = {}) =>
    consoleRequest(service, 'GET', `/system/ops/runs/${runId}/events/stream${query}`, { cookies: admin.cookies, headers: { accept: 'text/event-stream', ...headers } })

  it('streams the events after the page\'s last revision as `timeline`, before the run\'s completion', async () => {
    const sent = parseServerSentEvents((await stream('?after=1')).text)
    const timeline = sent.filter((e) => e.event === 'timeline').flatMap((e) => JSON.parse(e.data))
    expect(timeline[0].revision).toBe(2)
    expect(timeline.at(-1).lastRevision).toBe(events.length - 1)
    expect(timeline.flatMap((entry: any) => entry.events)).toEqual(events.slice(2))
    expect(sent.findIndex((e) => e.event === 'timeline')).toBeLessThan(sent.findIndex((e) => e.event === 'completed'))
    // A reconnecting browser resumes after what it received.
    const resumed = parseServerSentEvents((await stream('?after=1', { 'last-event-id': String(events.length - 2) })).text)
    expect(resumed.filter((e) => e.event === 'timeline').flatMap((e) => JSON.parse(e.data)).map((entry: any) => entry.revision)).toEqual([events.length - 1])
    // A page that follows no timeline (an earlier window) gets none.
    expect(parseServerSentEvents((await stream('')).text).some((e) => e.event === 'timeline')).toBe(false)
  })

  it('pages to earlier events and back', async () => {
    const earlier = await consoleRequest(service, 'GET', `/system/ops/runs/${runId}?eventsBefore=2`, { cookies: admin.cookies })
    expect(earlier.status).toBe(200)
    expect(earlier.text).toContain(`Events 1 to 2 of ${events.length}.`)
    expect(earlier.text).toContain('id="run-timeline-later"')
    expect(earlier.text).not.toContain('id="run-timeline-earlier"')
    expect(earlier.text.match(/class="timeline-entry"/g)).toHaveLength(2)
    const latest = await consoleRequest(service, 'GET', `/system/ops/runs/${runId}`, { cookies: admin.cookies })
    expect(latest.text).toContain(`Every event of the run (${events.length}).`)
    expect(latest.text).not.toContain('id="run-timeline-later"')
    const ignored = await consoleRequest(service, 'GET', `/system/ops/runs/${runId}?eventsBefore=%00x`, { cookies: admin.cookies })
    expect(ignored.text).toContain(`Every event of the run (${events.length}).`)
  })
})
