/** Stream names. A stream is the consistency boundary of one decider. */
export const streams = {
  run: (runId: string) => `run-${runId}`,
  runIdentity: (runIdentityHash: string) => `runIdentity-${runIdentityHash}`,
  /** The deployment-wide halt (SPEC §9): one stream for the whole deployment. */
  halt: () => 'deployment-halt',
  /** An operator's administration (SPEC §10). */
  operator: (operatorId: string) => `operator-${operatorId}`,
  /** Which capabilities this deployment has introduced (a new runbook's reaches the bootstrap admin once). */
  capabilities: () => 'deployment-capabilities',
  /** The approval settings (SPEC §10): one stream for the deployment. */
  approvalSettings: () => 'settings-approvals',
  preflight: (preflightId: string) => `preflight-${preflightId}`,
  /** Login attempts are grouped by the email tried, hashed so the stream name carries no PII. */
  login: (emailHash: string) => `login-${emailHash}`,
} as const
