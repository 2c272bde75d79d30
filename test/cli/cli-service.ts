import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { serviceFlavours, waitUntil, type TestService } from '../support/service.js'

export interface CliService {
  api: TestService
  /** What `rcp` reads: the service's URL, the admin's token, and a credentials file of its own. */
  env: Record<string, string>
  close(): Promise<void>
}

/**
 * A real service (the first flavour: embedded) for `rcp` commands, with the admin logged in and the
 * credentials file in a fresh folder named after `folderPrefix`. Resolves once the admin's login is
 * audited: the login is the last change of the setup (after the start's own, e.g. the console's alert
 * destination), so a test about the audit log starts from a log that no longer grows.
 */
async function startCliService(folderPrefix: string): Promise<CliService> {
  const api = await serviceFlavours()[0]!.start()
  let folder: string | undefined
  try {
    folder = await mkdtemp(join(tmpdir(), folderPrefix))
    const env = { RCP_URL: api.baseUrl, RCP_CONFIG: join(folder, 'admin.json'), RCP_TOKEN: await api.token() }
    await waitUntil(
      async () => (await api.sql`select count(*)::int as n from audit_log where action = 'platform.ops.login.succeeded'`)[0]!.n > 0,
      'the login audited',
    )
    const made = folder
    return {
      api,
      env,
      async close() {
        await api.close()
        await rm(made, { recursive: true, force: true })
      },
    }
  } catch (error) {
    await api.close()
    if (folder) await rm(folder, { recursive: true, force: true })
    throw error
  }
}

/**
 * Starts a CliService before the file's tests (`beforeAll`) and closes it after them: the setup every
 * `rcp` test against a real service shares. Read `api` and `env` inside the tests.
 */
export function useCliService(folderPrefix: string): Pick<CliService, 'api' | 'env'> {
  let started: CliService | undefined
  beforeAll(async () => {
    started = await startCliService(folderPrefix)
  })
  afterAll(async () => {
    await started?.close()
  })
  const current = (): CliService => {
    if (!started) throw new Error('the CLI service is started in beforeAll: use it inside a test')
    return started
  }
  return {
    get api() {
      return current().api
    },
    get env() {
      return current().env
    },
  }
}
