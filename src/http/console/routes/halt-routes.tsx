import { Hono, type Context } from 'hono'
import { capabilities } from '../../../auth/capabilities.js'
import { ForbiddenError, InvalidTransitionError, ValidationError } from '../../../commands/errors.js'
import { haltDeployment, haltView, liftHalt } from '../../../commands/halt.js'
import type { ConsoleSessionLifetime } from '../../../auth/console-sessions.js'
import type { Sql } from '../../../db/database.js'
import type { EventLog } from '../../../store/event-log.js'
import { consolePaths, type ConsoleEnv } from '../console-env.js'
import { readFormBody } from '../csrf.js'
import { HaltPage, type HaltAttempt } from '../pages/halt-page.js'
import { htmlPage, nonceOf, viewerOf } from '../render.js'
import { readControlForm, reasonOf, unsafeFieldProblems } from '../run-controls.js'
import { refuse, requireConsoleCapability, requireConsoleCsrf, requireConsoleSession } from '../session-guard.js'

export interface HaltRouteDeps {
  sql: Sql
  log: EventLog
  lifetime?: ConsoleSessionLifetime
}

/**
 * GET /system/ops/halt (the halt and its form), POST …/halt (engage) and POST …/halt/lift, for holders of
 * `platform.ops.halt`; the commands (src/commands/halt.ts) check the capability and the reason again.
 */
export function consoleHaltRoutes(deps: HaltRouteDeps) {
  const page = async (c: Context<ConsoleEnv>, attempt: HaltAttempt | null, status: 200 | 409 | 422 = 200) => {
    // The halt as of now: after a refused change it may differ from what the page showed.
    const halt = await haltView(deps.log)
    c.set('halt', halt)
    return htmlPage(c, <HaltPage nonce={nonceOf(c)} viewer={viewerOf(c)!} halt={halt} attempt={attempt} />, status)
  }

  const change = (engage: boolean) => async (c: Context<ConsoleEnv>) => {
    const form = readControlForm(await readFormBody(c))
    const values = { reasonCode: form.reasonCode, reasonText: form.reasonText }
    const unsafe = unsafeFieldProblems(form)
    if (unsafe.length > 0) return page(c, { values, problems: unsafe }, 422)
    try {
      const reason = reasonOf(form)
      if (engage) await haltDeployment(deps, c.get('actor'), { reason })
      else await liftHalt(deps, c.get('actor'), { reason })
    } catch (error) {
      if (error instanceof ValidationError) return page(c, { values, problems: error.fields }, 422)
      if (error instanceof InvalidTransitionError) {
        const message = engage
          ? 'The deployment is already halted: nothing was changed. The halt below is the one in force.'
          : 'The deployment is not halted: there is no halt to lift. Nothing was changed.'
        return page(c, { values, problems: [], message }, 409)
      }
      if (error instanceof ForbiddenError) {
        return refuse(c, 'page', 403, 'Not allowed', `You lack the capability needed here: ${error.missingCapabilities.join(', ')}.`)
      }
      throw error
    }
    c.header('Cache-Control', 'no-store')
    return c.redirect(consolePaths.halt, 303)
  }

  const guard = [requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.opsHalt), requireConsoleCsrf('page')] as const
  return new Hono<ConsoleEnv>()
    .get('/halt', requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.opsHalt), (c) => page(c, null))
    .post('/halt', ...guard, change(true))
    .post('/halt/lift', ...guard, change(false))
}
