import { Hono, type Context } from 'hono'
import { capabilities } from '../../../auth/capabilities.js'
import type { ConsoleSessionLifetime } from '../../../auth/console-sessions.js'
import type { Sql } from '../../../db/database.js'
import { findUnsafeText } from '../../../events/safe-text.js'
import { verifyAuditChain } from '../../../projections/audit-chain.js'
import { auditActions } from '../../../projections/audit-log.js'
import { InvalidCursorError, listAudit } from '../../../projections/queries.js'
import { auditQuerySchema } from '../../schemas/audit-schemas.js'
import type { ConsoleEnv } from '../console-env.js'
import { AuditPage, auditPageHref, type AuditFilters } from '../pages/audit-page.js'
import { htmlPage, nonceOf, viewerOf } from '../render.js'
import { requireConsoleCapability, requireConsoleSession } from '../session-guard.js'

export interface AuditRouteDeps {
  sql: Sql
  lifetime?: ConsoleSessionLifetime
}

const PAGE_SIZE = 50
const ACTIONS: readonly string[] = Object.values(auditActions)

/**
 * GET /system/ops/audit (`platform.ops.view`, as `GET /api/audit`): the audit log newest first, filtered by
 * action, operator and run through the API's own query schema and `listAudit`, under the chain's state as
 * `GET /api/audit/verify` reports it.
 */
export function consoleAuditRoutes(deps: AuditRouteDeps) {
  const auditPage = async (c: Context<ConsoleEnv>) => {
    const raw = c.req.query()
    const filters: AuditFilters = { action: raw.action?.trim() ?? '', operator: raw.operator?.trim() ?? '', runId: raw.runId?.trim() ?? '' }
    // Empty fields of the GET form mean "any": left out before the API's schema reads the rest.
    const present = Object.fromEntries(Object.entries({ ...filters, cursor: raw.cursor ?? '' }).filter(([, value]) => value !== ''))
    const parsed = auditQuerySchema.safeParse({ ...present, limit: PAGE_SIZE })
    const errors: string[] = []
    if (findUnsafeText(present).length > 0 || !parsed.success) errors.push('Some filters were not understood; showing every entry.')
    const query = parsed.success && errors.length === 0 ? parsed.data : auditQuerySchema.parse({ limit: PAGE_SIZE })
    const shown: AuditFilters = errors.length === 0 ? filters : { action: '', operator: '', runId: '' }
    let status: 200 | 400 = errors.length > 0 ? 400 : 200
    const chain = verifyAuditChain(deps.sql)
    let page: Awaited<ReturnType<typeof listAudit>>
    try {
      page = await listAudit(deps.sql, query)
    } catch (error) {
      if (!(error instanceof InvalidCursorError)) throw error
      errors.push('That page link is not valid any more; showing the newest entries.')
      status = 400
      page = await listAudit(deps.sql, { ...query, cursor: null })
    }
    return htmlPage(
      c,
      <AuditPage
        nonce={nonceOf(c)}
        viewer={viewerOf(c)!}
        entries={page.items}
        chain={await chain}
        filters={shown}
        actions={ACTIONS}
        nextPageHref={page.nextCursor ? auditPageHref(shown, page.nextCursor) : null}
        isLaterPage={Boolean(query.cursor) && status === 200}
        errors={errors}
      />,
      status,
    )
  }
  return new Hono<ConsoleEnv>().get('/audit', requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.opsView), auditPage)
}
