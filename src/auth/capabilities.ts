/** The platform-wide capabilities of SPEC §6; each runbook adds one of its own (see the runbook catalog). */
export const capabilities = {
  opsView: 'platform.ops.view',
  runbooksView: 'platform.runbooks.view',
  runbooksRun: 'platform.runbooks.run',
  /** SPEC §9: engage and lift the deployment-wide halt. */
  opsHalt: 'platform.ops.halt',
  /** SPEC §10: operator administration and the approval settings. */
  operatorsManage: 'platform.operators.manage',
  /** SPEC §10: approve or reject another operator's start. */
  runbooksApprove: 'platform.runbooks.approve',
} as const

export type BaseCapability = (typeof capabilities)[keyof typeof capabilities]

/** A base capability or a runbook's own (`platform.runbooks.<runbook>`, e.g. `platform.runbooks.findings.lifecycle_backfill`). */
export type Capability = BaseCapability | `platform.runbooks.${string}`

/** The capabilities of `needed` that `held` lacks, in the order needed. */
export function missingCapabilities(held: readonly string[], needed: readonly string[]): string[] {
  return needed.filter((capability) => !held.includes(capability))
}

/** Every capability there is: the base ones plus each runbook's, without duplicates (base ones first). */
export function allCapabilities(runbookCapabilities: string[]): string[] {
  return [...new Set<string>([...Object.values(capabilities), ...runbookCapabilities])]
}
