import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../../src/db/demo-seed.js'
import { getRun } from '../../../src/projections/queries.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../../support/service.js'
import { consoleLogin, consoleRequest, createConsoleOperator, type ConsoleResponse, type ConsoleSession } from './console-client.js'

/**
 * SPEC §11 "Pinned plan and drift" in the console: the start form carries the preview id the page's script
 * fills after a preflight (`preflightId`) and "Allowed drift (%)" (`maxDriftPercent`); a pinned start whose
 * data moved beyond the tolerance comes back 409 with a drift report beside the form and appends nothing.
 */

const runbookKey = 'findings.lifecycle.backfill'
const runbookCapability = 'platform.runbooks.findings.lifecycle_backfill'
const everyCapability = ['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.run', runbookCapability]
const startPath = `/system/ops/runbooks/${runbookKey}/runs`

function runIdFrom(location: string | null): string {
  const match = /^\/system\/ops\/runs\/([0-9A-Z]{26})$/.exec(location ?? '')
  if (!match) throw new Error(`not a run page: ${location}`)
  return match[1]!
}

/** The text of an HTML fragment, tags dropped, entities of the page decoded, spaces collapsed. */
function textOf(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim()
}

/** The drift report's section of a page, or null. */
function driftReportOf(html: string): string | null {
  return /<section class="drift-report"[\s\S]*?<\/section>/.exec(html)?.[0] ?? null
}

/** The drift table's body rows, each as its cells' texts. */
function driftRowsOf(report: string): string[][] {
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(report)?.[1] ?? ''
  return [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((row) => [...row[1]!.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((cell) => textOf(cell[1]!)))
}

/** The text of the field-error paragraph with this id. */
function fieldError(html: string, id: string): string {
  const match = new RegExp(`<p class="field-error" id="${id}"[^>]*>([\\s\\S]*?)</p>`).exec(html)
  if (!match) throw new Error(`no field error ${id}`)
  return textOf(match[1]!)
}

describe.each(serviceFlavours())('console pinned start (SPEC §11): $name', (flavour) => {
  let service: TestService
  let admin: ConsoleSession
  let tenants: Array<{ id: number; name: string }>

  const start = (form: Record<string, string>) =>
    consoleRequest(service, 'POST', startPath, { cookies: admin.cookies, form: { _csrf: admin.csrf, confirmation: runbookKey, ...form } })
  const runCount = async () => (await service.sql<{ count: number }[]>`select count(*)::int as count from operation_runs`)[0]!.count

  /** A preview as the page's script records it: the console's own preflight route. */
  async function preflight(json: object): Promise<{ preflightId: string; affectedCount: number; totalCount: number }> {
    const response = await consoleRequest(service, 'POST', `/system/ops/runbooks/${runbookKey}/preflight`, {
      cookies: admin.cookies,
      json,
      headers: { accept: 'application/json', 'x-csrf-token': admin.csrf },
    })
    expect(response.status, response.text).toBe(200)
    return JSON.parse(response.text)
  }

  /** One more legacy finding in the tenant: an `open` finding the backfill would repair. */
  async function addLegacyFinding(tenantId: number, fingerprint: string) {
    await service.sql`
      insert into findings (id, tenant_id, fingerprint, severity, status, created_at, updated_at)
      select max(id) + 1000, ${tenantId}, ${fingerprint}, 'low', 'open', now(), now() from findings`
  }

  beforeAll(async () => {
    service = await flavour.start()
    admin = await consoleLogin(service, await createConsoleOperator(service, everyCapability))
    const response = await service.request('GET', '/api/tenants?limit=1000', { token: await service.token() })
    tenants = (response.body.items as Array<{ id: number; name: string }>).filter((tenant) => tenant.name !== DEMO_INVALID_TENANT_NAME)
  })

  afterAll(async () => {
    await service?.close()
  })

  it('renders the pin hidden and empty until a preflight, with "Allowed drift (%)" at 10', async () => {
    const page = await consoleRequest(service, 'GET', '/system/ops/runbooks', { cookies: admin.cookies })
    expect(page.status).toBe(200)
    expect(page.text).toContain('<div class="pin" data-pin="true" hidden="">')
    expect(page.text).toContain('<input type="hidden" name="preflightId" value="" data-pin-id="true"/>')
    expect(page.text).toContain('<label for="rb0-max-drift">Allowed drift (%)</label>')
    expect(page.text).toMatch(/<input type="number" id="rb0-max-drift" name="maxDriftPercent" min="0" max="100" step="any"[^>]* value="10"/)
    expect(page.text).not.toContain('<section class="drift-report"')
  })

  it('starts a run pinned to the preview when the data did not move: its context records the preview', async () => {
    const tenant = tenants[2]!
    const preview = await preflight({ scope: 'single_tenant', tenantId: tenant.id })
    const started = await start({ scope: 'single_tenant', tenant: `${tenant.name} (#${tenant.id})`, preflightId: preview.preflightId, maxDriftPercent: '0' })
    expect(started.status, started.text.slice(0, 500)).toBe(303)
    const runId = runIdFrom(started.headers.get('location'))
    const run = await service.request('GET', `/api/runs/${runId}`, { token: await service.token() })
    expect(run.status, run.text).toBe(200)
    expect(run.body.context.preflight).toMatchObject({ preflight_id: preview.preflightId, affected_count: preview.affectedCount })
    // Done before the next test counts events.
    await waitUntil(async () => runIsSettled((await getRun(service.sql, runId)) ?? undefined), `run ${runId} completed`)
  })

  it('answers a pinned start over moved data 409 with the drift report beside the kept form, appending nothing', async () => {
    const tenant = tenants[3]!
    const reference = `${tenant.name} (#${tenant.id})`
    const preview = await preflight({ scope: 'single_tenant', tenantId: tenant.id })
    await addLegacyFinding(tenant.id, 'console-drift-probe')
    const eventsBefore = await service.eventCount()
    const runsBefore = await runCount()

    const refused = await start({ scope: 'single_tenant', tenant: reference, preflightId: preview.preflightId, maxDriftPercent: '0' })
    expect(refused.status, refused.text.slice(0, 500)).toBe(409)
    expect(refused.headers.get('content-type')).toMatch(/^text\/html/)
    const report = driftReportOf(refused.text)
    expect(report, 'no drift report').not.toBeNull()
    const said = textOf(report!)
    expect(said).toContain('Nothing was started: the data changed since the pinned preview')
    expect(said).toContain(
      `Preview ${preview.preflightId} counted ${preview.affectedCount} affected findings; the start's own scan counts ${preview.affectedCount + 1} (+1`,
    )
    expect(said).toContain('allowed drift 0%')
    expect(said).toContain('Run the preflight again to see the new plan')
    expect(driftRowsOf(report!)).toEqual([[reference, String(preview.affectedCount), String(preview.affectedCount + 1), String(preview.totalCount), String(preview.totalCount + 1), 'No', 'No']])
    // Beside the form, which kept what was sent: the scope, the tenant, the pin and the tolerance.
    expect(refused.text.indexOf('<section class="drift-report"')).toBeLessThan(refused.text.indexOf('<form class="runbook"'))
    expect(refused.text).toContain('value="single_tenant" checked')
    expect(refused.text).toContain(`value="${reference}"`)
    expect(refused.text).toContain('<div class="pin" data-pin="true">')
    expect(refused.text).toContain(`<input type="hidden" name="preflightId" value="${preview.preflightId}" data-pin-id="true"/>`)
    expect(refused.text).toMatch(/name="maxDriftPercent"[^>]* value="0"/)
    expect(await service.eventCount()).toBe(eventsBefore)
    expect(await runCount()).toBe(runsBefore)

    // The same pin with a tolerance the move fits in: started.
    const accepted = await start({ scope: 'single_tenant', tenant: reference, preflightId: preview.preflightId, maxDriftPercent: '100' })
    expect(accepted.status, accepted.text.slice(0, 500)).toBe(303)
    const run = await service.request('GET', `/api/runs/${runIdFrom(accepted.headers.get('location'))}`, { token: await service.token() })
    expect(run.status, run.text).toBe(200)
    expect(run.body.context.preflight).toMatchObject({ preflight_id: preview.preflightId, affected_count: preview.affectedCount + 1 })
  })

  it('explains an unknown preview, a mismatched one and a bad tolerance beside the pin (422), starting nothing', async () => {
    const [first, second] = [tenants[4]!, tenants[5]!]
    const preview = await preflight({ scope: 'single_tenant', tenantId: first.id })
    const runsBefore = await runCount()
    const refusedWith = async (form: Record<string, string>): Promise<ConsoleResponse> => {
      const response = await start({ scope: 'single_tenant', tenant: `${first.name} (#${first.id})`, preflightId: preview.preflightId, ...form })
      expect(response.status, response.text.slice(0, 500)).toBe(422)
      expect(response.text).not.toContain('<section class="drift-report"')
      return response
    }

    const unknown = await refusedWith({ preflightId: '01JZZZZZZZZZZZZZZZZZZZZZZZ' })
    expect(fieldError(unknown.text, 'rb0-pin-error')).toBe('The pinned preview names no preview kept now (unknown, or older than 24 hours): preview again')
    expect(unknown.text).toContain('<div class="pin" data-pin="true">')

    const otherTenant = await refusedWith({ tenant: `${second.name} (#${second.id})` })
    expect(fieldError(otherTenant.text, 'rb0-pin-error')).toBe('The pinned preview is a preview of another scope or tenant')

    const notANumber = await refusedWith({ maxDriftPercent: 'ten' })
    expect(fieldError(notANumber.text, 'rb0-max-drift-error')).toBe('Allowed drift must be a number from 0 to 100')
    expect(notANumber.text).toMatch(/name="maxDriftPercent"[^>]* value="ten" data-drift-field="true" aria-invalid="true"/)

    const outOfRange = await refusedWith({ maxDriftPercent: '150' })
    expect(fieldError(outOfRange.text, 'rb0-max-drift-error')).toBe('Allowed drift must be a number from 0 to 100')
    expect(fieldError(outOfRange.text, 'rb0-pin-error')).toBe('')
    expect(await runCount()).toBe(runsBefore)
  })
})
