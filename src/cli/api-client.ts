/**
 * A typed client of the control plane's HTTP API (SPEC §7) — the only place the CLI speaks HTTP, and the
 * one place HTTP failures become errors: `ApiError` for an answer that is not 2xx (with its problem+json),
 * `NetworkError` when there is no answer at all. The CLI holds no business rule: the service decides.
 */
import type { z } from 'zod'
import type { FieldProblem } from '../commands/errors.js'
import type { PreflightResult } from '../events/index.js'
import type { planDriftedProblemSchema } from '../http/schemas/problem-schemas.js'
import type { catalogSchema, planTenantPageSchema } from '../http/schemas/runbook-schemas.js'
import type { AuditChainVerification } from '../projections/audit-chain.js'
import type { RebuildReport as ProjectionRebuild } from '../projections/rebuild-report.js'
import type { AuditEntry, Page, RunControlEntry, RunDetail, RunSummary, RunTenant } from '../projections/queries.js'
import type { RunbookParameters } from '../runbooks/runbook.js'
import type { UniverseTenant as Tenant } from '../runbooks/tenant-universe.js'

export type { FieldProblem } from '../commands/errors.js'

/** RFC 9457 problem details as the service sends them; extensions (`runId`, `missingCapabilities`, …) vary. */
export interface Problem {
  type?: string
  title?: string
  status?: number
  detail?: string
  errors?: FieldProblem[]
  [extension: string]: unknown
}

export class ApiError extends Error {
  override name = 'ApiError'
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail ?? `the service answered HTTP ${status}`)
  }
}

export class NetworkError extends Error {
  override name = 'NetworkError'
  constructor(
    readonly baseUrl: string,
    reason: string,
  ) {
    super(`cannot reach ${baseUrl}: ${reason}`)
  }
}

// The API's answers are the read side's own types: one definition of each shape for server and client.
export type { AuditChainVerification, AuditEntry, Page, ProjectionRebuild, RunControlEntry, RunDetail, RunSummary, RunTenant, Tenant }
/**
 * `POST /api/runbooks/{key}/preflight`: the counts, the recorded preview's id and the tenants whose repair
 * would fail (SPEC §11). The last two are optional here: a service of an earlier release leaves them out.
 */
export type Preflight = PreflightResult & { preflightId?: string; wouldFailTenants?: number[] }
/** One tenant of a preview's plan (`GET /api/preflights/{id}/tenants`): would-fail tenants first, then by id. */
export type PlanTenant = z.output<typeof planTenantPageSchema>['items'][number]
/** A runbook of `GET /api/runbooks`: `unit` is what its counts count, `parameters` a JSON Schema of what it takes. */
export type Runbook = z.output<typeof catalogSchema>['items'][number]
export type FailureEntry = RunSummary['failureSummary'][number]

export type Scope = 'all_tenants' | 'single_tenant'

export interface Target {
  scope: Scope
  tenantId?: number
}

/** SPEC §13: a preflight's or start's parameters; left out, the service applies the runbook's defaults. */
export interface PreflightRequest extends Target {
  parameters?: RunbookParameters
}

export interface Reason {
  code: string
  text: string
}

/** SPEC §9 limits; a field left out keeps its value (or the default), `maxFailures: null` means no limit. */
export interface RunLimits {
  maxConcurrency?: number
  maxFailures?: number | null
}

export interface StartRunRequest extends PreflightRequest {
  confirmation: string
  reason?: Reason
  limits?: RunLimits
  /** SPEC §11: pin the start to this preview; refused 409 `PLAN_DRIFTED` when the data moved beyond the tolerance. */
  preflightId?: string
  /** 0 to 100 (the service's default when left out): how far the affected count may have moved since the preview. */
  maxDriftPercent?: number
  /** SPEC §11: repair these tenants (or the `count` with the fewest findings) first and alone. */
  canary?: CanaryRequest
  source: 'cli'
}

/** Either `tenantIds` or `count`; without `autoPromote` the run pauses `CANARY_COMPLETE` once they succeeded. */
export interface CanaryRequest {
  tenantIds?: number[]
  count?: number
  autoPromote?: boolean
}

/** The 409 of a start pinned to a preview the data drifted from: the pinned and current plans, the tenants that changed. */
export type PlanDriftedProblem = z.output<typeof planDriftedProblemSchema>

export type StartRunResult =
  | { accepted: true; runId: string; status: string }
  /** HTTP 409: an identical run (or, for a retry, a retry of the same run) is active; nothing was started. */
  | { accepted: false; activeRunId: string; problem: Problem }

export interface RetryRunRequest {
  confirmation: string
  reason?: Reason
  limits?: RunLimits
  source: 'cli'
}

/** SPEC §11: `confirmation` is exactly `revert <runId>`; the reason is required. */
export interface RevertRunRequest {
  confirmation: string
  reason: Reason
  source: 'cli'
}

export type RunTenantStatus = RunTenant['status']

export interface RunTenantFilter {
  status?: RunTenantStatus
  limit?: number
  cursor?: string
}

/** `GET /api/halt` (SPEC §9). */
export interface Halt {
  halted: boolean
  reason: Reason | null
  by: { id: string; email: string; name: string } | null
  at: string | null
}

/** `POST /api/halt`: the halt and the runs it paused. */
export interface HaltEngaged extends Halt {
  pausedRuns: string[]
}

export interface RunEvent {
  type: string
  version: number
  data: Record<string, unknown>
  metadata: Record<string, unknown>
  revision: number
  position: string
  recordedAt: string
}

export interface IssuedToken {
  token: string
  tokenType?: string
  expiresIn?: number
}

/** SPEC §10: an operator as the API shows it (never a password hash or a token). */
export interface Operator {
  id: string
  email: string
  name: string
  capabilities: string[]
  isBreakGlass: boolean
  disabled: boolean
  createdAt: string
  lastLoginAt: string | null
}

export interface CreateOperatorRequest {
  email: string
  name: string
  password: string
  capabilities: string[]
  isBreakGlass?: boolean
}

export interface UpdateOperatorRequest {
  name?: string
  capabilities?: string[]
  isBreakGlass?: boolean
  disabled?: boolean
}

export type ApprovalPolicy = 'none' | 'all_tenants' | 'all'

/** `GET /api/settings/approvals` (SPEC §10). */
export interface ApprovalSettings {
  required: ApprovalPolicy
  by: { id: string; email: string; name: string } | null
  at: string | null
}

export interface RunListFilter {
  status?: string
  outcome?: string
  runbook?: string
  tenantId?: number
  limit?: number
  cursor?: string
}

export interface ApiClientOptions {
  baseUrl: string
  token: string | null
  /** Per request; a service that does not answer within it is a network failure. */
  timeoutMs?: number
}

type Query = Record<string, string | number | undefined>

const DEFAULT_TIMEOUT_MS = 30_000
/** A rebuild replays the whole store before it answers. */
const REBUILD_TIMEOUT_MS = 60 * 60 * 1000

export class ApiClient {
  readonly baseUrl: string
  private readonly token: string | null
  private readonly timeoutMs: number

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl
    this.token = options.token
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  get hasToken(): boolean {
    return this.token !== null
  }

  createToken(email: string, password: string): Promise<IssuedToken> {
    return this.request('POST', '/api/auth/tokens', { body: { email, password }, authenticated: false })
  }

  listRunbooks(): Promise<Page<Runbook>> {
    return this.request('GET', '/api/runbooks')
  }

  listTenants(filter: { q?: string; limit?: number; cursor?: string } = {}): Promise<Page<Tenant>> {
    return this.request('GET', '/api/tenants', { query: filter })
  }

  preflight(runbookKey: string, request: PreflightRequest): Promise<Preflight> {
    return this.request('POST', `/api/runbooks/${encodeURIComponent(runbookKey)}/preflight`, { body: request })
  }

  /** A page of a preview's per-tenant plan; 404 once the preview expired (24 h) or for an id no preview had. */
  listPlanTenants(preflightId: string, page: { cursor?: string; limit?: number } = {}): Promise<Page<PlanTenant>> {
    return this.request('GET', `/api/preflights/${encodeURIComponent(preflightId)}/tenants`, { query: { ...page } })
  }

  startRun(runbookKey: string, request: StartRunRequest): Promise<StartRunResult> {
    return this.started(`/api/runbooks/${encodeURIComponent(runbookKey)}/runs`, request)
  }

  listRuns(filter: RunListFilter = {}): Promise<Page<RunSummary>> {
    return this.request('GET', '/api/runs', { query: { ...filter } })
  }

  getRun(id: string): Promise<RunDetail> {
    return this.request('GET', runPath(id))
  }

  runEvents(id: string): Promise<Page<RunEvent>> {
    return this.request('GET', `${runPath(id)}/events`)
  }

  /** SPEC §12: the run as it stood right after its `revision`-th event (404 beyond its last, with `revisions`). */
  runStateAt(id: string, revision: number): Promise<RunDetail> {
    return this.request('GET', `${runPath(id)}/state`, { query: { revision } })
  }

  /**
   * SPEC §12: every event of the store after `after` (from the first when left out), as the service streams
   * it: NDJSON chunks, read as the caller consumes them. The timeout covers the answer's start only: an
   * export of a large store takes as long as it takes.
   */
  async exportEvents(after?: string): Promise<AsyncIterable<Uint8Array>> {
    const url = new URL(`${this.baseUrl}/api/events`)
    if (after !== undefined && after !== '') url.searchParams.set('after', after)
    const headers: Record<string, string> = { accept: 'application/x-ndjson, application/problem+json' }
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(new DOMException('timed out', 'TimeoutError')), this.timeoutMs)
    let response: Response
    try {
      response = await fetch(url, { headers, signal: abort.signal })
    } catch (error) {
      throw new NetworkError(this.baseUrl, networkReason(error, this.timeoutMs))
    } finally {
      clearTimeout(timer)
    }
    if (!response.ok || response.body === null) {
      const text = await response.text().catch(() => '')
      throw new ApiError(response.status, problemOf(response.status, parseJson(text)))
    }
    return response.body
  }

  listRunTenants(id: string, filter: RunTenantFilter = {}): Promise<Page<RunTenant>> {
    return this.request('GET', `${runPath(id)}/tenants`, { query: { ...filter } })
  }

  /** 202 with the run, paused; 409 when its state does not allow it. */
  pauseRun(id: string, reason: Reason): Promise<RunDetail> {
    return this.request('POST', `${runPath(id)}/pause`, { body: { reason } })
  }

  /** 202 with the run, running again; 409 when it is not paused, 423 while the deployment is halted. */
  resumeRun(id: string, reason?: Reason): Promise<RunDetail> {
    return this.request('POST', `${runPath(id)}/resume`, { body: reason === undefined ? {} : { reason } })
  }

  /** 202 with the run, cancelling (or already completed `cancelled`); 409 when it is completed. */
  cancelRun(id: string, reason: Reason): Promise<RunDetail> {
    return this.request('POST', `${runPath(id)}/cancel`, { body: { reason } })
  }

  /** 200 with the run and its new limits. */
  changeRunLimits(id: string, limits: RunLimits): Promise<RunDetail> {
    return this.request('PATCH', `${runPath(id)}/limits`, { body: limits })
  }

  /** A new run over the run's failed tenants; `accepted: false` (409 with `runId`) when a retry of it is active. */
  retryRun(id: string, request: RetryRunRequest): Promise<StartRunResult> {
    return this.started(`${runPath(id)}/retry`, request)
  }

  /**
   * SPEC §11: a new run that puts back the run's before-images; `accepted: false` (409 with `runId`) when a
   * run of its identity is active. Any other 409 (not completed, already reverted) throws.
   */
  revertRun(id: string, request: RevertRunRequest): Promise<StartRunResult> {
    return this.started(`${runPath(id)}/revert`, request)
  }

  getHalt(): Promise<Halt> {
    return this.request('GET', '/api/halt')
  }

  halt(reason: Reason): Promise<HaltEngaged> {
    return this.request('POST', '/api/halt', { body: { reason } })
  }

  /** `DELETE /api/halt` with the reason as its JSON body. */
  liftHalt(reason: Reason): Promise<Halt> {
    return this.request('DELETE', '/api/halt', { body: { reason } })
  }

  listAudit(filter: { action?: string; operator?: string; runId?: string; limit?: number; cursor?: string } = {}): Promise<Page<AuditEntry>> {
    return this.request('GET', '/api/audit', { query: filter })
  }

  /** SPEC §12: the audit log's hash chain, recomputed by the service. */
  verifyAudit(): Promise<AuditChainVerification> {
    return this.request('GET', '/api/audit/verify')
  }

  /** SPEC §12: the read models rebuilt from the event store into new tables and switched to; answers once switched. */
  rebuildProjections(): Promise<ProjectionRebuild> {
    return this.request('POST', '/api/admin/rebuild-projections', { timeoutMs: Math.max(this.timeoutMs, REBUILD_TIMEOUT_MS) })
  }

  listOperators(): Promise<Page<Operator>> {
    return this.request('GET', '/api/operators')
  }

  createOperator(request: CreateOperatorRequest): Promise<Operator> {
    return this.request('POST', '/api/operators', { body: request })
  }

  updateOperator(id: string, request: UpdateOperatorRequest): Promise<Operator> {
    return this.request('PATCH', `/api/operators/${encodeURIComponent(id)}`, { body: request })
  }

  /** Sets another operator's password; their tokens and sessions end. */
  setOperatorPassword(id: string, password: string): Promise<Operator> {
    return this.request('POST', `/api/operators/${encodeURIComponent(id)}/password`, { body: { password } })
  }

  me(): Promise<Operator> {
    return this.request('GET', '/api/me')
  }

  /** Every token of the operator ends, the one this client holds included. */
  changeOwnPassword(currentPassword: string, password: string): Promise<{ changed: true }> {
    return this.request('POST', '/api/me/password', { body: { currentPassword, password } })
  }

  /** Revokes the token this client sends. */
  revokeCurrentToken(): Promise<{ revoked: true }> {
    return this.request('DELETE', '/api/auth/tokens/current')
  }

  /** 202 with the run, queued; 403 for the operator who started it, 409 when not awaiting approval, 423 while halted. */
  approveRun(id: string, comment?: string): Promise<RunDetail> {
    return this.request('POST', `${runPath(id)}/approve`, { body: comment === undefined ? {} : { comment } })
  }

  /** 202 with the run, completed `rejected`. */
  rejectRun(id: string, reason: Reason): Promise<RunDetail> {
    return this.request('POST', `${runPath(id)}/reject`, { body: { reason } })
  }

  getApprovalSettings(): Promise<ApprovalSettings> {
    return this.request('GET', '/api/settings/approvals')
  }

  setApprovalSettings(required: string): Promise<ApprovalSettings> {
    return this.request('PUT', '/api/settings/approvals', { body: { required } })
  }

  /** A start or a retry: 202 `{runId, status}`, or 409 naming the active run (`runId`); any other 409 (a drifted plan) throws. */
  private async started(path: string, body: StartRunRequest | RetryRunRequest | RevertRunRequest): Promise<StartRunResult> {
    try {
      const started = await this.request<{ runId: string; status: string }>('POST', path, { body })
      return { accepted: true, runId: started.runId, status: started.status }
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && typeof error.problem.runId === 'string') {
        return { accepted: false, activeRunId: error.problem.runId, problem: error.problem }
      }
      throw error
    }
  }

  private async request<T>(
    method: string,
    path: string,
    options: { query?: Query; body?: unknown; authenticated?: boolean; timeoutMs?: number } = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs
    const url = new URL(this.baseUrl + path)
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(name, String(value))
    }
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' }
    if (options.authenticated !== false && this.token !== null) headers.authorization = `Bearer ${this.token}`
    let body: string | undefined
    if (options.body !== undefined) {
      body = JSON.stringify(options.body)
      headers['content-type'] = 'application/json'
    }

    let response: Response
    let text: string
    try {
      response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) })
      text = await response.text()
    } catch (error) {
      throw new NetworkError(this.baseUrl, networkReason(error, timeoutMs))
    }

    const parsed = parseJson(text)
    if (!response.ok) throw new ApiError(response.status, problemOf(response.status, parsed))
    if (parsed === undefined) {
      throw new ApiError(response.status, { detail: `the service answered HTTP ${response.status} without JSON` })
    }
    return parsed as T
  }
}

function runPath(id: string): string {
  return `/api/runs/${encodeURIComponent(id)}`
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A non-problem body (a proxy's HTML page, say) still yields a problem naming the status. */
function problemOf(status: number, body: unknown): Problem {
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const problem = body as Problem
    return { ...problem, detail: typeof problem.detail === 'string' ? problem.detail : `the service answered HTTP ${status}` }
  }
  return { status, detail: `the service answered HTTP ${status}` }
}

/** fetch hides the reason in `cause` (ECONNREFUSED, ENOTFOUND, …); name it without any request detail. */
function networkReason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${timeoutMs / 1000} s`
  }
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined
  if (cause && typeof cause.code === 'string') return cause.code
  if (cause && typeof cause.message === 'string') return cause.message
  return error instanceof Error ? error.message : String(error)
}
