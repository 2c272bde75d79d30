import { allCapabilities } from '../auth/capabilities.js'
import { findingsLifecycleBackfill } from './findings-lifecycle-backfill.js'
import type { Runbook } from './runbook.js'

/** Every runbook the control plane offers, in catalog order. Adding a runbook = one module + one entry. */
export const runbookCatalog: readonly Runbook[] = Object.freeze([findingsLifecycleBackfill])

export function findRunbook(key: string): Runbook | undefined {
  return runbookCatalog.find((runbook) => runbook.key === key)
}

/** Every capability an operator can hold in this deployment: the base ones and each runbook's own. */
export const knownCapabilities: readonly string[] = Object.freeze(allCapabilities(runbookCatalog.map((runbook) => runbook.requiredCapability)))
