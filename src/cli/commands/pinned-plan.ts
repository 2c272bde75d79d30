import { InvalidArgumentError } from 'commander'
import type { PlanDriftedProblem, Problem } from '../api-client.js'
import { UsageError } from '../exit-codes.js'
import { printable, table, tenantLabel, UNKNOWN_UNIT, type TenantNames } from '../format.js'
import type { ParameterOptions } from '../params.js'
import type { TargetOptions } from './target.js'

/**
 * SPEC §11 "Pinned plan and drift" in the CLI: `rcp start … --preflight ID [--max-drift PERCENT]` pins a
 * start to a preview, `rcp preflight` prints how to, and a start refused 409 `PLAN_DRIFTED` prints what
 * moved. Whether the data drifted is the service's decision; only the shape of the options is checked here.
 */

export interface PinOptions {
  /** `--preflight ID`: the preview id `rcp preflight` printed. */
  preflight?: string
  /** `--max-drift PERCENT` (0 to 100), parsed by `driftPercent`. */
  maxDrift?: number
}

export interface Pin {
  preflightId?: string
  maxDriftPercent?: number
}

export const pinFieldFlags: Record<string, string> = {
  preflightId: '--preflight',
  maxDriftPercent: '--max-drift',
}

const PERCENT = /^\d{1,3}(\.\d{1,6})?$/

/** `--max-drift PERCENT`: a number from 0 to 100 (decimals allowed), else a usage error before any request. */
export function driftPercent(value: string): number {
  const percent = Number(value)
  if (!PERCENT.test(value) || !(percent >= 0 && percent <= 100)) {
    throw new InvalidArgumentError('--max-drift must be a percentage from 0 to 100')
  }
  return percent
}

/** The pin a start carries, or none; `--max-drift` alone has no preview to compare with: a usage error. */
export function pinOf(options: PinOptions): Pin {
  const pin: Pin = {}
  if (options.preflight !== undefined) {
    if (options.preflight.trim() === '') throw new UsageError('--preflight needs the preview id rcp preflight printed')
    pin.preflightId = options.preflight
  }
  if (options.maxDrift !== undefined) {
    if (pin.preflightId === undefined) {
      throw new UsageError('--max-drift needs --preflight ID: the tolerance is against a pinned preview (rcp preflight prints its id)')
    }
    if (!(Number.isFinite(options.maxDrift) && options.maxDrift >= 0 && options.maxDrift <= 100)) {
      throw new UsageError('--max-drift must be a percentage from 0 to 100')
    }
    pin.maxDriftPercent = options.maxDrift
  }
  return pin
}

/** The 409 of a start whose pinned plan drifted (the other 409 of a start names the active run instead). */
export function isPlanDrifted(problem: Problem): problem is Problem & PlanDriftedProblem {
  return (
    problem.code === 'PLAN_DRIFTED' &&
    typeof problem.pinned === 'object' &&
    problem.pinned !== null &&
    typeof problem.current === 'object' &&
    problem.current !== null &&
    Array.isArray(problem.tenants)
  )
}

/** A word as a POSIX shell reads it back: bare when it is safe, else single-quoted. */
export function shellWord(word: string): string {
  const text = printable(word)
  return /^[A-Za-z0-9_.,:/=@%+-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`
}

/** The target and parameter options as typed, to repeat them in a hint: `--tenant 2 --param a=1`. */
export function targetAndParameterFlags(options: TargetOptions & ParameterOptions): string[] {
  const flags: string[] = []
  if (options.allTenants) flags.push('--all-tenants')
  if (options.tenant !== undefined) flags.push('--tenant', String(options.tenant))
  if (options.paramsFile !== undefined) flags.push('--params-file', shellWord(options.paramsFile))
  for (const param of options.param ?? []) flags.push('--param', shellWord(param))
  return flags
}

/** `rcp preflight`'s last line: how to start pinned to this preview (the confirmation is still typed by hand). */
export function pinnedStartHint(runbookKey: string, options: TargetOptions & ParameterOptions, preflightId: string): string {
  return ['start pinned: rcp start', shellWord(runbookKey), ...targetAndParameterFlags(options), '--preflight', shellWord(preflightId)].join(' ')
}

/** `rcp preflight KEY <the same flags>`, for the hint of a drifted start. */
export function previewAgainCommand(runbookKey: string, options: TargetOptions & ParameterOptions): string {
  return ['rcp preflight', shellWord(runbookKey), ...targetAndParameterFlags(options)].join(' ')
}

export interface DriftReportContext {
  preflightId: string
  /** The tolerance given with `--max-drift`; left out, the service's default applied. */
  maxDriftPercent?: number
  /** What the runbook's counts count (`findings`). */
  unit?: string
  names?: TenantNames
  /** `rcp preflight KEY --tenant 2`: what to run to preview again. */
  previewCommand: string
}

type TenantPlan = PlanDriftedProblem['tenants'][number]['pinned']

/**
 * The text of a start refused 409 `PLAN_DRIFTED` (stderr: nothing was started): the pinned and current
 * counts, one row per tenant that changed, and how to go on. Every value from the service is `printable`.
 */
export function formatPlanDrift(problem: PlanDriftedProblem, context: DriftReportContext): string {
  const unit = printable(context.unit ?? UNKNOWN_UNIT)
  const tolerance = context.maxDriftPercent === undefined ? 'the default tolerance' : `--max-drift ${context.maxDriftPercent}%`
  const lines = [
    `error: the data changed since preview ${printable(context.preflightId)} beyond ${tolerance}, or a tenant would now fail: nothing was started`,
  ]
  const pinned = problem.pinned ?? {}
  const current = problem.current ?? {}
  lines.push(
    indented(table(
      ['', 'PINNED', 'NOW', 'CHANGE'],
      [
        [`${unit} to update`, pinned.affectedCount, current.affectedCount, change(pinned.affectedCount, current.affectedCount)],
        [`${unit} scanned`, pinned.totalCount, current.totalCount, change(pinned.totalCount, current.totalCount)],
        ['tenants', pinned.estimatedTenants, current.estimatedTenants, change(pinned.estimatedTenants, current.estimatedTenants)],
      ].map((row) => row.map((cell) => (cell === undefined ? '-' : cell))),
    )),
  )
  const tenants = problem.tenants ?? []
  if (tenants.length > 0) {
    const more = problem.tenantsChanged > tenants.length ? `, the first ${tenants.length} shown` : ''
    lines.push(`Tenants that changed (${problem.tenantsChanged}${more}):`)
    lines.push(
      indented(table(
        ['TENANT', 'AFFECTED', 'WOULD FAIL'],
        tenants.map((t) => [tenantLabel(context.names ?? new Map(), t.tenantId), affectedChange(t.pinned, t.current), wouldFailChange(t.pinned, t.current)]),
      )),
    )
  }
  lines.push(`hint: preview again (${context.previewCommand}) and start from the new plan`)
  return lines.join('\n')
}

function indented(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`.trimEnd())
    .join('\n')
}

/** `+1 (+8.3%)`, `-2`, `0`; the percentage is of the pinned value, none when it was 0. */
function change(pinned: number | undefined, current: number | undefined): string {
  if (typeof pinned !== 'number' || typeof current !== 'number') return '-'
  const delta = current - pinned
  const signed = delta > 0 ? `+${delta}` : String(delta)
  if (delta === 0 || pinned === 0) return signed
  const percent = Math.round((delta / pinned) * 1000) / 10
  return `${signed} (${percent > 0 ? '+' : ''}${percent}%)`
}

/** `12 → 13`; a tenant absent from one side (it joined or left the targets) shows `-` there. */
function affectedChange(pinned: TenantPlan, current: TenantPlan): string {
  return `${pinned?.affected ?? '-'} → ${current?.affected ?? '-'}`
}

/** `-` when neither would fail, the reason code when it did not change, else `ok → INVALID_DATA`. */
function wouldFailChange(pinned: TenantPlan, current: TenantPlan): string {
  const before = pinned?.wouldFail ?? null
  const after = current?.wouldFail ?? null
  if (before === after) return before === null ? '-' : printable(before)
  const side = (plan: TenantPlan, reason: string | null) => (plan === null ? '-' : reason === null ? 'ok' : printable(reason))
  return `${side(pinned, before)} → ${side(current, after)}`
}
