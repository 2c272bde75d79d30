/** The CLI's exit codes: scripts branch on them, so they are part of its contract. */
export const exitCodes = {
  ok: 0,
  /**
   * A followed run completed with an outcome other than `succeeded` (`cancelled` included), or succeeded
   * and its verification found findings still to change (SPEC §11).
   */
  runNotSucceeded: 1,
  /**
   * Bad arguments, or the API refused the request (4xx other than 401/403/423): invalid values (422), an
   * unknown run or runbook (404), a run whose state does not allow the command (409, the state named), a
   * start pinned to a preview whose plan drifted (409 `PLAN_DRIFTED`).
   */
  usage: 2,
  /** `start` found an identical run already active, or `retry` an active retry of the run (HTTP 409; its id on stdout). */
  activeRun: 3,
  /** Not logged in, token expired or rejected (401), or a missing capability (403). */
  access: 4,
  /** The service is unreachable or failed (network error, 5xx). */
  unavailable: 5,
  /** Refused while the deployment is halted (HTTP 423 `HALTED`): starts, resumes, retries, approvals. */
  halted: 6,
  /** `audit verify`: the audit log's hash chain is broken (an entry altered, deleted or inserted by hand). */
  auditBroken: 7,
  /** Interrupted at a prompt or while following (Ctrl-C), as shells report SIGINT. */
  interrupted: 130,
} as const

export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes]

/** A usage mistake the CLI detects before calling the API (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** The operator interrupted an interactive prompt. */
export class InterruptedError extends Error {
  override name = 'InterruptedError'
}
