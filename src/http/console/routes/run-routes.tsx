import { Hono, type Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { z } from 'zod'
import { capabilities } from '../../../auth/capabilities.js'
import type { Sql } from '../../../db/database.js'
import { runOutcomeSchema, runStatusSchema, streams } from '../../../events/index.js'
import { findUnsafeText } from '../../../events/safe-text.js'
import { getRun, InvalidCursorError, listRuns, waitForRun, type RunDetail } from '../../../projections/queries.js'
import { findRunbook, runbookCatalog } from '../../../runbooks/catalog.js'
import { listUniverse } from '../../../runbooks/tenant-universe.js'
import type { EventLog } from '../../../store/event-log.js'
import { problemJson } from '../../problem.js'
import type { ConsoleEnv } from '../console-env.js'
import { RunPage } from '../pages/run-page.js'
import { RunsPage, runsPageHref, type RunFilters } from '../pages/runs-page.js'
import { htmlPage, nonceOf, viewerOf } from '../render.js'
import { runProgress } from '../run-progress.js'
import { refuse, requireConsoleCapability, requireConsoleSession, sessionStillAllows } from '../session-guard.js'
import { parseTenantReference, tenantNamesOf } from '../tenant-reference.js'

export interface RunRouteDeps {
  sql: Sql
  log: EventLog
  /** How often the live stream reads the run (default 500 ms). */
  streamPollMs?: number
  /** A stream ends after this long (default 10 min); the browser reconnects, re-checking the session. */
  streamMaxMs?: number
}

const RUN_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/
const PAGE_SIZE = 25
const READ_YOUR_WRITES_TIMEOUT_MS = 3_000
const FILTER_PICKER_TENANTS = 100
/** Tenants whose names label run pages; beyond these (or once archived) a tenant shows as its id. */
const NAMED_TENANTS = 1000

const filterSchema = z.object({
  status: z.union([z.literal(''), runStatusSchema]).default(''),
  outcome: z.union([z.literal(''), runOutcomeSchema]).default(''),
  runbook: z.string().max(200).default(''),
  tenant: z.string().max(400).default(''),
  cursor: z.string().max(500).optional(),
})

/** The run a path names, waiting briefly for its projection when the event store already has it. */
async function findRun(deps: RunRouteDeps, id: string): Promise<RunDetail | null> {
  if (!RUN_ID.test(id)) return null
  const run = await getRun(deps.sql, id)
  if (run) return run
  const { revision } = await deps.log.read(streams.run(id))
  return revision === null ? null : waitForRun(deps.sql, id, { timeoutMs: READ_YOUR_WRITES_TIMEOUT_MS })
}

/** Run history, one run's page, and its live progress as server-sent events. All need `platform.ops.view`. */
/** Polls between two checks that the stream's session is still valid. */
const SESSION_RECHECK_POLLS = 6

export function consoleRunRoutes(deps: RunRouteDeps) {
  const pollMs = deps.streamPollMs ?? 500
  const maxMs = deps.streamMaxMs ?? 10 * 60_000

  const runsPage = async (c: Context<ConsoleEnv>) => {
    const raw = c.req.query()
    const parsed = filterSchema.safeParse(raw)
    const errors: string[] = []
    if (findUnsafeText(raw).length > 0 || !parsed.success) errors.push('Some filters were not understood and were ignored.')
    const query = parsed.success && errors.length === 0 ? parsed.data : filterSchema.parse({})
    const filters: RunFilters = { status: query.status, outcome: query.outcome, runbook: query.runbook, tenant: query.tenant }
    const tenantId = parseTenantReference(query.tenant)
    if (tenantId === 'invalid') errors.push('The tenant filter must be a tenant picked from the list or a tenant id.')
    let page: Awaited<ReturnType<typeof listRuns>> = { items: [], nextCursor: null }
    let status: 200 | 400 = errors.length > 0 ? 400 : 200
    try {
      page = await listRuns(deps.sql, {
        ...(query.status ? { status: query.status } : {}),
        ...(query.outcome ? { outcome: query.outcome } : {}),
        ...(query.runbook ? { runbook: query.runbook } : {}),
        ...(typeof tenantId === 'number' ? { tenantId } : {}),
        cursor: query.cursor ?? null,
        limit: PAGE_SIZE,
      })
    } catch (error) {
      if (!(error instanceof InvalidCursorError)) throw error
      errors.push('That page link is not valid any more; showing the newest runs.')
      status = 400
      page = await listRuns(deps.sql, { limit: PAGE_SIZE })
    }
    return htmlPage(
      c,
      <RunsPage
        nonce={nonceOf(c)}
        viewer={viewerOf(c)!}
        runs={page.items}
        filters={filters}
        nextPageHref={page.nextCursor ? runsPageHref(filters, page.nextCursor) : null}
        isLaterPage={Boolean(query.cursor)}
        statuses={runStatusSchema.options}
        outcomes={runOutcomeSchema.options}
        runbooks={runbookCatalog.map(({ key, label }) => ({ key, label }))}
        tenants={await listUniverse(deps.sql, undefined, FILTER_PICKER_TENANTS)}
        errors={errors}
      />,
      status,
    )
  }

  return new Hono<ConsoleEnv>()
    .get('/runs', requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.opsView), runsPage)
    .get('/runs/:id', requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.opsView), async (c) => {
      const id = c.req.param('id')
      const run = await findRun(deps, id)
      if (!run) return refuse(c, 'page', 404, 'Run not found', `There is no run ${id.slice(0, 64)}.`)
      const { events } = await deps.log.read(streams.run(run.id))
      const tenantNames = tenantNamesOf(await listUniverse(deps.sql, undefined, NAMED_TENANTS))
      return htmlPage(
        c,
        <RunPage
          nonce={nonceOf(c)}
          viewer={viewerOf(c)!}
          run={run}
          progress={runProgress(run, tenantNames)}
          tenantNames={tenantNames}
          runbookLabel={findRunbook(run.type)?.label ?? null}
          events={events.map((e) => ({
            type: e.event.type,
            version: e.version,
            revision: e.revision,
            recordedAt: e.recordedAt.toISOString(),
            data: e.event.data,
            metadata: e.metadata,
          }))}
        />,
      )
    })
    .get(
      '/runs/:id/events/stream',
      requireConsoleSession(deps, 'data'),
      requireConsoleCapability('data', capabilities.opsView),
      async (c) => {
        const id = c.req.param('id')
        const first = await findRun(deps, id)
        if (!first) return problemJson(c, 404, `unknown run: ${id.slice(0, 64)}`)
        c.header('Cache-Control', 'no-store')
        // Every change of the counts is sent as `progress` (without the failure list), a grown failure list as
        // `failures`, the completed state in full as `completed`; then the stream ends.
        const tenantNames = tenantNamesOf(await listUniverse(deps.sql, undefined, NAMED_TENANTS))
        return streamSSE(c, async (stream) => {
          const deadline = Date.now() + maxMs
          let run: RunDetail | null = first
          let lastSent = ''
          let failuresSent = 0
          let polls = 0
          while (!stream.aborted && !stream.closed) {
            if (run) {
              const progress = runProgress(run, tenantNames)
              if (progress.status === 'completed') {
                await stream.writeSSE({ event: 'completed', data: JSON.stringify(progress) })
                return
              }
              // Counts on every change; the failure list only when it grew (it is the large part of a big run).
              const { failures, ...counts } = progress
              const data = JSON.stringify(counts)
              if (data !== lastSent) {
                await stream.writeSSE({ event: 'progress', data, retry: 2_000 })
                lastSent = data
              }
              if (failures.length !== failuresSent) {
                await stream.writeSSE({ event: 'failures', data: JSON.stringify(failures) })
                failuresSent = failures.length
              }
            }
            if (Date.now() >= deadline) return
            await stream.sleep(pollMs)
            // Re-checked every few seconds: a logout or a revoked capability ends the stream.
            if (++polls % SESSION_RECHECK_POLLS === 0 && !(await sessionStillAllows(c, deps, capabilities.opsView))) {
              await stream.writeSSE({ event: 'ended', data: JSON.stringify({ reason: 'session' }) })
              return
            }
            run = await getRun(deps.sql, id)
          }
        })
      },
    )
}
