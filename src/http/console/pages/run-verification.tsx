import type { FC } from 'hono/jsx'
import type { RunDetail } from '../../../projections/queries.js'
import { isVerifiable, verificationExpected, VERIFY_WITHIN_WORDS } from '../../../commands/run/run-decider.js'
import { Time } from '../layout.js'
import { tenantLabel, type TenantNames } from '../tenant-reference.js'

export interface RunVerificationProps {
  run: Pick<RunDetail, 'status' | 'outcome' | 'verification' | 'revertOf' | 'completedAt'>
  /** What the runbook's counts count, plural. */
  unit: string
  tenantNames: TenantNames
}

/**
 * SPEC §11: what re-scanning the succeeded tenants after completion found still to change. "Verified: 0
 * remaining" with its time; a warning with the count and the tenants when something would still change;
 * "Not verified yet" for a succeeded/partially succeeded run not verified yet (or "Not verified" when it
 * completed too long before the verifier met it: it will not be); nothing for other outcomes
 * or a run still in progress. The page of a run in progress or awaiting its verification follows the live
 * stream, which sends this section once the verification is recorded.
 */
export const RunVerification: FC<RunVerificationProps> = ({ run, unit, tenantNames }) => {
  const verification = run.verification
  const revertOf = run.revertOf
  // A revert run is never verified (the runbook's scan would find what it put back): nothing to wait for.
  if (run.status !== 'completed' && revertOf !== null) return null
  if (run.status !== 'completed') {
    return (
      <p class="alert info" id="run-verification-pending" role="status" hidden>
        Verifying: the service re-scans the run's tenants shortly after it completes; what it finds shows here. If it does not,{' '}
        <a href="">reload the page</a>.
      </p>
    )
  }
  if (!verification && !isVerifiable({ outcome: run.outcome ?? '', revertOf })) return null
  return (
    <section class="card" aria-labelledby="verification-title" id="run-verification">
      <h2 id="verification-title">Verification</h2>
      {!verification && !verificationExpected(run, new Date()) ? (
        <p id="run-not-verified" role="status">
          Not verified: the service verifies a run only within {VERIFY_WITHIN_WORDS} of its completion, and none was recorded for this one.
        </p>
      ) : !verification ? (
        <p id="run-not-verified" role="status">
          Not verified yet: the service re-scans the run's succeeded tenants shortly after it completes; what it finds shows here. If it
          does not, <a href="">reload the page</a>.
        </p>
      ) : verification.remaining === 0 ? (
        <p id="run-verified">
          <strong>Verified: 0 remaining</strong> · <Time at={verification.verifiedAt} />
        </p>
      ) : (
        <div class="alert warn" role="status" id="run-verified-residue">
          <p>
            <strong>
              Verified: {verification.remaining} {unit} would still change
            </strong>{' '}
            · <Time at={verification.verifiedAt} />
          </p>
          <ul id="run-verification-tenants">
            {verification.tenantsWithRemaining.map((tenant) => (
              <li>
                {tenantLabel(tenantNames, tenant.tenantId)}: {tenant.remaining}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  )
}
