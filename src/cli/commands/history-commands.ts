import { ApiError, type RunListFilter } from '../api-client.js'
import type { CommandContext } from '../command-context.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'
import { formatAudit, formatEvents, formatRunDetail, formatRunsTable, nextPageHint, verificationHasResidue } from '../format.js'

export type RunsOptions = Omit<RunListFilter, 'tenantId'> & { tenant?: number }

export const runsFieldFlags: Record<string, string> = {
  status: '--status',
  outcome: '--outcome',
  runbook: '--runbook',
  tenantId: '--tenant',
  limit: '--limit',
  cursor: '--cursor',
}

export async function listRuns(context: CommandContext, options: RunsOptions): Promise<ExitCode> {
  const { tenant, ...filter } = options
  const page = await context.client.listRuns({ ...filter, tenantId: tenant })
  if (context.json) {
    context.printJson(page)
    return exitCodes.ok
  }
  const names = page.items.some((run) => run.tenantId !== null) ? await context.tenantNames() : new Map()
  context.print(formatRunsTable(page.items, names))
  context.print(nextPageHint(page.nextCursor))
  return exitCodes.ok
}

export async function showRun(context: CommandContext, id: string, options: { at?: number } = {}): Promise<ExitCode> {
  let run
  try {
    // SPEC §12: --at N is the run as it stood right after its N-th event, shown as the run is.
    run = options.at === undefined ? await context.client.getRun(id) : await context.client.runStateAt(id, options.at)
  } catch (error) {
    // Beyond its last event: the run exists, so say how far it goes rather than "no run".
    if (error instanceof ApiError && error.status === 404 && typeof error.problem.revisions === 'number') {
      if (context.json) context.printJson(error.problem)
      context.note(`error: run ${id} has ${error.problem.revisions} events; --at takes 1 to ${error.problem.revisions}`)
      return exitCodes.usage
    }
    throw error
  }
  if (context.json) context.printJson(run)
  else context.print(formatRunDetail(run, await context.tenantNames(), verificationHasResidue(run) ? await context.runbookUnit(run.type) : undefined))
  return exitCodes.ok
}

export async function showEvents(context: CommandContext, id: string): Promise<ExitCode> {
  const page = await context.client.runEvents(id)
  if (context.json) {
    context.printJson(page)
    return exitCodes.ok
  }
  const names = page.items.some((event) => event.type === 'TenantProcessed') ? await context.tenantNames() : new Map()
  context.print(formatEvents(page.items, names))
  return exitCodes.ok
}

export interface AuditOptions {
  action?: string
  operator?: string
  run?: string
  limit?: number
  cursor?: string
}

export const auditFieldFlags: Record<string, string> = {
  action: '--action',
  operator: '--operator',
  runId: '--run',
  limit: '--limit',
  cursor: '--cursor',
}

export async function listAudit(context: CommandContext, options: AuditOptions): Promise<ExitCode> {
  const { run, ...filter } = options
  const page = await context.client.listAudit({ ...filter, ...(run !== undefined ? { runId: run } : {}) })
  if (context.json) context.printJson(page)
  else {
    context.print(formatAudit(page.items))
    context.print(nextPageHint(page.nextCursor))
  }
  return exitCodes.ok
}
