import { capabilities } from '../auth/capabilities.js'
import type { Sql } from '../db/database.js'
import { readModelRebuildsStream, type Initiator } from '../events/index.js'
import type { ProjectorLogger } from '../projections/projector.js'
import { rebuildReadModels, type RebuildReport } from '../projections/read-model-rebuild.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, requireCapabilities, type Actor } from './actor.js'

export interface RebuildReadModelsDeps {
  sql: Sql
  log: EventLog
  /** Alert payloads of the events the switch projects link to the console. */
  consoleBaseUrl: string
  logger?: ProjectorLogger
  now?: () => Date
}

/**
 * SPEC §12 "Projection rebuild", as an operator asks for it (`rcp admin rebuild`: an administrative action on
 * the whole deployment, like managing operators) or as the deployment's own command runs it
 * (`npm run rebuild-projections`, which only someone with access to the database can run). A rebuild that
 * switched is recorded (`ReadModelsRebuilt`), so the audit log says who rebuilt the read models and which
 * tables held rows the event store does not give. A rebuild that did not switch changed nothing and records
 * nothing.
 */
export async function rebuildReadModelsAs(deps: RebuildReadModelsDeps, by: Actor | 'deployment'): Promise<RebuildReport> {
  if (by !== 'deployment') requireCapabilities(by, [capabilities.operatorsManage])
  const report = await rebuildReadModels({
    sql: deps.sql,
    store: deps.log.store,
    consoleBaseUrl: deps.consoleBaseUrl,
    ...(deps.logger ? { logger: deps.logger } : {}),
  })
  const initiator: Initiator = by === 'deployment' ? { kind: 'system', component: 'rebuild-projections' } : initiatorOf(by)
  await deps.log.append(
    readModelRebuildsStream(),
    [
      {
        type: 'ReadModelsRebuilt',
        data: {
          events: report.events,
          position: report.position,
          same: report.same,
          changedTables: report.tables.filter((table) => !table.same).map((table) => table.table),
          rebuiltAt: (deps.now ?? (() => new Date()))().toISOString(),
        },
      },
    ],
    'any',
    { correlationId: readModelRebuildsStream(), causationId: null, initiator },
  )
  return report
}
