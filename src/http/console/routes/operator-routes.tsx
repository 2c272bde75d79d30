import { Hono, type Context } from 'hono'
import { capabilities } from '../../../auth/capabilities.js'
import type { ConsoleSessionLifetime } from '../../../auth/console-sessions.js'
import { approvalSettings, setApprovalSettings } from '../../../commands/approvals.js'
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../../commands/errors.js'
import { createOperator, listOperators, setOperatorPassword, updateOperator, type OperatorCommandDeps } from '../../../commands/operators.js'
import type { Sql } from '../../../db/database.js'
import { findUnsafeText } from '../../../events/safe-text.js'
import type { EventLog } from '../../../store/event-log.js'
import { consolePaths, type ConsoleEnv } from '../console-env.js'
import { readFormBody } from '../csrf.js'
import { OperatorsPage, type OperatorAttempt, type OperatorForm, type OperatorFormValues } from '../pages/operators-page.js'
import { htmlPage, nonceOf, viewerOf } from '../render.js'
import { requireConsoleCapability, requireConsoleCsrf, requireConsoleSession } from '../session-guard.js'

import type { ScryptParams } from '../../../auth/password-hash.js'

export interface OperatorRouteDeps {
  sql: Sql
  log: EventLog
  /** Every capability of this deployment, the runbooks' own included: what the admin can grant. */
  knownCapabilities: readonly string[]
  lifetime?: ConsoleSessionLifetime
  hashParams?: ScryptParams
}

const OPERATOR_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/
const CAPABILITY_FIELD = 'cap:'

/** The page's forms as typed: capabilities are one checkbox each (`cap:<capability>`), so no array parsing is needed. */
function readOperatorForm(body: Record<string, unknown>, knownCapabilities: readonly string[]): OperatorFormValues & { password: string } {
  const text = (name: string, max: number) => {
    const value = body[name]
    return typeof value === 'string' ? value.slice(0, max) : ''
  }
  const held = Object.keys(body)
    .filter((key) => key.startsWith(CAPABILITY_FIELD))
    .map((key) => key.slice(CAPABILITY_FIELD.length))
  // Known ones in the page's order; an unknown one is passed on, so the command names it (422).
  const ordered = [...knownCapabilities.filter((c) => held.includes(c)), ...held.filter((c) => !knownCapabilities.includes(c)).slice(0, 20)]
  return {
    email: text('email', 400),
    name: text('name', 400),
    password: text('password', 1000),
    capabilities: ordered,
    isBreakGlass: body.isBreakGlass === 'on',
    required: text('required', 50),
  }
}

/**
 * SPEC §10 operator administration for holders of `platform.operators.manage`: GET /system/ops/operators,
 * POST …/operators (create), …/operators/:id (name, capabilities, break-glass), …/:id/disable, …/:id/enable,
 * …/:id/password, and …/operators/approvals (the approval setting). The commands decide; refusals re-render
 * the page with the form as typed (422 beside the fields; 409, 403 and 404 above the form).
 */
export function consoleOperatorRoutes(deps: OperatorRouteDeps) {
  const { knownCapabilities } = deps
  const commandDeps: OperatorCommandDeps = { sql: deps.sql, log: deps.log, knownCapabilities, ...(deps.hashParams ? { hashParams: deps.hashParams } : {}) }

  const page = async (c: Context<ConsoleEnv>, attempt: OperatorAttempt | null, status: 200 | 403 | 404 | 409 | 422 = 200) =>
    htmlPage(
      c,
      <OperatorsPage
        nonce={nonceOf(c)}
        viewer={viewerOf(c)!}
        operators={await listOperators(commandDeps, c.get('actor'))}
        knownCapabilities={knownCapabilities}
        approvals={await approvalSettings(deps.log)}
        attempt={attempt}
      />,
      status,
    )

  /** Reads the form, runs `act`, and answers a refusal with the page (form as typed) or a success with a 303 to `anchor`. */
  const handle =
    (form: (c: Context<ConsoleEnv>) => OperatorForm, act: (c: Context<ConsoleEnv>, values: ReturnType<typeof readOperatorForm>) => Promise<unknown>) =>
    async (c: Context<ConsoleEnv>) => {
      const which = form(c)
      const values = readOperatorForm(await readFormBody(c), knownCapabilities)
      const { password: _password, ...shown } = values
      const refused = (problems: OperatorAttempt['problems'], status: 403 | 404 | 409 | 422, message?: string) =>
        page(c, { form: which, values: shown, problems, ...(message ? { message } : {}) }, status)
      if ('id' in which && !OPERATOR_ID.test(which.id)) return refused([], 404, 'There is no such operator.')
      const unsafe = findUnsafeText({ email: values.email, name: values.name })
      if (unsafe.length > 0) return refused(unsafe.map((field) => ({ field, message: 'contains characters that cannot be stored' })), 422)
      try {
        await act(c, values)
      } catch (error) {
        if (error instanceof ValidationError) return refused(error.fields, 422)
        if (error instanceof ConflictError) return refused([], 409, `${capitalised(error.message)}. Nothing was changed.`)
        if (error instanceof NotFoundError) return refused([], 404, 'There is no such operator. Nothing was changed.')
        if (error instanceof ForbiddenError) {
          const message = error.missingCapabilities.length > 0 ? `You lack the capability needed here: ${error.missingCapabilities.join(', ')}.` : capitalised(error.message)
          return refused([], 403, `${message} Nothing was changed.`)
        }
        throw error
      }
      c.header('Cache-Control', 'no-store')
      const anchor = 'id' in which ? `#operator-${which.id}` : which.kind === 'approvals' ? '#approval-settings' : ''
      return c.redirect(`${consolePaths.operators}${anchor}`, 303)
    }

  const id = (c: Context<ConsoleEnv>) => c.req.param('id') ?? ''
  const guard = [requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.operatorsManage), requireConsoleCsrf('page')] as const
  return new Hono<ConsoleEnv>()
    .get('/operators', requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.operatorsManage), (c) => page(c, null))
    .post(
      '/operators/approvals',
      ...guard,
      handle(
        () => ({ kind: 'approvals' }),
        (c, values) => setApprovalSettings({ log: deps.log }, c.get('actor'), { required: values.required }),
      ),
    )
    .post(
      '/operators',
      ...guard,
      handle(
        () => ({ kind: 'create' }),
        (c, values) =>
          createOperator(commandDeps, c.get('actor'), {
            email: values.email,
            name: values.name,
            password: values.password,
            capabilities: values.capabilities,
            isBreakGlass: values.isBreakGlass,
          }),
      ),
    )
    .post(
      '/operators/:id',
      ...guard,
      handle(
        (c) => ({ kind: 'update', id: id(c) }),
        (c, values) =>
          updateOperator(commandDeps, c.get('actor'), id(c), { name: values.name, capabilities: values.capabilities, isBreakGlass: values.isBreakGlass }),
      ),
    )
    .post(
      '/operators/:id/disable',
      ...guard,
      handle(
        (c) => ({ kind: 'state', id: id(c) }),
        (c) => updateOperator(commandDeps, c.get('actor'), id(c), { disabled: true }),
      ),
    )
    .post(
      '/operators/:id/enable',
      ...guard,
      handle(
        (c) => ({ kind: 'state', id: id(c) }),
        (c) => updateOperator(commandDeps, c.get('actor'), id(c), { disabled: false }),
      ),
    )
    .post(
      '/operators/:id/password',
      ...guard,
      handle(
        (c) => ({ kind: 'password', id: id(c) }),
        (c, values) => setOperatorPassword(commandDeps, c.get('actor'), id(c), { password: values.password }),
      ),
    )
}

function capitalised(message: string): string {
  return message.charAt(0).toUpperCase() + message.slice(1)
}
