import { alertsProjection } from './alerts.js'
import { auditLogProjection } from './audit-log.js'
import { operationRunsProjection } from './operation-runs.js'
import { Projector, type ProjectorOptions, type Projection } from './projector.js'

/** The checkpoint name of the service's read-model projector. */
export const readModelProjectorName = 'read-models'

/**
 * The service's projections in the order they must apply: the audit log and the alerts read the run's
 * row that `operation-runs` wrote for an earlier event (in the same or an earlier batch).
 */
export function readModelProjections(options: { consoleBaseUrl: string }): Projection[] {
  return [operationRunsProjection, auditLogProjection, alertsProjection(options)]
}

/**
 * The projections a rebuild replays into new tables (read-model-rebuild.ts): those whose tables are
 * `rebuiltReadModelTables`. Alerts are not among them: deliveries are a record of alerts raised, never
 * recomputed (a rebuild raising old alerts again, to destinations added since, would be wrong).
 */
export function rebuiltReadModelProjections(): Projection[] {
  return [operationRunsProjection, auditLogProjection]
}

/** The service's read-model projector: these projections under this checkpoint (the service, a rebuild, the bench). */
export function readModelProjector(
  options: Omit<ProjectorOptions, 'name' | 'projections'> & { consoleBaseUrl: string },
): Projector {
  const { consoleBaseUrl, ...rest } = options
  return new Projector({ ...rest, name: readModelProjectorName, projections: readModelProjections({ consoleBaseUrl }) })
}

/**
 * The tables a rebuild builds again and switches to (and `Projector.rebuild` empties and fills again, the
 * projections' `reset`); alert deliveries are a record of alerts raised, kept by a rebuild, and alert
 * destinations are configuration.
 */
export const rebuiltReadModelTables = ['operation_runs', 'operation_run_tenants', 'operation_run_controls', 'audit_log', 'audit_chain_head'] as const
