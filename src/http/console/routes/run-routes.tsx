import { Hono, type Context } from 'hono'
import { streamSSE, type SSEStreamingApi } from 'hono/streaming'
import type { Logger } from 'pino'
import { z } from 'zod'
import { capabilities } from '../../../auth/capabilities.js'
import {
  ActiveRunExistsError,
  ForbiddenError,
  HaltedError,
  InvalidTransitionError,
  NotFoundError,
  ValidationError,
  type FieldProblem,
} from '../../../commands/errors.js'
import { approveRun, rejectRun, requireApprovalAccess } from '../../../commands/approvals.js'
import type { RunState } from '../../../commands/run/run-state.js'
import { cancelRun, changeRunLimits, pauseRun, requireRunControl, resumeRun, runApprovalCapabilities } from '../../../commands/run-control.js'
import { reasonProblems } from '../../../commands/run/start-run-policy.js'
import { retryRun } from '../../../commands/start-run.js'
import { revertRun } from '../../../commands/revert-run.js'
import type { Sql } from '../../../db/database.js'
import { runOutcomeSchema, runStatusSchema, streams } from '../../../events/index.js'
import { findUnsafeText } from '../../../events/safe-text.js'
import {
  getRun,
  InvalidCursorError,
  listRuns,
  listRunTenants,
  RUN_TENANT_STATUSES,
  waitForRun,
  type Page,
  type RunDetail,
  type RunTenant,
  showsRunState,
} from '../../../projections/queries.js'
import { missingCapabilities } from '../../../auth/capabilities.js'
import type { RunbookCatalog } from '../../../runbooks/catalog.js'
import { listUniverse } from '../../../runbooks/tenant-universe.js'
import type { EventLog } from '../../../store/event-log.js'
import { problemJson } from '../../problem.js'
import { consolePaths, type ConsoleEnv, type RunAction } from '../console-env.js'
import { holdLiveStreamSlot, LiveStreamSlots } from '../live-stream-slots.js'
import { boundedWrites, LIVE_STREAM_WRITE_TIMEOUT_MS } from '../live-stream-writes.js'
import { RunVerification } from '../pages/run-verification.js'
import { verificationExpected } from '../../../commands/run/run-decider.js'
import { readFormBody } from '../csrf.js'
import type { ApprovalAttempt, ApprovalNote, ApprovalRole } from '../pages/run-approval.js'
import { runParameters } from '../parameter-form.js'
import { RunPage } from '../pages/run-page.js'
import type { TenantFilter } from '../pages/run-tenants.js'
import { RunsPage, runsPageHref, type RunFilters } from '../pages/runs-page.js'
import { htmlPage, nonceOf, viewerOf } from '../render.js'
import {
  CANCEL_CONFIRMATION,
  describeStateConflict,
  limitsOf,
  mayControlRun,
  readControlForm,
  reasonOf,
  unsafeFieldProblems,
  type ControlAttempt,
} from '../run-controls.js'
import { runProgress, type ControlNote } from '../run-progress.js'
import { runNotYetProjected } from '../../../projections/run-read.js'
import { runIdSchema } from '../../schemas/run-schemas.js'
import { eventsBeforeOf, timelineFollowFrom, timelineOf, timelineWindow } from '../run-timeline.js'
import { offersRevert, readRevertForm, revertInputOf, unsafeRevertProblems, type RevertAttempt } from '../run-revert.js'
import { csrfRefusal, refuse, requireConsoleCapability, requireConsoleSession, sessionStillAllows } from '../session-guard.js'
import { parseTenantReference, tenantNamesOf, type TenantNames } from '../tenant-reference.js'

export interface RunRouteDeps {
  sql: Sql
  log: EventLog
  catalog: RunbookCatalog
  /** How often the live stream reads the run (default 500 ms). */
  streamPollMs?: number
  /** A stream ends after this long (default 10 min); the browser reconnects, re-checking the session. */
  streamMaxMs?: number
  /** A retried run's `maxConcurrency` when the original names none. */
  defaultMaxConcurrency?: number
  /** Where a live stream that fails is reported. */
  logger?: Logger
  /** OPS_BEFORE_IMAGE_DAYS: how long a run can be reverted (SPEC §11); the command's default otherwise. */
  beforeImageDays?: number
  /** The live streams each console session may hold in this process (default: LIVE_STREAMS_PER_SESSION each). */
  streamSlots?: LiveStreamSlots
  /** How long one write of a live stream may wait for its client (default LIVE_STREAM_WRITE_TIMEOUT_MS). */
  streamWriteTimeoutMs?: number
}

const PAGE_SIZE = 25
const TENANT_PAGE_SIZE = 50
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

const tenantQuerySchema = z.object({
  tenants: z.union([z.literal(''), z.enum(RUN_TENANT_STATUSES)]).default(''),
  tenantsCursor: z.string().max(500).optional(),
})

/** Read-your-writes after a command: the run page shows what the command left (bounded wait). */
const projected = (sql: Sql, id: string, state: RunState) =>
  waitForRun(sql, id, { timeoutMs: READ_YOUR_WRITES_TIMEOUT_MS, until: (run) => showsRunState(run, state) })

/** The run a path names, waiting briefly for its projection when the event store already has it. */
async function findRun(deps: RunRouteDeps, id: string): Promise<RunDetail | null> {
  if (!runIdSchema.safeParse(id).success) return null
  const run = await getRun(deps.sql, id)
  if (run) return run
  return (await runNotYetProjected(deps, id, READ_YOUR_WRITES_TIMEOUT_MS))?.run ?? null
}

/** One event sent on a live stream, its write bounded in time (see `boundedWrites`). */
type SendEvent = ReturnType<typeof boundedWrites>

/** How long a completed run's live stream waits for its verification (SPEC §11: shortly after completion). */
const VERIFICATION_WAIT_MS = 2 * 60_000

/** Polls between two checks that the stream's session is still valid. */
const SESSION_RECHECK_POLLS = 6

/** Run history, one run's page, and its live progress as server-sent events. All need `platform.ops.view`. */
export function consoleRunRoutes(deps: RunRouteDeps) {
  const pollMs = deps.streamPollMs ?? 500
  const maxMs = deps.streamMaxMs ?? 10 * 60_000
  const streamSlots = deps.streamSlots ?? new LiveStreamSlots()
  const writeTimeoutMs = deps.streamWriteTimeoutMs ?? LIVE_STREAM_WRITE_TIMEOUT_MS

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
        runbooks={deps.catalog.runbooks.map(({ key, label }) => ({ key, label }))}
        tenants={await listUniverse(deps.sql, undefined, FILTER_PICKER_TENANTS)}
        errors={errors}
      />,
      status,
    )
  }

  /** One run's page: facts, live progress, controls, tenants, failures, events. Also the re-render of a refused control. */
  const runPage = async (
    c: Context<ConsoleEnv>,
    run: RunDetail,
    options: {
      query?: Record<string, string>
      attempt?: ControlAttempt
      approvalAttempt?: ApprovalAttempt
      revertAttempt?: RevertAttempt
      status?: 200 | 400 | 409 | 422 | 423
    },
  ) => {
    const actor = c.get('actor')
    const { events } = await deps.log.read(streams.run(run.id))
    const tenantNames = tenantNamesOf(await listUniverse(deps.sql, undefined, NAMED_TENANTS))
    // The read side keeps a cancel only until the run completes; a cancelled run's page tells it from the event.
    let cancelled: ControlNote | null = null
    // SPEC §10: who approved or rejected the run (the read side keeps the approver's id only).
    let approved: ApprovalNote | null = null
    let rejected: ApprovalNote | null = null
    // SPEC §11: the run that reverted this one, so the page neither offers a second revert nor hides the first.
    let revertedBy: string | null = null
    for (const { event, metadata } of events) {
      if (event.type === 'RunReverted') revertedBy = event.data.revertRunId
      const by = metadata.initiator.kind === 'operator' ? `${metadata.initiator.name} (${metadata.initiator.email})` : 'the service'
      if (event.type === 'RunApproved') approved = { by, at: event.data.approvedAt, text: event.data.comment }
      if (event.type === 'RunRejected') rejected = { by, at: event.data.rejectedAt, text: event.data.reason.reasonText, code: event.data.reason.reasonCode }
      if (event.type !== 'RunCancelled') continue
      cancelled = { reasonCode: event.data.reason.reasonCode, reasonText: event.data.reason.reasonText, by, at: event.data.cancelledAt }
    }
    // How the last revert ended (the page offers another when it did not happen, as the command takes one).
    const lastRevertRun = revertedBy ? await findRun(deps, revertedBy) : null
    const lastRevert = lastRevertRun?.status === 'completed' ? { outcome: lastRevertRun.outcome } : null
    // Reverting needs what running the runbook needs: the same capabilities as the run controls.
    const mayControl = mayControlRun(deps.catalog, actor.capabilities, run.type)
    const mayApprove = missingCapabilities(actor.capabilities, runApprovalCapabilities(deps.catalog, run.type)).length === 0
    const approvalRole: ApprovalRole = run.userId === actor.operatorId ? 'starter' : mayApprove ? 'decide' : 'none'
    const tenantErrors: string[] = []
    const raw = options.query ?? {}
    const parsedQuery = tenantQuerySchema.safeParse({ tenants: raw.tenants, tenantsCursor: raw.tenantsCursor })
    if (!parsedQuery.success || findUnsafeText(raw).length > 0) tenantErrors.push('The tenant filter was not understood; showing every tenant.')
    const query = parsedQuery.success && tenantErrors.length === 0 ? parsedQuery.data : tenantQuerySchema.parse({})
    const filter: TenantFilter = query.tenants
    let tenantPage: Page<RunTenant>
    try {
      tenantPage = await listRunTenants(deps.sql, run.id, {
        ...(filter ? { status: filter } : {}),
        cursor: query.tenantsCursor ?? null,
        limit: TENANT_PAGE_SIZE,
      })
    } catch (error) {
      if (!(error instanceof InvalidCursorError)) throw error
      tenantErrors.push('That page of tenants is not valid any more; showing the first tenants.')
      tenantPage = await listRunTenants(deps.sql, run.id, { ...(filter ? { status: filter } : {}), limit: TENANT_PAGE_SIZE })
    }
    return htmlPage(
      c,
      <RunPage
        nonce={nonceOf(c)}
        viewer={viewerOf(c)!}
        run={run}
        progress={runProgress(run, tenantNames)}
        tenantNames={tenantNames}
        runbookLabel={deps.catalog.find(run.type)?.label ?? null}
        unit={deps.catalog.find(run.type)?.unit ?? 'rows'}
        parameters={runParameters(deps.catalog.find(run.type), run.context)}
        tenants={{
          filter,
          tenants: tenantPage.items,
          isLaterPage: Boolean(query.tenantsCursor) && tenantErrors.length === 0,
          nextCursor: tenantPage.nextCursor,
          errors: tenantErrors,
        }}
        mayControl={mayControl}
        isBreakGlass={actor.isBreakGlass}
        attempt={options.attempt ?? null}
        cancelled={run.outcome === 'cancelled' ? cancelled : null}
        approval={{ role: approvalRole, attempt: options.approvalAttempt ?? null, approved, rejected: run.outcome === 'rejected' ? rejected : null }}
        revert={{ offered: offersRevert(run, revertedBy, lastRevert, mayControl), attempt: options.revertAttempt ?? null, revertedBy }}
        timeline={timelineWindow(events, tenantNames, deps.catalog.find(run.type)?.unit ?? 'rows', eventsBeforeOf(raw))}
      />,
      options.status ?? (tenantErrors.length > 0 ? 400 : 200),
    )
  }

  /**
   * The refusal pages of a post on a run's forms: no such run (404), or not allowed (403: a missing
   * capability, or a rule such as four eyes, in the command's own words).
   */
  const runRefusals = (c: Context<ConsoleEnv>, id: string) => ({
    notFound: () => refuse(c, 'page', 404, 'Run not found', `There is no run ${id.slice(0, 64)}.`),
    forbidden: (error: ForbiddenError) =>
      refuse(
        c,
        'page',
        403,
        'Not allowed',
        error.missingCapabilities.length > 0
          ? `You lack the capability needed here: ${error.missingCapabilities.join(', ')}.`
          : `${error.message.charAt(0).toUpperCase()}${error.message.slice(1)}: another operator must.`,
      ),
  })
  /** The operator's right to act on run `id`, checked before its form is read: the refusal page, or null. */
  const accessRefusal = async (c: Context<ConsoleEnv>, id: string, check: (runId: string) => Promise<void>) => {
    const { notFound, forbidden } = runRefusals(c, id)
    if (!runIdSchema.safeParse(id).success) return notFound()
    try {
      await check(id)
      return null
    } catch (error) {
      if (error instanceof NotFoundError) return notFound()
      if (error instanceof ForbiddenError) return forbidden(error)
      throw error
    }
  }
  /**
   * A control form's post (SPEC §9): the operator's right to control this run first (404/403), then the
   * form, then the command. A refusal shows the run page again as it is now, with the reason; a success
   * waits for the read side to show it and sends the browser back to the run page (303).
   */
  const control = (action: RunAction) => async (c: Context<ConsoleEnv>) => {
    const id = c.req.param('id') ?? ''
    const actor = c.get('actor')
    const denied = await accessRefusal(c, id, (runId) => requireRunControl(deps, actor, runId))
    if (denied) return denied
    // The form (and the CSRF token in it) is read only now, after the access checks.
    const forged = await csrfRefusal(c, 'page')
    if (forged) return forged
    const { notFound, forbidden } = runRefusals(c, id)
    const values = readControlForm(await readFormBody(c))
    const refused = async (attempt: Omit<ControlAttempt, 'action' | 'values'>, status: 409 | 422 | 423) => {
      const run = await findRun(deps, id)
      if (!run) return notFound()
      return runPage(c, run, { attempt: { action, values, ...attempt }, status })
    }
    const problems: FieldProblem[] = unsafeFieldProblems(values)
    if (problems.length > 0) return refused({ problems }, 422)
    try {
      const reason = reasonOf(values)
      switch (action) {
        case 'pause': {
          const state = await pauseRun(deps, actor, id, { reason })
          await projected(deps.sql, id, state)
          break
        }
        case 'resume': {
          const state = await resumeRun(deps, actor, id, { reason })
          await projected(deps.sql, id, state)
          break
        }
        case 'cancel': {
          // The console's own guard (a typed word), reported with the command's reason rules in one answer.
          if (values.confirmation.trim() !== CANCEL_CONFIRMATION) {
            const confirmation = { field: 'confirmation', message: `must be the word "${CANCEL_CONFIRMATION}"` }
            return refused({ problems: [confirmation, ...reasonProblems(reason, 'a cancel')] }, 422)
          }
          const state = await cancelRun(deps, actor, id, { reason })
          await projected(deps.sql, id, state)
          break
        }
        case 'limits': {
          const parsed = limitsOf(values)
          if ('problems' in parsed) return refused({ problems: parsed.problems }, 422)
          const state = await changeRunLimits(deps, actor, id, parsed.limits)
          await projected(deps.sql, id, state)
          break
        }
        case 'retry': {
          const started = await retryRun(deps, actor, id, { confirmation: values.confirmation.trim(), reason, source: 'system_ui' })
          c.header('Cache-Control', 'no-store')
          return c.redirect(consolePaths.run(started.runId), 303)
        }
      }
    } catch (error) {
      if (error instanceof ValidationError) return refused({ problems: error.fields }, 422)
      if (error instanceof InvalidTransitionError) return refused({ problems: [], message: describeStateConflict(action, error) }, 409)
      if (error instanceof HaltedError) {
        return refused({ problems: [], message: `The deployment is halted: you cannot ${error.attempted} until the halt is lifted. Nothing was changed.` }, 423)
      }
      if (error instanceof ActiveRunExistsError) {
        return refused({ problems: [], message: 'A retry of this run is already active. Nothing was started.', activeRunId: error.runId }, 409)
      }
      if (error instanceof ForbiddenError) return forbidden(error)
      if (error instanceof NotFoundError) return notFound()
      throw error
    }
    c.header('Cache-Control', 'no-store')
    return c.redirect(consolePaths.run(id), 303)
  }
  /**
   * SPEC §10 four eyes: approve (optional comment) or reject (reason) a run awaiting approval. The right to
   * decide, and not being the run's starter, come first (404/403 before the form is read); the state is the command's.
   */
  const decide = (form: 'approve' | 'reject') => async (c: Context<ConsoleEnv>) => {
    const id = c.req.param('id') ?? ''
    const actor = c.get('actor')
    const denied = await accessRefusal(c, id, (runId) => requireApprovalAccess(deps, actor, runId))
    if (denied) return denied
    // The form (and the CSRF token in it) is read only now, after the access checks.
    const forged = await csrfRefusal(c, 'page')
    if (forged) return forged
    const { notFound, forbidden } = runRefusals(c, id)
    const body = await readFormBody(c)
    const text = (name: string, max: number) => (typeof body[name] === 'string' ? (body[name] as string).slice(0, max) : '')
    const values = { comment: text('comment', 2000), reasonCode: text('reasonCode', 50), reasonText: text('reasonText', 2000) }
    const refused = async (attempt: Omit<ApprovalAttempt, 'form' | 'values'>, status: 409 | 422 | 423) => {
      const run = await findRun(deps, id)
      if (!run) return notFound()
      return runPage(c, run, { approvalAttempt: { form, values, ...attempt }, status })
    }
    const unsafe = findUnsafeText(values)
    if (unsafe.length > 0) {
      const fields: Record<string, string> = { reasonCode: 'reason.code', reasonText: 'reason.text' }
      return refused({ problems: unsafe.map((field) => ({ field: fields[field] ?? field, message: 'contains characters that cannot be stored' })) }, 422)
    }
    try {
      if (form === 'approve') {
        const state = await approveRun(deps, actor, id, { comment: values.comment })
        await projected(deps.sql, id, state)
      } else {
        const reason = values.reasonCode === '' && values.reasonText.trim() === '' ? null : { code: values.reasonCode, text: values.reasonText }
        await projected(deps.sql, id, await rejectRun(deps, actor, id, { reason }))
      }
    } catch (error) {
      if (error instanceof ValidationError) return refused({ problems: error.fields }, 422)
      if (error instanceof InvalidTransitionError) {
        return refused({ problems: [], message: `The run is ${error.state.replaceAll('_', ' ')}, not awaiting approval: nothing was changed.` }, 409)
      }
      if (error instanceof HaltedError) {
        return refused({ problems: [], message: 'The deployment is halted: no run can be approved until the halt is lifted. Nothing was changed.' }, 423)
      }
      if (error instanceof ForbiddenError) return forbidden(error)
      if (error instanceof NotFoundError) return notFound()
      throw error
    }
    c.header('Cache-Control', 'no-store')
    return c.redirect(consolePaths.run(id), 303)
  }
  /**
   * SPEC §11 revert of a completed run: the right to control this run first (404/403, as a retry), then
   * the form, then revertRun (which checks the confirmation, the reason and the run's state). A refusal shows
   * the run page again with the form open; a success lands on the new run's page.
   */
  const revert = async (c: Context<ConsoleEnv>) => {
    const id = c.req.param('id') ?? ''
    const actor = c.get('actor')
    const denied = await accessRefusal(c, id, (runId) => requireRunControl(deps, actor, runId))
    if (denied) return denied
    // The form (and the CSRF token in it) is read only now, after the access checks.
    const forged = await csrfRefusal(c, 'page')
    if (forged) return forged
    const { notFound, forbidden } = runRefusals(c, id)
    const values = readRevertForm(await readFormBody(c))
    const refused = async (attempt: Omit<RevertAttempt, 'values'>, status: 409 | 422 | 423) => {
      const run = await findRun(deps, id)
      if (!run) return notFound()
      return runPage(c, run, { revertAttempt: { values, ...attempt }, status })
    }
    const unsafe = unsafeRevertProblems(values)
    if (unsafe.length > 0) return refused({ problems: unsafe }, 422)
    try {
      const started = await revertRun(deps, actor, id, revertInputOf(values))
      c.header('Cache-Control', 'no-store')
      return c.redirect(consolePaths.run(started.runId), 303)
    } catch (error) {
      if (error instanceof ValidationError) return refused({ problems: error.fields }, 422)
      if (error instanceof InvalidTransitionError) {
        return refused({ problems: [], message: `The run is ${error.state.replaceAll('_', ' ')}, so it cannot be reverted. Nothing was started.` }, 409)
      }
      if (error instanceof ActiveRunExistsError) {
        return refused({ problems: [], message: 'An identical run is already active. Nothing was started.', activeRunId: error.runId }, 409)
      }
      if (error instanceof HaltedError) {
        return refused({ problems: [], message: `The deployment is halted: you cannot ${error.attempted} until the halt is lifted. Nothing was started.` }, 423)
      }
      if (error instanceof ForbiddenError) return forbidden(error)
      if (error instanceof NotFoundError) return notFound()
      throw error
    }
  }

  const decideRoute = (form: 'approve' | 'reject') =>
    [`/runs/:id/${form}`, requireConsoleSession(deps, 'page'), decide(form)] as const

  const controlRoute = (action: RunAction) =>
    [
      `/runs/:id/${action}`,
      requireConsoleSession(deps, 'page'),
      requireConsoleCapability('page', capabilities.runbooksRun),
      control(action),
    ] as const

  return new Hono<ConsoleEnv>()
    .post(...controlRoute('pause'))
    .post(...controlRoute('resume'))
    .post(...controlRoute('cancel'))
    .post(...controlRoute('limits'))
    .post(...controlRoute('retry'))
    .post(
      '/runs/:id/revert',
      requireConsoleSession(deps, 'page'),
      requireConsoleCapability('page', capabilities.runbooksRun),
      revert,
    )
    .post(...decideRoute('approve'))
    .post(...decideRoute('reject'))
    .get('/runs', requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.opsView), runsPage)
    .get('/runs/:id', requireConsoleSession(deps, 'page'), requireConsoleCapability('page', capabilities.opsView), async (c) => {
      const id = c.req.param('id')
      const run = await findRun(deps, id)
      if (!run) return refuse(c, 'page', 404, 'Run not found', `There is no run ${id.slice(0, 64)}.`)
      return runPage(c, run, { query: c.req.query() })
    })
    .get(
      '/runs/:id/events/stream',
      requireConsoleSession(deps, 'data'),
      requireConsoleCapability('data', capabilities.opsView),
      holdLiveStreamSlot(streamSlots),
      async (c) => {
        const id = c.req.param('id')
        const first = await findRun(deps, id)
        if (!first) return problemJson(c, 404, `unknown run: ${id.slice(0, 64)}`)
        c.header('Cache-Control', 'no-store')
        // Every change of the counts is sent as `progress` (without the failure list), a grown failure list as
        // `failures`, the completed state in full as `completed`; then the stream ends.
        const tenantNames = tenantNamesOf(await listUniverse(deps.sql, undefined, NAMED_TENANTS))
        // SPEC §12: the page's timeline grows with the run's new events (`timeline`, its id the last revision sent).
        let timelineAfter = timelineFollowFrom(c.req.query('after'), c.req.header('Last-Event-ID'))
        const unit = deps.catalog.find(first.type)?.unit ?? 'rows'
        const sendTimeline = async (write: SendEvent) => {
          if (timelineAfter === null) return
          const { events } = await deps.log.read(streams.run(id), { fromRevision: timelineAfter + 1 })
          if (events.length === 0) return
          timelineAfter = events.at(-1)!.revision
          await write({ event: 'timeline', id: String(timelineAfter), data: JSON.stringify(timelineOf(events, tenantNames, unit)) })
        }
        return streamSSE(c, async (stream) => {
          // The session's slot is given back when the stream ends, whyever it does; a client that went away
          // gives it back at once, not at the loop's next turn.
          const releaseSlot = c.get('releaseStreamSlot')
          stream.onAbort(releaseSlot)
          const write = boundedWrites(stream, writeTimeoutMs, () => {
            deps.logger?.warn({ path: c.req.path, timeoutMs: writeTimeoutMs }, 'live run stream dropped: its client stopped reading')
            ;(c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing?.destroy()
          })
          try {
            await followRun(stream, write, first, tenantNames)
          } catch (error) {
            // A client that went away (or a service shutting down under an open stream) is no error to report.
            if (stream.aborted || stream.closed) return
            deps.logger?.error({ err: error, path: c.req.path }, 'live run stream failed')
            await write({ event: 'ended', data: JSON.stringify({ reason: 'error' }) }).catch(() => {})
          } finally {
            releaseSlot()
          }
        })

        /**
         * Streams the run until it completes (a paused run goes on streaming) and, when it is to be verified, its
         * verification is recorded; or until the deadline, or the session ends.
         */
        async function followRun(stream: SSEStreamingApi, write: SendEvent, first: RunDetail, tenantNames: TenantNames): Promise<void> {
          const deadline = Date.now() + maxMs
          let run: RunDetail | null = first
          let lastSent = ''
          let failuresSent = 0
          let polls = 0
          /** Set once the run completed with a verification to follow: how long the stream waits for it. */
          let verifyingUntil: number | null = null
          while (!stream.aborted && !stream.closed) {
            // Read after the run: the stream has at least every event the projected run shows.
            if (run) await sendTimeline(write)
            if (run && verifyingUntil === null) {
              const progress = runProgress(run, tenantNames)
              if (progress.status === 'completed') {
                // SPEC §11: a run to be verified keeps its stream until the verification is recorded, and sends it.
                const verificationFollows = verificationExpected(run, new Date())
                await write({ event: 'completed', data: JSON.stringify({ ...progress, verificationFollows }) })
                if (!verificationFollows) return
                verifyingUntil = Date.now() + VERIFICATION_WAIT_MS
              } else {
                // Counts on every change; the failure list only when it grew (it is the large part of a big run).
                const { failures, ...counts } = progress
                const data = JSON.stringify(counts)
                if (data !== lastSent) {
                  await write({ event: 'progress', data, retry: 2_000 })
                  lastSent = data
                }
                if (failures.length !== failuresSent) {
                  await write({ event: 'failures', data: JSON.stringify(failures) })
                  failuresSent = failures.length
                }
              }
            }
            if (run && verifyingUntil !== null && (run.verification || Date.now() >= verifyingUntil)) {
              // Rendered as the completed page renders it; none within the wait: the page keeps its note to reload.
              const html = run.verification ? String(<RunVerification run={run} unit={unit} tenantNames={tenantNames} />) : null
              await write({ event: 'verified', data: JSON.stringify({ html }) })
              return
            }
            // At the deadline the stream just ends (a run awaiting its verification too: the browser reconnects).
            if (Date.now() >= deadline) return
            await stream.sleep(pollMs)
            // Re-checked every few seconds: a logout or a revoked capability ends the stream.
            if (++polls % SESSION_RECHECK_POLLS === 0 && !(await sessionStillAllows(c, deps, capabilities.opsView))) {
              await write({ event: 'ended', data: JSON.stringify({ reason: 'session' }) })
              return
            }
            run = await getRun(deps.sql, id)
          }
        }
      },
    )
}
