import { appendFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { seedBenchTenants } from '../../../src/db/demo-seed.js'
import { applyMigrations } from '../../../src/db/migrations.js'
import { platformSchema } from '../../../src/db/schema.js'
import { readFindings, type FindingRow } from '../../runbooks/findings-fixture.js'
import { referenceRepair } from '../../runbooks/lifecycle-reference.js'
import { delay, waitFor } from './ports.js'
import { ServiceProcesses, type ServiceEnvironment } from './service-processes.js'
import type { ThrowawayNats } from './throwaway-nats.js'
import type { ThrowawayPostgres } from './throwaway-postgres.js'

export const RUNBOOK = 'findings.lifecycle.backfill'
const ADMIN_EMAIL = 'faults@example.com'
const ADMIN_PASSWORD = 'fault-suite-password-1'
export const FINDINGS_FILE = '/tmp/fault-findings.md'
/** An undisturbed run of 300 tenants takes about 3-5 s with two workers of WORKER_CONCURRENCY=2 on 2 cores: faults go in once a tenth of the tenants are processed. */
export const DEFAULT_TENANTS = Number(process.env.FAULT_TENANTS ?? 300)
export const DEFAULT_FINDINGS = Number(process.env.FAULT_FINDINGS ?? 20)

export interface ScenarioOptions {
  tenants?: number
  findingsPerTenant?: number
  /** Extra environment for every process. */
  env?: Record<string, string>
  /** Which processes to start: default api, worker-1, worker-2, projector. */
  topology?: 'split' | 'none'
  /** Deadline for the run to complete once the fault is injected (or over): default 60 s; an undisturbed run takes ~5 s. */
  completeWithinMs?: number
}

export interface FaultResult {
  scenario: string
  tenants: number
  lost: number
  doubled: number
  mismatches: number
  recoveryMs: number | null
  totalMs: number | null
  passed: boolean
  note: string
}

export interface RunCheck {
  runId: string
  targeted: number[]
  lost: number
  doubled: number
  status: string | null
  outcome: string | null
  countsOk: boolean
  countsNote: string
}

/**
 * One fault scenario's world: its own database on the throwaway cluster (seeded with the project's bench
 * tenants), its own NATS stream name, the service's roles as separate processes, and the checks every
 * scenario ends with.
 */
export class FaultScenario {
  readonly dir: string
  readonly databaseName: string
  readonly stream: string
  readonly services: ServiceProcesses
  readonly databaseUrl: string
  private token: string | null = null
  /** The process whose HTTP API the scenario talks to. */
  apiName = 'api'
  before: FindingRow[] = []
  faultAt: number | null = null
  faultEndedAt: number | null = null
  private readonly notes: string[] = []

  constructor(
    readonly name: string,
    readonly pg: ThrowawayPostgres,
    readonly nats: ThrowawayNats,
    readonly options: ScenarioOptions,
  ) {
    const slug = name.replace(/[^a-z0-9]+/gi, '_').toLowerCase()
    this.dir = mkdtempSync(join(tmpdir(), `rcp-fault-${slug}-`))
    this.databaseName = `fault_${slug}`.slice(0, 60)
    this.stream = `FAULT_${slug}_${Date.now().toString(36)}`.slice(0, 64)
    this.databaseUrl = pg.url(this.databaseName)
    const settings: ServiceEnvironment = {
      dir: this.dir,
      databaseUrl: this.databaseUrl,
      natsUrl: nats.url,
      natsStream: this.stream,
      adminEmail: ADMIN_EMAIL,
      adminPassword: ADMIN_PASSWORD,
      env: options.env ?? {},
    }
    this.services = new ServiceProcesses(settings)
  }

  note(text: string): void {
    this.notes.push(text)
  }

  /** A short-lived connection per use: a PostgreSQL restart never finds one of ours open. */
  async withSql<T>(work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    const sql = postgres(this.databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 3, idle_timeout: 1 })
    try {
      return await work(sql)
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {})
    }
  }

  /** Creates and seeds the database, then starts api, two workers and the projector and waits for /health. */
  async setUp(): Promise<void> {
    await this.pg.createDatabase(this.databaseName)
    await this.withSql(async (sql) => {
      await applyMigrations(sql as never, [platformSchema])
      await sql`insert into tenants (id, workspace_id, name, is_platform) values (1, 1, 'Platform', true)`
      await seedBenchTenants(sql as never, { tenants: this.options.tenants ?? DEFAULT_TENANTS, findingsPerTenant: this.options.findingsPerTenant ?? DEFAULT_FINDINGS })
      await sql`analyze`
      this.before = await readFindings(sql as never)
    })
    if ((this.options.topology ?? 'split') === 'split') {
      // All four at once against the fresh database: schema and bootstrap must cope with concurrent starts.
      await Promise.all([
        this.services.start('api', 'api'),
        this.services.start('worker-1', 'worker'),
        this.services.start('worker-2', 'worker'),
        this.services.start('projector', 'projector'),
      ])
      await Promise.all(this.services.names().map((name) => this.services.waitHealthy(name, 90_000)))
    }
  }

  async api(path: string, init: RequestInit = {}, base = this.services.baseUrl(this.apiName)): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (this.token) headers.authorization = `Bearer ${this.token}`
    const response = await fetch(`${base}${path}`, { ...init, headers, signal: AbortSignal.timeout(10_000) })
    const text = await response.text()
    let body: unknown = null
    try {
      body = text ? JSON.parse(text) : null
    } catch {
      body = text
    }
    return { status: response.status, body }
  }

  async login(base?: string): Promise<void> {
    this.token = null
    const response = await this.api('/api/auth/tokens', { method: 'POST', body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }) }, base)
    if (response.status !== 201) throw new Error(`token: ${response.status} ${JSON.stringify(response.body)}`)
    this.token = response.body.token
  }

  /** Starts a run over the HTTP API (all tenants unless a tenant is given); returns its id. */
  async startRun(options: { tenantId?: number; reason?: string; base?: string } = {}): Promise<string> {
    if (!this.token) await this.login(options.base)
    const body = {
      scope: options.tenantId === undefined ? 'all_tenants' : 'single_tenant',
      ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
      confirmation: RUNBOOK,
      reason: { code: 'DATA_REPAIR', text: options.reason ?? `fault suite: ${this.name}` },
    }
    const response = await this.api(`/api/runbooks/${RUNBOOK}/runs`, { method: 'POST', body: JSON.stringify(body) }, options.base)
    if (response.status !== 202) throw new Error(`start run: ${response.status} ${JSON.stringify(response.body)}`)
    return response.body.runId as string
  }

  /** TenantProcessed events of the run so far (from the event store). */
  async processedCount(runId: string): Promise<number> {
    return this.withSql(async (sql) => {
      const [row] = await sql<Array<{ n: number }>>`
        select count(*)::int as n from event_store_events where stream_id = ${`run-${runId}`} and type = 'TenantProcessed'`
      return row!.n
    })
  }

  async targetedTenants(runId: string): Promise<number[]> {
    return this.withSql(async (sql) => {
      const [row] = await sql<Array<{ data: { tenantIds: number[] } }>>`
        select data from event_store_events where stream_id = ${`run-${runId}`} and type = 'RunRequested'`
      if (!row) throw new Error(`no RunRequested for ${runId}`)
      const data = typeof row.data === 'string' ? JSON.parse(row.data) : row.data
      return data.tenantIds
    })
  }

  /**
   * Waits until a share (default a tenth) of the run's tenants are processed and fails when the run has already
   * processed every tenant: a fault injected then would hit no run.
   */
  async waitMidRun(runId: string, atLeastShare = 0.1): Promise<number> {
    const targeted = (await this.targetedTenants(runId)).length
    const atLeast = Math.max(1, Math.floor(targeted * atLeastShare))
    const count = await waitFor(`${atLeast} TenantProcessed of run ${runId}`, async () => {
      const n = await this.processedCount(runId)
      return n >= atLeast ? n : false
    }, { timeoutMs: 90_000, everyMs: 50 })
    if (count >= targeted) throw new Error(`the run processed all ${targeted} tenants before the fault: seed more or inject earlier`)
    this.note(`fault injected after ${count}/${targeted} tenants`)
    return count
  }

  markFault(): void {
    this.faultAt = Date.now()
  }

  markFaultEnd(): void {
    this.faultEndedAt = Date.now()
  }

  /**
   * Polls GET /api/runs/{id} until the run is completed. A failing request (the api is down, restarting,
   * or answers 5xx while a dependency is away) is retried until the deadline; `onPoll` may act on the way.
   */
  async waitCompleted(runId: string, timeoutMs = this.options.completeWithinMs ?? 60_000, base?: string): Promise<any> {
    let last: any = null
    try {
      return await waitFor(`run ${runId} to be completed`, async () => {
        try {
          const response = await this.api(`/api/runs/${runId}`, {}, base)
          if (response.status === 401) {
            await this.login(base)
            return false
          }
          if (response.status !== 200) return false
          last = response.body
          return response.body.status === 'completed' ? response.body : false
        } catch {
          return false
        }
      }, { timeoutMs, everyMs: 250 })
    } catch (error) {
      throw new Error(`${(error as Error).message}; last seen: ${JSON.stringify(last && { status: last.status, outcome: last.outcome, summaryCounts: last.summaryCounts })}`)
    }
  }

  /** One TenantProcessed per targeted tenant; the read model's counts equal the reference's. */
  async checkRun(runId: string, run: any): Promise<RunCheck> {
    const targeted = await this.targetedTenants(runId)
    const counts = await this.withSql(async (sql) =>
      sql<Array<{ tenant: number; n: number }>>`
        select (data->>'tenantId')::bigint::int as tenant, count(*)::int as n from event_store_events
        where stream_id = ${`run-${runId}`} and type = 'TenantProcessed' group by 1`,
    )
    const byTenant = new Map(counts.map((row) => [row.tenant, row.n]))
    const targetSet = new Set(targeted)
    const lost = targeted.filter((tenant) => !byTenant.has(tenant)).length
    const doubled =
      targeted.filter((tenant) => (byTenant.get(tenant) ?? 0) > 1).length + counts.filter((row) => !targetSet.has(row.tenant)).length
    const expected = this.expectedCounts(targeted)
    const summary = run?.summaryCounts ?? {}
    const readTenants = await this.withSql(async (sql) => {
      const [row] = await sql<Array<{ n: number }>>`
        select count(*)::int as n from operation_run_tenants where run_id = ${runId} and status = 'succeeded'`
      return row!.n
    })
    const countsOk =
      summary.total === expected.total && summary.failed === 0 && summary.processed === expected.total && readTenants === targeted.length
    return {
      runId,
      targeted,
      lost,
      doubled,
      status: run?.status ?? null,
      outcome: run?.outcome ?? null,
      countsOk,
      countsNote: `read model: ${JSON.stringify(summary)}, ${readTenants} tenants succeeded; expected total ${expected.total}, ${targeted.length} tenants`,
    }
  }

  /** Findings the run over `tenants` covers, from the seed: total (the updated count depends on earlier runs). */
  private expectedCounts(tenants: number[]): { total: number } {
    const set = new Set(tenants)
    return { total: this.before.filter((f) => set.has(f.tenantId)).length }
  }

  /** Findings the reference repair changes over every seeded tenant: what the runs' `updated` counts add up to. */
  expectedUpdated(): number {
    const byTenant = new Map<number, FindingRow[]>()
    for (const f of this.before) byTenant.set(f.tenantId, [...(byTenant.get(f.tenantId) ?? []), f])
    let changed = 0
    for (const rows of byTenant.values()) changed += referenceRepair(rows).rows.filter((row) => row.changed).length
    return changed
  }

  /** Every finding now equals the reference repair of its seeded state (updated_at aside). */
  async mismatches(): Promise<number> {
    const after = await this.withSql((sql) => readFindings(sql as never))
    const afterById = new Map(after.map((f) => [f.id, f]))
    const byTenant = new Map<number, FindingRow[]>()
    for (const f of this.before) byTenant.set(f.tenantId, [...(byTenant.get(f.tenantId) ?? []), f])
    let mismatches = 0
    for (const [tenantId, rows] of byTenant) {
      const expected = referenceRepair(rows)
      if (expected.invalidFindingId !== null) throw new Error(`seeded tenant ${tenantId} is not repairable`)
      for (const { repaired } of expected.rows) {
        const actual = afterById.get(repaired.id)
        if (!actual || JSON.stringify({ ...actual, updatedAt: 0 }) !== JSON.stringify({ ...repaired, updatedAt: 0 })) mismatches++
      }
    }
    if (after.length !== this.before.length) mismatches += Math.abs(after.length - this.before.length)
    return mismatches
  }

  /**
   * From the fault (its end, for one that lasts) to the first TenantProcessed of a tenant whose repair
   * transaction began after it (tenant_job_results.started_at), in ms: work that was in flight and merely
   * finished does not count as resumed progress. Null when no tenant started after it.
   */
  async recoveryMs(runIds: string[]): Promise<number | null> {
    const from = this.faultEndedAt ?? this.faultAt
    if (from === null) return null
    const [row] = await this.withSql((sql) =>
      sql<Array<{ at: Date | null }>>`
        select min(e.recorded_at) as at
        from event_store_events e
        join tenant_job_results r on e.stream_id = 'run-' || r.run_id and (e.data->>'tenantId')::bigint = r.tenant_id
        where r.run_id in ${sql(runIds)} and e.type = 'TenantProcessed'
          and coalesce(r.started_at, e.recorded_at) >= ${new Date(from)}`,
    )
    return row?.at ? Math.max(0, row.at.getTime() - from) : null
  }

  /** Run time from RunRequested to RunCompleted, per the event store. */
  async totalMs(runId: string): Promise<number | null> {
    const rows = await this.withSql((sql) =>
      sql<Array<{ type: string; at: Date }>>`
        select type, recorded_at as at from event_store_events
        where stream_id = ${`run-${runId}`} and type in ('RunRequested', 'RunCompleted')`,
    )
    const requested = rows.find((r) => r.type === 'RunRequested')
    const completed = rows.find((r) => r.type === 'RunCompleted')
    return requested && completed ? completed.at.getTime() - requested.at.getTime() : null
  }

  notesText(): string {
    return this.notes.join('; ')
  }

  /** Kills the scenario's processes; keeps its directory (logs) only when it failed. */
  async tearDown(passed: boolean): Promise<void> {
    await this.services.killAll()
    if (passed) rmSync(this.dir, { recursive: true, force: true })
  }
}

export function faultLine(result: FaultResult): string {
  return (
    `FAULT ${result.scenario} tenants=${result.tenants} lost=${result.lost} doubled=${result.doubled} ` +
    `mismatches=${result.mismatches} recovery_ms=${result.recoveryMs ?? 'none'} total_ms=${result.totalMs ?? 'none'}` +
    ` result=${result.passed ? 'passed' : 'FAILED'}`
  )
}

export function recordFinding(scenario: string, text: string): void {
  appendFileSync(FINDINGS_FILE, `\n## ${new Date().toISOString()} — ${scenario}\n\n${text}\n`)
}

export { delay }
