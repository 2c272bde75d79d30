import { findingsLifecycleBackfill } from './findings-lifecycle-backfill.js'
import { findingsSlaRecalculate } from './findings-sla-recalculate.js'
import type { Runbook } from './runbook.js'

/** The runbooks this product ships, in catalog order. Adding a runbook = its module + one entry here. */
export const builtInRunbooks: readonly Runbook[] = [findingsLifecycleBackfill, findingsSlaRecalculate]
