import type { ApiClient, PlanTenant } from '../api-client.js'
import { everyPage } from '../every-page.js'
import type { CommandContext } from '../command-context.js'
import { exitCodes, type ExitCode } from '../exit-codes.js'
import { formatPlan, formatPreflight, formatRunbooks, formatTenants } from '../format.js'
import { parametersOf, type ParameterOptions } from '../params.js'
import { pinnedStartHint } from './pinned-plan.js'
import { describeTarget, targetOf, type TargetOptions } from './target.js'

export type PreflightOptions = TargetOptions & ParameterOptions

export async function listRunbooks(context: CommandContext): Promise<ExitCode> {
  const page = await context.client.listRunbooks()
  if (context.json) context.printJson(page)
  else context.print(formatRunbooks(page.items))
  return exitCodes.ok
}

/** Every tenant of the universe the filter matches, page after page. */
export async function listTenants(context: CommandContext, options: { q?: string }): Promise<ExitCode> {
  const items = await everyPage((cursor) => context.client.listTenants({ ...(options.q ? { q: options.q } : {}), ...(cursor ? { cursor } : {}) }))
  if (context.json) context.printJson({ items, nextCursor: null })
  else context.print(formatTenants(items))
  return exitCodes.ok
}

/**
 * What the runbook would change, computed by the service without changing anything. The text names the
 * recorded preview and, when some tenants' repair would fail, lists them with the reason from its plan.
 */
export async function preflight(context: CommandContext, runbookKey: string, options: PreflightOptions): Promise<ExitCode> {
  const target = targetOf(options)
  const parameters = await parametersOf(options, context.io.stdin)
  const result = await context.client.preflight(runbookKey, parameters === undefined ? target : { ...target, parameters })
  if (context.json) {
    context.printJson(result)
    return exitCodes.ok
  }
  const failing = result.wouldFailTenants ?? []
  let wouldFail: PlanTenant[] | null = []
  if (failing.length > 0 && result.preflightId) {
    // They lead the plan: one page a little longer than their number reaches past the last of them.
    const limit = Math.min(PLAN_PAGE_LIMIT, failing.length + 1)
    try {
      wouldFail = await planTenants(context.client, result.preflightId, { limit, wouldFailOnly: true })
    } catch {
      // The preview itself succeeded: its numbers and the ids still show, with how to get the reasons.
      wouldFail = null
    }
  }
  context.print(formatPreflight(runbookKey, describeTarget(target), result, await context.runbookUnit(runbookKey), wouldFail))
  if (result.preflightId) context.print(pinnedStartHint(runbookKey, options, result.preflightId))
  return exitCodes.ok
}

export interface PlanOptions {
  wouldFail?: boolean
  limit?: number
}

/** The service's largest page of a plan. */
const PLAN_PAGE_LIMIT = 200

/**
 * A preview's plan, every page; `wouldFailOnly` stops at the first tenant that would not fail (they come
 * first). `limit` is the page size (the service's default when left out).
 */
export async function planTenants(
  client: ApiClient,
  preflightId: string,
  options: { limit?: number; wouldFailOnly?: boolean },
): Promise<PlanTenant[]> {
  return everyPage((cursor) => client.listPlanTenants(preflightId, { limit: options.limit, cursor }), {
    ...(options.wouldFailOnly ? { keep: (tenant: PlanTenant) => tenant.wouldFail !== null } : {}),
  })
}

/** `rcp plan PREFLIGHT_ID`: what each tenant of a preview would change, and whether its repair would fail. */
export async function showPlan(context: CommandContext, preflightId: string, options: PlanOptions): Promise<ExitCode> {
  const wouldFailOnly = options.wouldFail === true
  const tenants = await planTenants(context.client, preflightId, { limit: options.limit, wouldFailOnly })
  if (context.json) context.printJson(tenants)
  else context.print(formatPlan(tenants, { wouldFailOnly }))
  return exitCodes.ok
}
