import type { CommandContext } from '../command-context.js'
import { deleteCredentials, saveCredentials } from '../credentials.js'
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

/** Forgets the stored token. The token itself stays valid on the service until it expires. */
export async function logout(context: CommandContext): Promise<ExitCode> {
  const removed = await deleteCredentials(context.credentialsFile)
  if (context.json) context.printJson({ loggedOut: removed, credentialsFile: context.credentialsFile })
  else context.print(removed ? `Logged out: removed ${context.credentialsFile}` : 'Not logged in: no stored credentials')
  if (context.io.env.RCP_TOKEN) context.note('note: $RCP_TOKEN is still set and still used')
  return exitCodes.ok
}
