import { ApiClient } from './api-client.js'
import { credentialsPath, readCredentials, resolveConnection, type Connection } from './credentials.js'
import { reportError } from './error-report.js'
import type { ExitCode } from './exit-codes.js'
import { tenantNamesOf, UNKNOWN_UNIT, type TenantNames } from './format.js'
import type { CliIo } from './io.js'

/** The options every command takes (declared once on the program). */
export interface GlobalOptions {
  url?: string
  json?: boolean
}

/** What a command needs: where to print, whether to print JSON, and a client for the resolved URL and token. */
export class CommandContext {
  readonly client: ApiClient

  constructor(
    readonly io: CliIo,
    readonly json: boolean,
    readonly connection: Connection,
    readonly credentialsFile: string,
  ) {
    this.client = new ApiClient({ baseUrl: connection.baseUrl, token: connection.token })
  }

  /** A line of text on stdout. */
  print(text: string | null): void {
    if (text !== null) this.io.stdout.write(`${text}\n`)
  }

  /** The API's JSON as it came (indented), for `--json`. */
  printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
  }

  /** A note for the operator that is not the command's output (stderr, so pipes stay clean). */
  note(text: string): void {
    this.io.stderr.write(`${text}\n`)
  }

  /**
   * Tenant names to label tenant ids with. Best effort: an operator without `platform.runbooks.view`, or a
   * tenant that left the universe, still gets the ids.
   */
  async tenantNames(): Promise<TenantNames> {
    try {
      return tenantNamesOf((await this.client.listTenants({ limit: 1000 })).items)
    } catch {
      return new Map()
    }
  }

  /** What a runbook's counts count (the catalog's `unit`, SPEC §13); best effort, `rows` when unknown. */
  async runbookUnit(runbookKey: string): Promise<string> {
    try {
      const unit = (await this.client.listRunbooks()).items.find((runbook) => runbook.key === runbookKey)?.unit
      return typeof unit === 'string' && unit !== '' ? unit : UNKNOWN_UNIT
    } catch {
      return UNKNOWN_UNIT
    }
  }
}

export interface ExecuteOptions {
  /** The API's field names as this command's options, so validation errors name what to fix. */
  fieldFlags?: Record<string, string>
  suppressLoginHint?: boolean
  /** The run the command is about, for the messages of a 404 or a 409. */
  runId?: string
  /** The hint for a 403 that names no missing capability. */
  forbiddenHint?: string
  /** The hint for a 404 of a command about something other than a run. */
  notFoundHint?: string
}

/** Runs one command's body and turns whatever it throws into the message and exit code of `reportError`. */
export async function execute(
  io: CliIo,
  globals: GlobalOptions,
  body: (context: CommandContext) => Promise<ExitCode>,
  options: ExecuteOptions = {},
): Promise<ExitCode> {
  const json = globals.json === true
  let baseUrl: string | undefined
  let sentToken = false
  try {
    const file = credentialsPath(io.env)
    const connection = resolveConnection(io.env, globals.url, await readCredentials(file))
    baseUrl = connection.baseUrl
    sentToken = connection.token !== null
    return await body(new CommandContext(io, json, connection, file))
  } catch (error) {
    return reportError(error, { io, json, baseUrl, sentToken, ...options })
  }
}
