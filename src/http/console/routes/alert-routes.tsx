import { Hono, type Context } from 'hono'
import { listRaisedAlerts, listReceivedAlerts } from '../../../alerts/alert-queries.js'
import { capabilities } from '../../../auth/capabilities.js'
import type { ConsoleSessionLifetime } from '../../../auth/console-sessions.js'
import { addWebhookDestination, readAlertDestinations, removeAlertDestination } from '../../../commands/alert-destinations.js'
import type { WebhookHostPolicy } from '../../../commands/alert-destinations-hosts.js'
import { ConflictError, NotFoundError, ValidationError } from '../../../commands/errors.js'
import type { Sql } from '../../../db/database.js'
import type { EventLog } from '../../../store/event-log.js'
import { consolePaths, type ConsoleEnv } from '../console-env.js'
import { readFormBody } from '../csrf.js'
import { AlertsPage, type AlertDestinationAttempt } from '../pages/alerts-page.js'
import { htmlPage, nonceOf, viewerOf } from '../render.js'
import { requireConsoleCapability, requireConsoleCsrf, requireConsoleSession } from '../session-guard.js'

export interface AlertRouteDeps {
  sql: Sql
  log: EventLog
  hostPolicy: WebhookHostPolicy | null
  lifetime?: ConsoleSessionLifetime
}

const PAGE_SIZE = 50

/**
 * GET /system/ops/alerts (`platform.ops.view`): alerts raised and their deliveries, what the console's
 * inbox received, and — for `platform.operators.manage` — the destinations, with POST …/alerts/destinations
 * (add a webhook) and POST …/alerts/destinations/:id/remove (session → CSRF → capability → the command).
 */
export function consoleAlertRoutes(deps: AlertRouteDeps) {
  const commandDeps = { sql: deps.sql, log: deps.log, hostPolicy: deps.hostPolicy }
  const page = async (c: Context<ConsoleEnv>, attempt: AlertDestinationAttempt | null, status: 200 | 404 | 409 | 422 = 200) => {
    const viewer = viewerOf(c)!
    const manages = viewer.capabilities.includes(capabilities.operatorsManage)
    return htmlPage(
      c,
      <AlertsPage
        nonce={nonceOf(c)}
        viewer={viewer}
        alerts={await listRaisedAlerts(deps.sql, PAGE_SIZE)}
        received={await listReceivedAlerts(deps.sql, PAGE_SIZE)}
        destinations={manages ? await readAlertDestinations(deps.sql) : null}
        attempt={attempt}
      />,
      status,
    )
  }

  const handle =
    (form: (c: Context<ConsoleEnv>) => AlertDestinationAttempt['form'], act: (c: Context<ConsoleEnv>, values: { url: string; secret: string }) => Promise<unknown>) =>
    async (c: Context<ConsoleEnv>) => {
      const which = form(c)
      const body = await readFormBody(c)
      const text = (name: string, max: number) => (typeof body[name] === 'string' ? (body[name] as string).slice(0, max) : '')
      const values = { url: text('url', 4096), secret: text('secret', 2048) }
      const refused = (problems: AlertDestinationAttempt['problems'], status: 404 | 409 | 422, message?: string) =>
        page(c, { form: which, url: values.url, problems, ...(message ? { message } : {}) }, status)
      try {
        await act(c, values)
      } catch (error) {
        if (error instanceof ValidationError) return refused(error.fields, 422)
        if (error instanceof ConflictError) return refused([], 409, `${error.message}. Nothing was changed.`)
        if (error instanceof NotFoundError) return refused([], 404, 'There is no such destination. Nothing was changed.')
        throw error
      }
      c.header('Cache-Control', 'no-store')
      return c.redirect(`${consolePaths.alerts}#alert-destinations-title`, 303)
    }

  const guard = [requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.operatorsManage), requireConsoleCsrf('page')] as const
  return new Hono<ConsoleEnv>()
    .get('/alerts', requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.opsView), (c) => page(c, null))
    .post(
      '/alerts/destinations',
      ...guard,
      handle(
        () => 'add',
        // The form has no kind: it adds webhooks. The URL's and the secret's rules (an empty or unstorable
        // secret, a NUL in the URL, …) are the command's, as for the API: the same 422.
        (c, values) => addWebhookDestination(commandDeps, c.get('actor'), values),
      ),
    )
    .post(
      '/alerts/destinations/:id/remove',
      ...guard,
      handle(
        (c) => ({ remove: c.req.param('id') ?? '' }),
        (c) => removeAlertDestination(commandDeps, c.get('actor'), c.req.param('id') ?? ''),
      ),
    )
}
