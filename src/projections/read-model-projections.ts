import { alertsProjection } from './alerts.js'
import { auditLogProjection } from './audit-log.js'
import { operationRunsProjection } from './operation-runs.js'
import type { Projection } from './projector.js'

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
 * The tables a rebuild empties and fills again (the projections' `reset`); alert deliveries are a record of
 * alerts raised, kept by a rebuild, and alert destinations are configuration.
 */
export const rebuiltReadModelTables = ['operation_runs', 'operation_run_tenants', 'operation_run_controls', 'audit_log'] as const
