import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { authSchema, ensureBootstrapAdmin, listOperatorRecords } from '../../../src/auth/operator-store.js'
import { capabilities } from '../../../src/auth/capabilities.js'
import { ConflictError } from '../../../src/commands/errors.js'
import { createOperator, updateOperator, type OperatorCommandDeps } from '../../../src/commands/operators.js'
import type { Database, Sql } from '../../../src/db/database.js'
import { applyMigrations } from '../../../src/db/migrations.js'
import { EventLog } from '../../../src/store/event-log.js'
import { eventStoreSchema, PostgresEventStore } from '../../../src/store/postgres-event-store.js'
import { testCatalog } from '../../support/catalog.js'
import { databaseFlavours } from '../../support/databases.js'
import { operator } from '../command-database.js'

/**
 * SPEC §10: the last enabled operator holding `platform.operators.manage` cannot lose it or be disabled (409).
 * Two administrators taking it from each other at the same moment must not both succeed.
 */
describe.each(databaseFlavours())('the last operator manager on $name', ({ open }) => {
  let db: Database
  let log: EventLog

  beforeEach(async () => {
    db = await open()
    await applyMigrations(db.sql, [eventStoreSchema, authSchema])
    log = new EventLog(new PostgresEventStore(db.sql))
    await ensureBootstrapAdmin(db.sql, { email: 'root@ops.test', password: 'a long enough password' }, testCatalog.knownCapabilities, {
      hashParams: { N: 1024, r: 8, p: 1 },
    })
  })
  afterEach(async () => {
    await db?.close()
  })

  const deps = (sql: Sql = db.sql): OperatorCommandDeps => ({ sql, log, knownCapabilities: testCatalog.knownCapabilities, hashParams: { N: 1024, r: 8, p: 1 } })
  const asOperator = (record: { id: string; email: string; capabilities: readonly string[] }) =>
    operator({ operatorId: record.id, email: record.email, capabilities: record.capabilities })

  /** The SQL client, its transactions held until `count` of them have been asked for (both commands decided). */
  function transactionsTogether(count: number): Sql {
    let waiting = 0
    let release!: () => void
    const together = new Promise<void>((resolve) => (release = resolve))
    return new Proxy(db.sql, {
      get(target, property, receiver) {
        if (property !== 'begin') return Reflect.get(target, property, receiver) as unknown
        return async (...args: unknown[]) => {
          if (++waiting === count) release()
          await together
          return (target.begin as (...a: unknown[]) => Promise<unknown>)(...args)
        }
      },
    })
  }

  it('of two administrators demoting each other at once, one is refused (409) and one manager is left', async () => {
    const [root] = await listOperatorRecords(db.sql)
    const dave = await createOperator(deps(), asOperator(root!), {
      email: 'dave@ops.test',
      name: 'Dave',
      password: 'another long password',
      capabilities: [capabilities.opsView, capabilities.operatorsManage],
    })
    const viewOnly = { capabilities: [capabilities.opsView] }
    const racing = deps(transactionsTogether(2))
    const outcomes = await Promise.allSettled([
      updateOperator(racing, asOperator(root!), dave.id, viewOnly),
      updateOperator(racing, asOperator(dave), root!.id, viewOnly),
    ])
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected'])
    const refusal = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!.reason as unknown
    expect(refusal).toBeInstanceOf(ConflictError)
    const managers = (await listOperatorRecords(db.sql)).filter((o) => !o.disabled && o.capabilities.includes(capabilities.operatorsManage))
    expect(managers).toHaveLength(1)
  })
})
