import { isVerifiable, verificationExpected, VERIFY_WITHIN_WORDS } from '../commands/run/run-decider.js'
import type {
  ApprovalSettings,
  AuditEntry,
  FailureEntry,
  Halt,
  HaltEngaged,
  Operator,
  PlanTenant,
  Preflight,
  Runbook,
  RunControlEntry,
  RunDetail,
  RunEvent,
  RunSummary,
  RunTenant,
  Tenant,
} from './api-client.js'

/**
 * Text output for people. Pure functions from API answers to strings; `--json` bypasses all of this.
 * Every string from the service passes through `printable`, so a tenant name or a failure message can
 * never move the cursor, recolour the terminal or hide a line.
 */

export type TenantNames = ReadonlyMap<number, string>

const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g

export function printable(text: unknown): string {
  return String(text ?? '').replace(CONTROL_CHARACTERS, ' ')
}

/** Columns padded to their widest cell; the last column is not padded, so lines carry no trailing blanks. */
export function table(headers: string[], rows: unknown[][]): string {
  const cells = [headers, ...rows.map((row) => row.map(printable))]
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)))
  return cells
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** Key/value lines with the values aligned. */
function fields(pairs: Array<[string, unknown]>): string {
  const width = Math.max(...pairs.map(([label]) => label.length))
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${printable(value)}`.trimEnd()).join('\n')
}

/** `2025-06-02T09:00:00.123Z` → `2025-06-02 09:00:00Z`; null → `-`. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '-'
  return iso.replace('T', ' ').replace(/\.\d+(?=Z|[+-]\d\d:?\d\d$)/, '')
}

/** Counts in SPEC §3's order; a key the service adds later still shows, after the known ones. */
const COUNT_ORDER = ['total', 'processed', 'updated', 'skipped', 'failed', 'tenants']

export function formatCounts(counts: Record<string, number>): string {
  const keys = [...COUNT_ORDER.filter((key) => key in counts), ...Object.keys(counts).filter((key) => !COUNT_ORDER.includes(key))]
  return keys.map((key) => `${key} ${counts[key]}`).join(', ')
}

export function tenantNamesOf(tenants: Tenant[]): TenantNames {
  return new Map(tenants.map((tenant) => [tenant.id, tenant.name]))
}

/** "Acme Logistics (#2)" when the name is known, "#2" otherwise (the tenant may have left the universe). */
export function tenantLabel(names: TenantNames, id: number | null | undefined): string {
  if (id === null || id === undefined) return '-'
  const name = names.get(id)
  return name === undefined ? `#${id}` : `${printable(name)} (#${id})`
}

export function formatFailures(failures: FailureEntry[], names: TenantNames): string {
  if (failures.length === 0) return 'Failures: none'
  return [
    `Failures (${failures.length}):`,
    ...failures.map((f) => `  ${tenantLabel(names, f.tenant_id)}  ${printable(f.reason_code)}  ${printable(f.message)}`),
  ].join('\n')
}

function contextValue(run: RunSummary, key: string): unknown {
  return (run.context ?? {})[key]
}

export function scopeLabel(run: RunSummary, names: TenantNames): string {
  if (contextValue(run, 'scope') === 'all_tenants') {
    const tenants = run.summaryCounts?.tenants
    return tenants === undefined ? 'all tenants' : `all tenants (${tenants})`
  }
  return `tenant ${tenantLabel(names, run.tenantId)}`
}

function reasonLabel(run: RunSummary): string {
  const reason = contextValue(run, 'reason') as { reason_code?: string; reason_text?: string } | null | undefined
  if (!reason || !reason.reason_code) return '-'
  return `${reason.reason_code}: ${reason.reason_text ?? ''}`
}

function initiatorLabel(run: RunSummary): string {
  const initiator = contextValue(run, 'platform_initiator') as { email?: string; is_break_glass?: boolean } | undefined
  const email = initiator?.email ? ` <${initiator.email}>` : ''
  const breakGlass = initiator?.is_break_glass ? ' (break-glass)' : ''
  return `${run.initiatorName}${email}${breakGlass}`
}

/** Who gave a run control: the operator, or the service itself (an error budget, a halt). */
export function actorLabel(entry: Pick<RunControlEntry, 'by' | 'byEmail' | 'byName'>): string {
  if (entry.by === 'system') return 'the service'
  const name = entry.byName ?? entry.by
  return entry.byEmail ? `${name} <${entry.byEmail}>` : name
}

/** `INCIDENT: the repair looks wrong (by Ops <ops@x>, 2026-01-01 09:00:00Z)`. */
export function formatControlEntry(entry: RunControlEntry): string {
  const text = entry.reasonText ? `: ${entry.reasonText}` : ''
  return `${entry.reasonCode}${text} (by ${actorLabel(entry)}, ${formatTime(entry.at)})`
}

export function formatLimits(limits: RunSummary['limits'] | null | undefined): string {
  if (!limits) return '-'
  return `max concurrency ${limits.maxConcurrency}, max failures ${limits.maxFailures ?? 'none'}`
}

const TENANT_COUNT_ORDER = ['targeted', 'pending', 'succeeded', 'failed', 'cancelled'] as const

export function formatTenantCounts(counts: RunSummary['tenantCounts'] | null | undefined): string {
  if (!counts) return '-'
  return TENANT_COUNT_ORDER.map((key) => `${key} ${counts[key]}`).join(', ')
}

/** What a run waiting for a second operator says, wherever it shows (start, run, follow). */
export function awaitingApprovalNote(runId: string): string {
  const id = printable(runId)
  return `waiting for a second operator to approve: rcp approve ${id} (or rcp reject ${id} --reason-code CODE --reason TEXT)`
}

/** SPEC §10: the run's approval, when it needed one. */
export function approvalLabel(run: Pick<RunSummary, 'id' | 'status' | 'outcome' | 'approval'>): string | null {
  const approval = run.approval
  if (run.status === 'awaiting_approval') return awaitingApprovalNote(run.id)
  if (!approval || !approval.required) return null
  if (approval.approvedBy) {
    const comment = approval.comment ? `: ${approval.comment}` : ''
    return `approved by ${approval.approvedBy} (${formatTime(approval.approvedAt)})${comment}`
  }
  if (run.outcome === 'rejected') return `rejected (rcp events ${printable(run.id)} shows by whom and why)`
  return 'required'
}

/** SPEC §11: `running (tenants 11, 12; auto-promote off)`; null for a run without a canary. */
export function formatCanary(canary: RunSummary['canary'] | undefined): string | null {
  if (!canary) return null
  const promote = canary.autoPromote ? 'on' : 'off'
  return `${canary.state} (tenants ${canary.tenantIds.join(', ')}; auto-promote ${promote})`
}

/** The SPEC §9 lines of a run: shown only when they say something (a pause, a cancellation, a retry, a canary, a revert). */
function controlFields(run: RunSummary): Array<[string, unknown]> {
  const pairs: Array<[string, unknown]> = []
  if (run.pause) pairs.push(['Paused', formatControlEntry(run.pause)])
  if (run.cancellation) pairs.push(['Cancelling', formatControlEntry(run.cancellation)])
  if (run.retryOf) pairs.push(['Retry of', run.retryOf])
  if (run.revertOf) pairs.push(['Revert of', run.revertOf])
  const canary = formatCanary(run.canary)
  if (canary) pairs.push(['Canary', canary])
  const approval = approvalLabel(run)
  if (approval) pairs.push(['Approval', approval])
  pairs.push(['Limits', formatLimits(run.limits)])
  if (run.tenantCounts) pairs.push(['Tenants', formatTenantCounts(run.tenantCounts)])
  return pairs
}

/**
 * Whether this completed run is verified or still to be (SPEC §11): the service's own rule,
 * `verificationExpected`, at `now`.
 */
export function awaitsVerification(
  run: Pick<RunSummary, 'status' | 'outcome' | 'completedAt'> & Partial<Pick<RunSummary, 'revertOf' | 'verification'>>,
  now: Date = new Date(),
): boolean {
  return run.status === 'completed' && verificationExpected({ ...run, revertOf: run.revertOf ?? null, verification: run.verification ?? null }, now)
}

/**
 * SPEC §11 verification of a completed run: `Verified: 0 remaining (time)`, or what would still change with
 * the tenants it would change in, or `Verification: pending` while a succeeded/partially succeeded run has
 * none yet (`Verification: none` when it completed too long before the verifier met it: it will have none);
 * null for other outcomes (and for a resource without the field).
 */
export function formatVerification(
  run: Pick<RunSummary, 'status' | 'outcome' | 'verification' | 'completedAt'> & Partial<Pick<RunSummary, 'context' | 'revertOf'>>,
  names: TenantNames,
  unit: string = UNKNOWN_UNIT,
): string | null {
  const verification = run.verification
  if (verification === undefined) return null
  if (verification === null) {
    if (awaitsVerification(run)) return 'Verification: pending'
    const verifiable = run.status === 'completed' && isVerifiable({ outcome: run.outcome ?? '', revertOf: run.revertOf ?? null })
    return verifiable ? `Verification: none (the service verifies a run only within ${VERIFY_WITHIN_WORDS} of its completion)` : null
  }
  const at = formatTime(verification.verifiedAt)
  if (verification.remaining === 0) return `Verified: 0 remaining (${at})`
  return [
    `Verified: ${verification.remaining} ${printable(unit)} would still change (${at})`,
    ...verification.tenantsWithRemaining.map((tenant) => `  ${tenantLabel(names, tenant.tenantId)}: ${tenant.remaining}`),
  ].join('\n')
}

/** Whether a verification line names tenants or a unit, i.e. whether it needs tenant names and the runbook's unit. */
export function verificationHasResidue(run: Pick<RunSummary, 'verification'>): boolean {
  return (run.verification?.remaining ?? 0) > 0
}

export function formatRunDetail(run: RunDetail, names: TenantNames, unit: string = UNKNOWN_UNIT): string {
  const verification = formatVerification(run, names, unit)
  return [
    fields([
      ['Run', run.id],
      ['Runbook', run.type],
      ['Scope', scopeLabel(run, names)],
      ['Status', run.status],
      ['Outcome', run.outcome],
      ...controlFields(run),
      ['Source', contextValue(run, 'source') ?? '-'],
      ['Initiator', initiatorLabel(run)],
      ['Reason', reasonLabel(run)],
      ['Created', formatTime(run.createdAt)],
      ['Started', formatTime(run.startedAt)],
      ['Completed', formatTime(run.completedAt)],
      ['Counts', formatCounts(run.summaryCounts ?? {})],
    ]),
    ...(verification ? [verification] : []),
    formatFailures(run.failureSummary ?? [], names),
  ].join('\n')
}

export type RunControl = 'pause' | 'resume' | 'cancel' | 'limits' | 'approve' | 'reject'

/** What `pause`, `resume`, `cancel` and `limits` print: what happened, then the run's control lines. */
export function formatControlled(control: RunControl, run: RunDetail): string {
  const id = printable(run.id)
  const headline = {
    pause: `Run ${id} paused: no tenant repair of it starts until it is resumed (rcp resume ${id}) or cancelled.`,
    resume: `Run ${id} resumed: ${printable(run.status)}.`,
    cancel:
      run.status === 'completed'
        ? `Run ${id} cancelled: completed ${printable(run.outcome)}.`
        : `Run ${id} is being cancelled: repairs in flight finish and are counted, then it completes cancelled.`,
    limits: `Run ${id} limits changed: ${formatLimits(run.limits)}.`,
    approve: `Run ${id} approved: ${printable(run.status)}; it proceeds (rcp run ${id} shows how far it got).`,
    reject: `Run ${id} rejected: completed ${printable(run.outcome)}, nothing was repaired.`,
  }[control]
  return [
    headline,
    fields([
      ['Status', run.status],
      ['Outcome', run.outcome],
      ...controlFields(run),
    ]),
  ].join('\n')
}

/** A run's tenants (SPEC §9), in the service's order (by tenant id). */
export function formatRunTenants(tenants: RunTenant[]): string {
  if (tenants.length === 0) return 'No tenants.'
  const names: TenantNames = new Map(tenants.flatMap((t) => (t.tenantName === null ? [] : [[t.tenantId, t.tenantName] as const])))
  return table(
    ['TENANT', 'STATUS', 'ATTEMPTS', 'UPDATED', 'SKIPPED', 'TOTAL', 'STARTED', 'COMPLETED', 'FAILURE'],
    tenants.map((t) => [
      tenantLabel(names, t.tenantId),
      t.status,
      t.attempts,
      t.counts?.updated ?? '-',
      t.counts?.skipped ?? '-',
      t.counts?.total ?? '-',
      formatTime(t.startedAt),
      formatTime(t.completedAt),
      t.reasonCode ? `${t.reasonCode}: ${t.message ?? ''}` : '-',
    ]),
  )
}

function haltedBy(halt: Halt): string {
  const by = halt.by ? `${halt.by.name} <${halt.by.email}>` : 'the service'
  const reason = halt.reason ? `${halt.reason.code}: ${halt.reason.text}` : '-'
  return `since ${formatTime(halt.at)} by ${by}: ${reason}`
}

/** `rcp halt status`. */
export function formatHalt(halt: Halt): string {
  if (!halt.halted) return 'Not halted: starts, resumes and approvals are accepted.'
  return [
    `HALTED ${printable(haltedBy(halt))}`,
    'Starts, resumes, retries and approvals are refused until the halt is lifted (rcp unhalt).',
  ].join('\n')
}

/** `rcp halt`: the halt and the runs it paused. */
export function formatHaltEngaged(halt: HaltEngaged): string {
  const paused = halt.pausedRuns.length === 0 ? 'No active run to pause.' : `Paused ${halt.pausedRuns.length} run(s) (HALTED):`
  return [
    `Deployment halted ${printable(haltedBy(halt))}`,
    paused,
    ...halt.pausedRuns.map((id) => `  ${printable(id)}`),
    'Starts, resumes, retries and approvals are refused until: rcp unhalt --reason-code CODE --reason TEXT',
  ].join('\n')
}

/** `rcp unhalt`. */
export function formatHaltLifted(): string {
  return [
    'Halt lifted: starts are accepted again.',
    'Runs the halt paused stay paused: list them with rcp runs --status paused, resume each with rcp resume RUN.',
  ].join('\n')
}

/** What `start --follow` prints once the run completed. */
export function formatCompletion(run: RunDetail, names: TenantNames, unit: string = UNKNOWN_UNIT): string {
  const verification = formatVerification(run, names, unit)
  return [
    `Run ${run.id} completed: ${printable(run.outcome)}`,
    ...(run.outcome === 'rejected' ? ['Rejected by a second operator (or its approval expired): nothing was repaired.'] : []),
    `Counts: ${formatCounts(run.summaryCounts ?? {})}`,
    ...(run.tenantCounts ? [`Tenants: ${formatTenantCounts(run.tenantCounts)}`] : []),
    ...(verification ? [verification] : []),
    formatFailures(run.failureSummary ?? [], names),
  ].join('\n')
}

export function formatRunsTable(runs: RunSummary[], names: TenantNames): string {
  if (runs.length === 0) return 'No runs.'
  return table(
    ['ID', 'RUNBOOK', 'SCOPE', 'STATUS', 'OUTCOME', 'UPDATED', 'FAILED', 'CREATED'],
    runs.map((run) => [
      run.id,
      run.type,
      scopeLabel(run, names),
      run.status,
      run.outcome,
      run.summaryCounts?.updated ?? '-',
      run.summaryCounts?.failed ?? '-',
      formatTime(run.createdAt),
    ]),
  )
}

/** What a runbook's counts count when the CLI does not know (SPEC §13 `unit`). */
export const UNKNOWN_UNIT = 'rows'

/** One parameter of a runbook, a leaf of its JSON Schema: `slaDays.critical`, `integer`, `3`, `1..365`. */
export interface ParameterRow {
  name: string
  type: string
  default: string
  bounds: string
  title: string
}

type JsonSchema = Record<string, unknown>

const isSchema = (value: unknown): value is JsonSchema => value !== null && typeof value === 'object' && !Array.isArray(value)

function schemaType(schema: JsonSchema): string {
  if (Array.isArray(schema.enum)) return 'enum'
  if (schema.const !== undefined) return 'const'
  if (Array.isArray(schema.type)) return schema.type.join('|')
  if (typeof schema.type === 'string') return schema.type
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key]
    if (Array.isArray(options)) return options.filter(isSchema).map(schemaType).join('|') || '-'
  }
  return '-'
}

function schemaBounds(schema: JsonSchema): string {
  if (Array.isArray(schema.enum)) return schema.enum.map((value) => JSON.stringify(value)).join(' | ')
  if (schema.const !== undefined) return JSON.stringify(schema.const)
  const range = (low: unknown, high: unknown, what = '') => {
    const has = (value: unknown) => typeof value === 'number'
    if (has(low) && has(high)) return `${what}${low}..${high}`
    if (has(low)) return `${what}>= ${low}`
    if (has(high)) return `${what}<= ${high}`
    return ''
  }
  const parts = [
    range(schema.minimum, schema.maximum),
    typeof schema.exclusiveMinimum === 'number' ? `> ${schema.exclusiveMinimum}` : '',
    typeof schema.exclusiveMaximum === 'number' ? `< ${schema.exclusiveMaximum}` : '',
    range(schema.minLength, schema.maxLength, 'length '),
    range(schema.minItems, schema.maxItems, 'items '),
    typeof schema.pattern === 'string' ? `pattern ${schema.pattern}` : '',
    typeof schema.format === 'string' ? `format ${schema.format}` : '',
  ].filter((part) => part !== '')
  return parts.length === 0 ? '-' : parts.join(', ')
}

/**
 * A runbook's parameters (the catalog's JSON Schema) as the names `--param` takes: an object with
 * properties is walked into (`slaDays.critical`), anything else is one parameter.
 */
export function parameterRows(schema: unknown, prefix: string[] = [], titles: string[] = [], required = true): ParameterRow[] {
  if (!isSchema(schema) || !isSchema(schema.properties)) return []
  const requiredNames = Array.isArray(schema.required) ? schema.required : []
  return Object.entries(schema.properties).flatMap(([name, property]): ParameterRow[] => {
    if (!isSchema(property)) return []
    const path = [...prefix, name]
    const title = typeof property.title === 'string' ? property.title : typeof property.description === 'string' ? property.description : ''
    const chain = title === '' ? titles : [...titles, title]
    const isRequired = required && requiredNames.includes(name) && property.default === undefined
    if (isSchema(property.properties) && Object.keys(property.properties).length > 0) {
      return parameterRows(property, path, chain, isRequired)
    }
    return [
      {
        name: path.join('.'),
        type: schemaType(property),
        default: property.default !== undefined ? JSON.stringify(property.default) : isRequired ? '(required)' : '-',
        bounds: schemaBounds(property),
        title: chain.join(': '),
      },
    ]
  })
}

export function formatRunbooks(runbooks: Runbook[]): string {
  if (runbooks.length === 0) return 'No runbooks.'
  const catalog = table(
    ['KEY', 'LABEL', 'UNIT', 'ESTIMATED DURATION', 'CAPABILITY'],
    runbooks.map((r) => [r.key, r.label, r.unit ?? '-', r.estimatedDuration, r.requiredCapability]),
  )
  const parameters = runbooks.map((r) => {
    const rows = parameterRows(r.parameters)
    if (rows.length === 0) return `Parameters of ${printable(r.key)}: none`
    const lines = table(
      ['NAME', 'TYPE', 'DEFAULT', 'BOUNDS', 'TITLE'],
      rows.map((row) => [row.name, row.type, row.default, row.bounds, row.title || '-']),
    )
    return [`Parameters of ${printable(r.key)} (--param NAME=VALUE):`, ...lines.split('\n').map((line) => `  ${line}`)].join('\n')
  })
  return [catalog, '', ...parameters].join('\n')
}

export function formatTenants(tenants: Tenant[]): string {
  if (tenants.length === 0) return 'No tenants match.'
  return table(
    ['ID', 'NAME', 'WORKSPACE'],
    tenants.map((t) => [t.id, t.name, t.workspaceId]),
  )
}

/** `unit`: what the runbook counts (the catalog's `unit`), `rows` when the CLI could not learn it. */
/**
 * `rcp preflight`: the counts, the recorded preview's id (to look at its plan, or pin it later) and, when
 * some tenants' repair would fail, those tenants with the reason and message from the plan (`wouldFail`:
 * the plan's would-fail tenants as fetched; null when they could not be, the ids alone are listed then).
 */
export function formatPreflight(
  runbookKey: string,
  target: string,
  preflight: Preflight,
  unit: string = UNKNOWN_UNIT,
  wouldFail: PlanTenant[] | null = [],
): string {
  const counted = printable(unit)
  const lines = [
    `Preflight of ${printable(runbookKey)} for ${target}:`,
    fields([
      [`  ${counted} to update`, preflight.affectedCount],
      [`  ${counted} scanned`, preflight.totalCount],
      ['  tenants', preflight.estimatedTenants],
      ...(preflight.preflightId ? [['  preflight', preflight.preflightId] as [string, unknown]] : []),
    ]),
  ]
  const failing = preflight.wouldFailTenants ?? []
  if (failing.length > 0) {
    const details = new Map((wouldFail ?? []).map((tenant) => [tenant.tenantId, tenant]))
    lines.push(`Would fail (${failing.length}):`)
    for (const id of failing) {
      const tenant = details.get(id)
      lines.push(
        tenant
          ? `  ${planTenantLabel(tenant)}  ${printable(tenant.wouldFail ?? '-')}  ${printable(tenant.message ?? '')}`.trimEnd()
          : `  #${id}`,
      )
    }
    if (wouldFail === null && preflight.preflightId) {
      lines.push(`  (reasons unavailable: rcp plan ${printable(preflight.preflightId)} --would-fail)`)
    }
  }
  if (preflight.preflightId) lines.push(`Per tenant: rcp plan ${printable(preflight.preflightId)} (kept 24 hours)`)
  return lines.join('\n')
}

/** "Acme Logistics (#2)", or "#2" for a tenant without a name. */
function planTenantLabel(tenant: PlanTenant): string {
  return tenant.tenantName === null ? `#${tenant.tenantId}` : `${printable(tenant.tenantName)} (#${tenant.tenantId})`
}

/**
 * `rcp plan`: a preview's plan, one row per tenant in the service's order (would-fail tenants first), and
 * a count. `wouldFailOnly`: the list holds only the tenants that would fail.
 */
export function formatPlan(tenants: PlanTenant[], options: { wouldFailOnly?: boolean } = {}): string {
  const failing = tenants.filter((tenant) => tenant.wouldFail !== null).length
  if (tenants.length === 0) return options.wouldFailOnly ? 'No tenant would fail.' : 'No tenants.'
  const rows = table(
    ['TENANT', 'NAME', 'AFFECTED', 'TOTAL', 'WOULD FAIL', 'MESSAGE'],
    tenants.map((t) => [t.tenantId, t.tenantName ?? '-', t.affected, t.total, t.wouldFail ?? '-', t.message ?? '-']),
  )
  const count = options.wouldFailOnly
    ? `${failing} tenant${failing === 1 ? '' : 's'} would fail.`
    : `${tenants.length} tenant${tenants.length === 1 ? '' : 's'}, ${failing} would fail.`
  return `${rows}\n${count}`
}

const DETAIL_LENGTH = 100

/** One line per event; TenantProcessed says what happened, other events show their data, shortened. */
function eventDetail(event: RunEvent, names: TenantNames): string {
  if (event.type === 'TenantProcessed') {
    const data = event.data as { tenantId?: number; attempt?: number; result?: Record<string, unknown> }
    const result = data.result ?? {}
    const outcome =
      result.status === 'succeeded'
        ? `succeeded, updated ${result.updated} of ${result.total}`
        : `failed ${result.reasonCode}: ${result.message}`
    return `${tenantLabel(names, data.tenantId)} ${outcome} (attempt ${data.attempt})`
  }
  const json = JSON.stringify(event.data)
  return json.length > DETAIL_LENGTH ? `${json.slice(0, DETAIL_LENGTH - 1)}…` : json
}

export function formatEvents(events: RunEvent[], names: TenantNames): string {
  if (events.length === 0) return 'No events.'
  return table(
    ['REV', 'RECORDED', 'TYPE', 'DETAIL'],
    events.map((e) => [e.revision, formatTime(e.recordedAt), `${e.type} v${e.version}`, eventDetail(e, names)]),
  )
}

export function formatAudit(entries: AuditEntry[]): string {
  if (entries.length === 0) return 'No audit entries.'
  return table(
    ['OCCURRED', 'ACTION', 'ACTOR', 'RUN'],
    entries.map((e) => [formatTime(e.occurredAt), e.action, e.actorEmail ?? e.actorUserId ?? '-', e.operationRunId ?? '-']),
  )
}

/** `rcp operators list`. */
export function formatOperators(operators: Operator[]): string {
  if (operators.length === 0) return 'No operators.'
  return table(
    ['ID', 'EMAIL', 'NAME', 'STATE', 'BREAK-GLASS', 'LAST LOGIN', 'CAPABILITIES'],
    operators.map((o) => [
      o.id,
      o.email,
      o.name,
      o.disabled ? 'disabled' : 'enabled',
      o.isBreakGlass ? 'yes' : 'no',
      formatTime(o.lastLoginAt),
      o.capabilities.length === 0 ? '-' : o.capabilities.join(','),
    ]),
  )
}

/** One operator (`rcp me`, and what `operators create|update|…` changed). */
export function formatOperator(operator: Operator): string {
  return fields([
    ['Operator', operator.id],
    ['Email', operator.email],
    ['Name', operator.name],
    ['State', operator.disabled ? 'disabled (cannot log in; tokens revoked)' : 'enabled'],
    ['Break-glass', operator.isBreakGlass ? 'yes (every start needs a reason and raises an alert)' : 'no'],
    ['Capabilities', operator.capabilities.length === 0 ? '-' : operator.capabilities.join(', ')],
    ['Created', formatTime(operator.createdAt)],
    ['Last login', formatTime(operator.lastLoginAt)],
  ])
}

const APPROVAL_POLICY_TEXT: Record<string, string> = {
  none: 'no start needs approval',
  all_tenants: 'starts for all tenants need a second operator to approve',
  all: 'every start needs a second operator to approve',
}

/** `rcp approvals`. */
export function formatApprovalSettings(settings: ApprovalSettings): string {
  const what = APPROVAL_POLICY_TEXT[settings.required] ?? ''
  const by = settings.by ? ` (set by ${settings.by.name} <${settings.by.email}>, ${formatTime(settings.at)})` : ' (the default)'
  return `Approvals: ${printable(settings.required)}: ${what}${printable(by)}`
}

/** The hint under a page that has more. */
export function nextPageHint(nextCursor: string | null | undefined): string | null {
  return nextCursor ? `More: repeat with --cursor ${printable(nextCursor)}` : null
}
