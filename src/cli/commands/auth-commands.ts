import { ApiClient, ApiError } from '../api-client.js'
import type { CommandContext } from '../command-context.js'
import { deleteCredentials, readCredentials, saveCredentials } from '../credentials.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'
import { printable } from '../format.js'
import { promptHiddenPassword, readPasswordFromStdin } from '../password-input.js'

export interface LoginOptions {
  email: string
  passwordStdin?: boolean
}

/** Exchanges email and password for an API token and stores it (never printed) for the next commands. */
export async function login(context: CommandContext, options: LoginOptions): Promise<ExitCode> {
  const { io } = context
  const password = options.passwordStdin
    ? await readPasswordFromStdin(io.stdin)
    : await promptHiddenPassword(io.stdin, io.stderr)
  const issued = await context.client.createToken(options.email, password)
  const now = new Date()
  const expiresAt = typeof issued.expiresIn === 'number' ? new Date(now.getTime() + issued.expiresIn * 1000).toISOString() : null
  const url = context.connection.baseUrl
  await saveCredentials(context.credentialsFile, {
    url,
    email: options.email,
    token: issued.token,
    savedAt: now.toISOString(),
    expiresAt,
  })
  if (context.json) context.printJson({ url, email: options.email, credentialsFile: context.credentialsFile, expiresAt })
  else {
    const until = expiresAt ? ` until ${expiresAt}` : ''
    context.print(`Logged in to ${url} as ${printable(options.email)}${until}; token stored in ${context.credentialsFile}`)
  }
  if (io.env.RCP_TOKEN) context.note('note: $RCP_TOKEN is set and overrides the stored token')
  return exitCodes.ok
}

/** What became of the stored token on the service: revoked, already dead (401), or not known (no answer). */
type Revocation = 'revoked' | 'already_invalid' | 'unreachable' | 'none'

/**
 * Revokes the stored token on the service that issued it (`DELETE /api/auth/tokens/current`), then forgets
 * it. When the service cannot be reached (or fails), the token is still forgotten here and the operator is
 * told it stays valid until it expires. `$RCP_TOKEN` is neither revoked nor unset: it is not ours to touch.
 */
export async function logout(context: CommandContext): Promise<ExitCode> {
  const stored = await readCredentials(context.credentialsFile)
  let revocation: Revocation = 'none'
  let problem = ''
  if (stored) {
    try {
      await new ApiClient({ baseUrl: stored.url, token: stored.token }).revokeCurrentToken()
      revocation = 'revoked'
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) revocation = 'already_invalid'
      else {
        revocation = 'unreachable'
        problem = error instanceof Error ? error.message : String(error)
      }
    }
  }
  const removed = await deleteCredentials(context.credentialsFile)
  if (context.json) context.printJson({ loggedOut: removed, tokenRevoked: revocation === 'revoked' || revocation === 'already_invalid', credentialsFile: context.credentialsFile })
  else if (!removed) context.print('Not logged in: no stored credentials')
  else {
    const onService = {
      revoked: 'the token is revoked',
      already_invalid: 'the token had already expired or been revoked',
      unreachable: 'the token could NOT be revoked',
      none: '',
    }[revocation]
    context.print(`Logged out: ${onService ? `${onService}; ` : ''}removed ${context.credentialsFile}`)
  }
  if (revocation === 'unreachable') {
    context.note(`warning: ${printable(problem)}; the token was forgotten here but stays valid on ${printable(stored?.url)} until it expires`)
  }
  if (context.io.env.RCP_TOKEN) context.note('note: $RCP_TOKEN is still set and still used (logout neither revokes nor unsets it)')
  return exitCodes.ok
}
