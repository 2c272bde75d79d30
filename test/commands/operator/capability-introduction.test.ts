import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authSchema, ensureBootstrapAdmin, findOperatorRecord, listOperatorRecords } from '../../../src/auth/operator-store.js'
import {
  CAPABILITIES_BEFORE_INTRODUCTIONS,
  decideCapabilityIntroduction,
  evolveCapabilityIntroduction,
  initialCapabilityIntroductionState,
} from '../../../src/commands/operator/capability-introduction.js'
import { introduceCapabilities, updateOperator } from '../../../src/commands/operators.js'
import type { Database } from '../../../src/db/database.js'
import { applyMigrations } from '../../../src/db/migrations.js'
import { streams } from '../../../src/events/index.js'
import { EventLog } from '../../../src/store/event-log.js'
import { eventStoreSchema, PostgresEventStore } from '../../../src/store/postgres-event-store.js'
import { testCatalog } from '../../support/catalog.js'
import { databaseFlavours } from '../../support/databases.js'
import { operator } from '../command-database.js'

const SLA = 'platform.runbooks.findings.sla_recalculate'
const at = '2026-12-03T06:00:00.000Z'

describe('capability introduction (SPEC §10: the bootstrap admin holds every capability)', () => {
  const known = [...CAPABILITIES_BEFORE_INTRODUCTIONS, SLA]
  const admin = { id: 'op-admin', capabilities: [...CAPABILITIES_BEFORE_INTRODUCTIONS] }

  it('introduces what the earlier release did not know, granting it to the bootstrap admin', () => {
    expect(decideCapabilityIntroduction(initialCapabilityIntroductionState, { known, bootstrapAdmin: admin, at })).toEqual({
      events: [{ type: 'CapabilitiesIntroduced', data: { capabilities: [SLA], grantedTo: 'op-admin', at } }],
      bootstrapAdminCapabilities: [...admin.capabilities, SLA],
    })
  })

  it('introduces once: after that, a start changes nothing, even if the admin lost the capability since', () => {
    const [event] = decideCapabilityIntroduction(initialCapabilityIntroductionState, { known, bootstrapAdmin: admin, at }).events
    const state = evolveCapabilityIntroduction(initialCapabilityIntroductionState, { event: event! })
    expect(decideCapabilityIntroduction(state, { known, bootstrapAdmin: admin, at })).toEqual({ events: [], bootstrapAdminCapabilities: null })
  })

  it('records without a grant when the admin already holds it (a new deployment) or there is no operator yet', () => {
    const holder = { id: 'op-admin', capabilities: known }
    expect(decideCapabilityIntroduction(initialCapabilityIntroductionState, { known, bootstrapAdmin: holder, at }).bootstrapAdminCapabilities).toBeNull()
    expect(decideCapabilityIntroduction(initialCapabilityIntroductionState, { known, bootstrapAdmin: null, at }).events[0]!.data).toMatchObject({ grantedTo: null })
  })
})

describe.each(databaseFlavours())('introduceCapabilities on $name', ({ open }) => {
  let db: Database
  let log: EventLog
  const deps = () => ({ sql: db.sql, log, knownCapabilities: testCatalog.knownCapabilities })

  beforeAll(async () => {
    db = await open()
    await applyMigrations(db.sql, [eventStoreSchema, authSchema])
    log = new EventLog(new PostgresEventStore(db.sql))
    // A deployment bootstrapped by the previous release, which knew one runbook.
    await ensureBootstrapAdmin(db.sql, { email: 'root@ops.test', password: 'a long enough password' }, CAPABILITIES_BEFORE_INTRODUCTIONS, {
      hashParams: { N: 1024, r: 8, p: 1 },
    })
  })
  afterAll(async () => {
    await db?.close()
  })

  it('grants the new runbook’s capability to the bootstrap admin, by the service, on the operator’s stream, once', async () => {
    const [admin] = await listOperatorRecords(db.sql)
    expect(admin!.capabilities).not.toContain(SLA)

    expect(await introduceCapabilities(deps())).toEqual([SLA])
    expect((await findOperatorRecord(db.sql, admin!.id))!.capabilities).toContain(SLA)
    const { events } = await log.read(streams.operator(admin!.id))
    expect(events.map((e) => [e.event.type, e.metadata.initiator])).toEqual([
      ['OperatorCapabilitiesChanged', { kind: 'system', component: 'auth' }],
    ])
    expect((await log.read(streams.capabilities())).events.map((e) => e.event.data)).toEqual([
      { capabilities: [SLA], grantedTo: admin!.id, at: expect.any(String) },
    ])

    // Every later start: nothing new.
    expect(await introduceCapabilities(deps())).toEqual([])
    expect((await log.read(streams.operator(admin!.id))).events).toHaveLength(1)
  })

  it('does not give a capability back that an administrator took away after its introduction', async () => {
    const [admin] = await listOperatorRecords(db.sql)
    const other = operator({ operatorId: 'op-other', capabilities: ['platform.operators.manage'] })
    await updateOperator(deps(), other, admin!.id, { capabilities: admin!.capabilities.filter((c) => c !== SLA) })
    expect(await introduceCapabilities(deps())).toEqual([])
    expect((await findOperatorRecord(db.sql, admin!.id))!.capabilities).not.toContain(SLA)
  })

  it('processes starting together introduce it once', async () => {
    const fresh = await open()
    try {
      await applyMigrations(fresh.sql, [eventStoreSchema, authSchema])
      await ensureBootstrapAdmin(fresh.sql, { email: 'root@ops.test', password: 'a long enough password' }, CAPABILITIES_BEFORE_INTRODUCTIONS, {
        hashParams: { N: 1024, r: 8, p: 1 },
      })
      const freshLog = new EventLog(new PostgresEventStore(fresh.sql))
      const results = await Promise.all(
        Array.from({ length: 4 }, () => introduceCapabilities({ sql: fresh.sql, log: freshLog, knownCapabilities: testCatalog.knownCapabilities })),
      )
      expect(results.flat()).toEqual([SLA])
      expect((await freshLog.read(streams.capabilities())).events).toHaveLength(1)
      const [admin] = await listOperatorRecords(fresh.sql)
      expect(admin!.capabilities.filter((c) => c === SLA)).toHaveLength(1)
      expect((await freshLog.read(streams.operator(admin!.id))).events.map((e) => e.event.type)).toEqual(['OperatorCapabilitiesChanged'])
    } finally {
      await fresh.close()
    }
  })
})
