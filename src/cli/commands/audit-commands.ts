import type { AuditChainVerification } from '../api-client.js'
import type { CommandContext } from '../command-context.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'

/** `rcp audit verify` (SPEC §12): the service recomputes the hash chain; exit 7 when it is broken. */
export async function verifyAudit(context: CommandContext): Promise<ExitCode> {
  const verification = await context.client.verifyAudit()
  if (context.json) context.printJson(verification)
  else context.print(formatAuditVerification(verification))
  return verification.ok ? exitCodes.ok : exitCodes.auditBroken
}

export function formatAuditVerification(v: AuditChainVerification): string {
  const lines = v.ok
    ? [`Audit log intact: ${v.entries} ${v.entries === 1 ? 'entry' : 'entries'} verified.`]
    : [
        `Audit log BROKEN at entry ${v.firstBrokenSequence ?? '?'}: ${v.problem ?? 'the chain does not verify'}.`,
        `Entries   ${v.entries}`,
      ]
  lines.push(`Head hash ${v.headHash ?? '(missing)'}`)
  return lines.join('\n')
}
